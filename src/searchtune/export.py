"""Export a run's model as a self-contained folder with a model card, and publish it to the hub."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import yaml

from .errors import SearchtuneError
from .files import write_text
from .models import model_kind
from .rundir import RunDir, trained_stats
from .system import FILE as SYSTEM_FILE
from .system import System


def _run_model(run: Path) -> Path:
    model = RunDir(run).model
    if not (model / "config.json").exists() and not (model / "modules.json").exists():
        raise SearchtuneError(f"{run} has no trained model (expected {model}); train it first with "
                              f"`searchtune pipeline --out {run}` or `searchtune train --out {run}`")
    return model


def model_card(run: Path) -> str:
    """README.md for the exported model: base model, data counts, config and the evaluation table.

    Ours rather than sentence-transformers' generated card: that one describes the training datasets and
    logs, this one the held-out comparison against BM25 and the untuned model that the run measured."""
    from .evaluation.markdown import comparison_table, labels_for

    rd = RunDir(run)
    model = _run_model(rd.root)
    report = json.loads(rd.report_json.read_text()) if rd.report_json.exists() else {}
    cfg_path = model / "searchtune_config.yaml"
    train_cfg = yaml.safe_load(cfg_path.read_text()) if cfg_path.exists() else {}
    stats = trained_stats(model) or {}
    base = train_cfg.get("model", "unknown")
    dense = model_kind(model) == "dense"
    tags = ["sentence-transformers", "dense-encoder" if dense else "sparse-encoder", *([] if dense else ["splade"]),
            "searchtune", "product-search"]
    front = {"library_name": "sentence-transformers", "pipeline_tag": "feature-extraction", "tags": tags,
             "base_model": base}
    if train_cfg.get("inference_free"):
        front["tags"].append("inference-free")
    cls = "SentenceTransformer" if dense else "SparseEncoder"
    lines = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "",
             f"# {'Dense' if dense else 'SPLADE'} model fine-tuned with searchtune from `{base}`", "",
             f"A {'dense' if dense else 'sparse (SPLADE)'} retrieval model fine-tuned on a product catalog's labelled "
             "queries. Load it with sentence-transformers:", "",
             "```python", f"from sentence_transformers import {cls}",
             f"model = {cls}(\"path/to/this/folder\")",
             "query = model.encode_query([\"cordless drill\"])",
             "docs = model.encode_document([\"DeWalt 20V MAX cordless drill kit\"])",
             "print(model.similarity(query, docs))", "```", ""]
    if train_cfg.get("inference_free"):
        lines += ["Inference-free: `encode_query` is a learned weight per vocabulary token (no transformer pass); "
                  "documents are encoded by the SPLADE model.", ""]
    if rd.has_reranker():
        choice = report.get("two_stage") or {}
        lines += ["## Reranker", "",
                  "`reranker/` holds the cross-encoder trained on the same catalog (sentence-transformers "
                  "`CrossEncoder`): search with this model, then rescore the top "
                  f"{choice.get('k', 'K')} products with it"
                  + (f", mixing in the first stage's score at weight {choice['weight']}" if choice.get("weight") else "")
                  + " (chosen on dev).", "",
                  "```python", "from sentence_transformers import CrossEncoder",
                  "reranker = CrossEncoder(\"path/to/this/folder/reranker\")",
                  "scores = reranker.predict([(\"cordless drill\", \"DeWalt 20V MAX cordless drill kit\")])", "```", ""]
    if report.get("recommendation") and (rd.root / SYSTEM_FILE).is_file():
        rec = report["recommendation"]
        lines += ["## The system to deploy", "", f"**{rec['label']}**: {rec['why']}. `system.json` names it: index the "
                  "catalog with this model (`searchtune index --model path/to/this/folder --collection products`), "
                  "then `searchtune search \"cordless drill\" --system path/to/this/folder` runs it.", ""]
    if report.get("metrics"):
        split = report.get("split", {})
        lines += ["## Evaluation", "",
                  f"Held-out test queries: {split.get('test_evaluated', '?')} (never trained on), full catalog "
                  f"searched through Qdrant; nDCG with linear gain.", "",
                  comparison_table(report["metrics"], report.get("change_vs_bm25_percent", {}),
                                   report.get("significance"), labels_for(report), report.get("ndcg@10_95ci"))]
    if report.get("counts"):
        lines += ["## Data", ""] + [f"- {k.replace('_', ' ')}: {v}" for k, v in report["counts"].items()] + [""]
    if stats:
        lines += ["## Training", "", "```json", json.dumps(stats, indent=1), "```", ""]
    if train_cfg:
        lines += ["## Config", "", "```yaml", yaml.safe_dump(train_cfg, sort_keys=False).strip(), "```", ""]
    return "\n".join(lines)


FORMATS = ("sentence-transformers", "onnx")


def export_model(run: str | Path, out: str | Path, *, overwrite: bool = False,
                 format: str = "sentence-transformers") -> Path:
    """Copy ``RUN/model`` to ``out`` with a model card; sentence-transformers loads ``out`` directly. ``format``
    "onnx" adds ``out/onnx/``: the document encoder and the reranker as ONNX graphs, checked against PyTorch."""
    if format not in FORMATS:
        raise SearchtuneError(f"--format {format!r} is not one of: {', '.join(FORMATS)}")
    run, out = Path(run), Path(out)
    rd = RunDir(run)
    model = _run_model(run)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise SearchtuneError(f"{out} exists and is not empty; choose another --out or pass --overwrite")
        shutil.rmtree(out)
    shutil.copytree(model, out, ignore=shutil.ignore_patterns("checkpoint-*"))
    if rd.has_reranker():  # the second stage travels with the first
        shutil.copytree(rd.reranker, out / "reranker", ignore=shutil.ignore_patterns("scores.jsonl"))
    system = exported(System.load(rd.root), out.resolve()) if rd.system.is_file() else None
    checks = None
    if format == "onnx":
        from .onnx_export import export_onnx

        checks = export_onnx(out, out, reranker_dir=out / "reranker" if rd.has_reranker() else None,
                             max_length=system.max_length if system else None)
    if system:  # the system the run recommends, pointing at the exported folders, and how to query it
        from .query_guide import export_query_table, write_guide

        system.save(out / SYSTEM_FILE)
        write_guide(system, out, table=export_query_table(out, out) is not None, onnx=checks)
    write_text(out / "README.md", model_card(run))
    if rd.report_json.exists():
        shutil.copy2(rd.report_json, out / "searchtune_report.json")
    return out


def exported(system: System, out: Path) -> System:
    """``system`` as it runs from an exported folder: the tuned model is ``out``, the reranker ``out/reranker``,
    and the collection is ``products`` in the default Qdrant folder, indexed by `searchtune index --model out`."""
    models = {v: str(out) if v.endswith("_tuned") else m for v, m in system.models.items()}
    reranker = dataclasses.replace(system.reranker, model=str(out / "reranker")) if system.reranker else None
    return dataclasses.replace(system, models=models, reranker=reranker, collection="products", data_dir=None)


def hub_token() -> str | None:
    """HF_TOKEN (or HUGGING_FACE_HUB_TOKEN) from the environment or the studio's ``.env``."""
    from .settings import read_env

    return (os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
            or read_env().get("HF_TOKEN"))


def publish(run: str | Path, repo: str, *, token: str | None = None, private: bool = True) -> str:
    """Export ``run`` and push it to the Hugging Face hub as ``repo``; return the repo URL."""
    import tempfile

    token = token or hub_token()
    if not token:
        raise SearchtuneError("no Hugging Face token: set HF_TOKEN in the environment or in the studio's "
                              "Settings (stored in ~/.searchtune/.env), then run publish again")
    if "/" not in repo:
        raise SearchtuneError(f"--repo must look like user/name, got '{repo}'")
    from .models import load_encoder

    with tempfile.TemporaryDirectory() as tmp:
        folder = export_model(run, Path(tmp) / "model")
        try:  # sentence-transformers' own push_to_hub, uploading the exported folder (our model card kept)
            load_encoder(folder).push_to_hub(repo, token=token, private=private, local_model_path=str(folder),
                                             exist_ok=True, commit_message="Upload searchtune model")
        except Exception as exc:  # network down, bad token, no permission: say which, never a traceback
            kind = type(exc).__name__
            hint = ("the hub could not be reached (no network here?)" if "Connect" in kind or "Timeout" in kind
                    or "connect" in str(exc).lower() else "the hub refused the upload (check the token's write "
                    "permission and the repo name)")
            raise SearchtuneError(f"publish to {repo} failed: {hint}: {kind}: {str(exc).splitlines()[0][:200]}. "
                                  f"The model was not published; `searchtune export` writes it locally") from None
    return f"https://huggingface.co/{repo}"

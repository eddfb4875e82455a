"""Export a run's model as a self-contained folder with a model card, and publish it to the hub."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import yaml

from .errors import SearchtuneError


def _run_model(run: Path) -> Path:
    model = run / "model"
    if not (model / "config.json").exists() and not (model / "modules.json").exists():
        raise SearchtuneError(f"{run} has no trained model (expected {model}); train it first with "
                              f"`searchtune pipeline --out {run}` or `searchtune train --out {run}`")
    return model


def model_card(run: Path) -> str:
    """README.md for the exported model: base model, data counts, config and the evaluation table.

    Ours rather than sentence-transformers' generated card: that one describes the training datasets and
    logs, this one the held-out comparison against BM25 and the untuned model that the run measured."""
    from .evaluation.report import comparison_table, labels_for

    run = Path(run)
    model = _run_model(run)
    report = json.loads((run / "report.json").read_text()) if (run / "report.json").exists() else {}
    cfg_path = model / "searchtune_config.yaml"
    train_cfg = yaml.safe_load(cfg_path.read_text()) if cfg_path.exists() else {}
    stats_path = model / "training_stats.json"
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    base = train_cfg.get("model", "unknown")
    front = {"library_name": "sentence-transformers", "pipeline_tag": "feature-extraction",
             "tags": ["sentence-transformers", "sparse-encoder", "splade", "searchtune", "product-search"],
             "base_model": base}
    if train_cfg.get("inference_free"):
        front["tags"].append("inference-free")
    lines = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "",
             f"# SPLADE model fine-tuned with searchtune from `{base}`", "",
             "A sparse (SPLADE) retrieval model fine-tuned on a product catalog's labelled queries. "
             "Load it with sentence-transformers:", "",
             "```python", "from sentence_transformers import SparseEncoder",
             "model = SparseEncoder(\"path/to/this/folder\")",
             "query = model.encode_query([\"cordless drill\"])",
             "docs = model.encode_document([\"DeWalt 20V MAX cordless drill kit\"])",
             "print(model.similarity(query, docs))", "```", ""]
    if train_cfg.get("inference_free"):
        lines += ["Inference-free: `encode_query` is a learned weight per vocabulary token (no transformer pass); "
                  "documents are encoded by the SPLADE model.", ""]
    if (run / "reranker" / "config.json").is_file():
        choice = report.get("two_stage") or {}
        lines += ["## Reranker", "",
                  "`reranker/` holds the cross-encoder trained on the same catalog (sentence-transformers "
                  "`CrossEncoder`): search with this model, then rescore the top "
                  f"{choice.get('k', 'K')} products with it"
                  + (f", mixing in the first stage's score at weight {choice['weight']}" if choice.get("weight") else "")
                  + " (chosen on dev; `reranker/stages.json`).", "",
                  "```python", "from sentence_transformers import CrossEncoder",
                  "reranker = CrossEncoder(\"path/to/this/folder/reranker\")",
                  "scores = reranker.predict([(\"cordless drill\", \"DeWalt 20V MAX cordless drill kit\")])", "```", ""]
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


def export_model(run: str | Path, out: str | Path, *, overwrite: bool = False) -> Path:
    """Copy ``RUN/model`` to ``out`` with a model card; sentence-transformers loads ``out`` directly."""
    run, out = Path(run), Path(out)
    model = _run_model(run)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise SearchtuneError(f"{out} exists and is not empty; choose another --out or pass --overwrite")
        shutil.rmtree(out)
    shutil.copytree(model, out, ignore=shutil.ignore_patterns("checkpoint-*"))
    if (run / "reranker" / "config.json").is_file():  # the second stage travels with the first
        shutil.copytree(run / "reranker", out / "reranker", ignore=shutil.ignore_patterns("scores.jsonl"))
    (out / "README.md").write_text(model_card(run))
    if (run / "report.json").exists():
        shutil.copy2(run / "report.json", out / "searchtune_report.json")
    return out


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

"""``pipeline``, ``train`` and ``evaluate``: the jobs that work in a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..config import Config
from ..errors import SearchtuneError
from .app import app
from .options import command_line, config_command, out_console

TRAINING = ("data", "train", "mine", "generate", "index", "rerank", "events")
Out = Annotated[Path, typer.Option("--out", help="Run directory.")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue an interrupted run in --out.")]
LLMKey = Annotated[str | None, typer.Option(help="LLM API key (else from the provider's variable, "
                                                  "SEARCHTUNE_LLM_API_KEY or the .env file).")]


def print_metrics(report: dict) -> None:
    from ..report import labels_for, marks, verdict

    metrics, changes = report["metrics"], report["change_vs_bm25_percent"]
    table = Table(title=f"Held-out test queries ({report['split'].get('test_evaluated')})")
    table.add_column("system")
    cols = ["ndcg@10", "mrr@10", "recall@10", "recall@100", "precision@10"]
    for c in cols:
        table.add_column(c.replace("precision", "P").replace("recall", "R"), justify="right")
    table.add_column("nDCG@10 95% CI", justify="right")
    table.add_column("vs BM25", justify="right")
    intervals = report.get("ndcg@10_95ci") or {}
    for name, m in metrics.items():
        delta = changes.get(name, {}).get("ndcg@10")
        ci = intervals.get(name)
        table.add_row(labels_for(report, short=True).get(name, name) + marks(report.get("significance"), name),
                      *[f"{m.get(c, float('nan')):.4f}" for c in cols],
                      "—" if ci is None else f"{ci[0]:.2f}–{ci[1]:.2f}", "—" if delta is None else f"{delta:+.1f}%")
    out_console.print(table)
    if report.get("significance"):
        out_console.print("† differs significantly from BM25, ‡ from the untuned model (paired t-test, p < 0.05)")
    line = verdict(report)
    if line:
        out_console.print(line)
    judged = report.get("judged_metrics")
    if judged:  # --events with human judgments: their test queries too
        ref = judged.get("bm25", {}).get("ndcg@10")
        out_console.print(f"human-judged test queries ({report['events']['judged_test_queries']}): " + ", ".join(
            f"{labels_for(report, short=True).get(n, n)} {m['ndcg@10']:.4f}"
            + (f" ({100 * (m['ndcg@10'] - ref) / ref:+.1f}%)" if ref and n != "bm25" else "")
            for n, m in judged.items()))
    rec = report.get("recommendation")
    if rec:
        test = (rec.get("test") or {}).get("ndcg@10")
        out_console.print(f"deploy: {rec['label']} — {rec['why']}" + (f"; test nDCG@10 {test:.4f}" if test else ""))


@config_command(app, "pipeline", sections=TRAINING, job="pipeline", run_dir="out")
def pipeline(config: Config, out: Out, resume: Resume = False, llm_api_key: LLMKey = None, quiet: bool = False):
    """Load → split → BM25 baselines → fine-tune → index → evaluate → report, in one run directory.

    With a catalog and no queries, synthetic queries are generated first (--llm, else the offline generator) and
    the split is by product. With real queries and --llm or --synthetic-queries, the model trains on synthetic
    queries and is evaluated on the real held-out ones; with fewer real training queries than --augment-below,
    synthetic ones are added beside them. The log starts with what was read (see `searchtune inspect`)."""
    from ..pipeline import Pipeline

    report = Pipeline(config, out, resume=resume, progress=not quiet, command=command_line(),
                      llm_api_key=llm_api_key).run()
    print_metrics(report)
    out_console.print(f"report: {out / 'report.md'}   model: {out / 'model'}")
    return {"metrics": report["metrics"], "artifacts": {"run": str(out), "model": str(out / "model"),
                                                        "report": str(out / "report.md")}}


@config_command(app, "train", sections=TRAINING, job="train", run_dir="out")
def train(config: Config, out: Out, resume: Resume = False, llm_api_key: LLMKey = None, quiet: bool = False):
    """Fine-tune a model on the training queries (dev and test queries are held out); synthetic queries as in
    `pipeline` when the data has none, or with --llm / --synthetic-queries."""
    from ..pipeline import Pipeline

    p = Pipeline(config, out, resume=resume, progress=not quiet, command=command_line(), llm_api_key=llm_api_key)
    p.split(augment=True)
    p.check_trainable()
    path = p.train()
    out_console.print(f"model: {path}")
    return {"artifacts": {"run": str(out), "model": str(path)}}


@config_command(app, "train-reranker", sections=("data", "rerank", "index"), job="train-reranker",
                run_dir="out", default_config=lambda own: _run_config(own))
def train_reranker(
    config: Config, out: Out,
    model: Annotated[str | None, typer.Option("--model", help="The tuned first stage whose hybrid with BM25 mines "
                                                             "the negatives (default: OUT/model; none: BM25).")] = None,
    resume: Resume = False, quiet: bool = False,
):
    """Train a cross-encoder reranker (--reranker-model, minilm by default) on the training queries' judged pairs
    plus negatives mined by the first stage; saved to OUT/reranker. Dev and test queries are never used."""
    from ..models import trained_config
    from ..pipeline import Pipeline
    from ..two_stage import TwoStage

    if (out / "reranker" / "training_stats.json").exists() and not resume:
        raise SearchtuneError(f"{out / 'reranker'} holds a trained reranker; pass --resume to keep it, or remove "
                              "that folder to train another")
    tuned = model or (str(out / "model") if (out / "model").is_dir() else None)
    p = Pipeline(config, out, resume=True, progress=not quiet, command=command_line(), check_config=False)
    p.split()
    stage = TwoStage(p, None)
    if tuned:
        p.max_length = (trained_config(tuned) or {}).get("max_seq_length") or p.max_length
        stage = TwoStage(p, tuned)
        p.evaluate_model("finetuned", tuned)  # its collection (with BM25) serves the hybrid that mines
        stage.hybrid()
    path = stage.train_reranker()
    out_console.print(f"reranker: {path} ({p.reranker_training['pairs']:,} pairs, "
                      f"{p.reranker_training['seconds']:.0f}s); evaluate it with `searchtune evaluate --out {out}`")
    return {"artifacts": {"run": str(out), "reranker": str(path)}}


def _run_config(own: dict) -> Path | None:
    path = own["out"] / "config.yaml"
    return path if path.exists() else None


@config_command(app, "evaluate", sections=("data", "index"), job="evaluate", run_dir="out", default_config=_run_config)
def evaluate(
    config: Config, out: Out,
    model: Annotated[str | None, typer.Option("--model", help="The tuned model to evaluate (default: OUT/model).")] = None,
    base_model: Annotated[str | None, typer.Option(help="The untuned model to compare with (default: the run's "
                                                        "base model).")] = None,
    dense_model: Annotated[str | None, typer.Option(help="A tuned dense model: adds dense and hybrid systems.")] = None,
    dense_base: Annotated[str | None, typer.Option(help="The untuned dense model (default minilm with "
                                                        "--dense-model).")] = None,
    systems: Annotated[str | None, typer.Option(help="Comma list of systems (default: all the given models allow): "
                                                     "bm25-qdrant, sparse-base, sparse-tuned, dense-base, dense-tuned, "
                                                     "hybrid-base, hybrid-tuned, hybrid-tuned-both, hybrid-tuned-bm25.")] = None,
    fusion: Annotated[str, typer.Option(help="Hybrid fusion in Qdrant: rrf or dbsf.")] = "rrf",
    weights: Annotated[str | None, typer.Option(help="RRF weights per list, e.g. 1,2 (sparse, dense).")] = None,
    matryoshka: Annotated[str | None, typer.Option(help="Also evaluate the tuned dense model cut to these sizes, "
                                                        "e.g. 384,256,128,64 (default: the sizes it was trained "
                                                        "with).")] = None,
    reranker: Annotated[str | None, typer.Option("--reranker", help="A trained reranker on top of every first "
                                                                    "stage (default: OUT/reranker when there is "
                                                                    "one).")] = None,
    quiet: bool = False,
):
    """Compare BM25, the untuned model and a tuned model on the held-out test queries; write the report."""
    from ..config import parse_sizes
    from ..evaluate import compare_systems
    from ..index.collection import Models
    from ..matryoshka import evaluate_sizes
    from ..models import model_kind, trained_config
    from ..pipeline import Pipeline

    if base_model:
        config.train.model = base_model
    tuned = model or (str(out / "model") if (out / "model").is_dir() else None)
    p = Pipeline(config, out, resume=True, progress=not quiet, command=command_line(), check_config=False)
    if dense_model or dense_base or systems:
        try:
            w = [float(x) for x in weights.split(",")] if weights else None
        except ValueError:
            raise SearchtuneError(f"--weights must be numbers like 1,2, got '{weights}'") from None
        models = Models(sparse_base=config.train.model, sparse_tuned=tuned, dense_base=dense_base or "minilm",
                        dense_tuned=dense_model)
        p.split()
        p.baselines()
        compare_systems(p, models, systems=[x.strip() for x in systems.split(",")] if systems else None,
                        fusion=fusion, weights=w)
    else:
        reranker = reranker or (str(out / "reranker") if (out / "reranker" / "config.json").is_file() else None)
        p.run(train=False, model=tuned, reranker=reranker)
    dense = dense_model or tuned
    if dense and model_kind(dense) == "dense":
        dims = parse_sizes(matryoshka) if matryoshka else (trained_config(dense) or {}).get("matryoshka_dims") or []
        if dims:
            evaluate_sizes(p, dense, dims)
    elif matryoshka:
        raise SearchtuneError("--matryoshka needs a dense model (--dense-model, or a dense --model)")
    report = p.report()
    print_metrics(report)
    out_console.print(f"report: {out / 'report.md'}")
    return {"metrics": report["metrics"], "artifacts": {"run": str(out), "report": str(out / "report.md")}}

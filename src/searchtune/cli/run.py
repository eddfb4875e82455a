"""``pipeline``, ``train`` and ``evaluate``: the jobs that work in a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..config import Config
from ..errors import SearchtuneError
from ..rundir import RunDir
from .app import MAIN, STEPS, app
from .options import command_line, config_command, out_console, run_job, setup_logging

TRAINING = ("data", "train", "mine", "generate", "index", "events")  # pipeline adds rerank
Out = Annotated[Path, typer.Option("--out", help="Run directory.")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue an interrupted run in --out.")]
LLMKey = Annotated[str | None, typer.Option(help="LLM API key (else from the provider's variable, "
                                                  "SEARCHTUNE_LLM_API_KEY or the .env file).")]


def print_metrics(report: dict) -> None:
    from ..evaluation.markdown import labels_for, marks, verdict

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
        if rec.get("test_disagrees"):
            out_console.print(rec["test_disagrees"])


@config_command(app, "pipeline", sections=(*TRAINING, "rerank"), job="pipeline", run_dir="out", panel=MAIN,
                models=True)
def pipeline(config: Config, out: Out, resume: Resume = False, llm_api_key: LLMKey = None, quiet: bool = False):
    """Load → split → BM25 baselines → fine-tune → index → evaluate → report, in one run directory.

    With a catalog and no queries, synthetic queries are generated first (--llm, else the offline generator) and
    the split is by product. With real queries and --llm or --synthetic-queries, the model trains on synthetic
    queries and is evaluated on the real held-out ones; with fewer real training queries than --augment-below,
    synthetic ones are added beside them. The log starts with what was read (see `searchtune inspect`)."""
    from ..distributed import world_size
    from ..pipeline import Pipeline

    if world_size() > 1:
        raise SearchtuneError("pipeline runs in one process. Under torchrun or accelerate launch run `searchtune "
                              "train --out RUN`, then `searchtune pipeline --out RUN --resume` in one process: it "
                              "evaluates the trained model without training again")
    report = Pipeline(config, out, resume=resume, progress=not quiet, command=command_line(),
                      llm_api_key=llm_api_key).run()
    print_metrics(report)
    run = RunDir(out)
    out_console.print(f"report: {run.report_md}   model: {run.model}" + (
        f"   system: searchtune search QUERY --system {out}" if run.system.is_file() else ""))
    return {"metrics": report["metrics"], "artifacts": {"run": str(out), "model": str(run.model),
                                                        "report": str(run.report_md), "system": str(run.system)}}


@config_command(app, "train", sections=TRAINING, job="train", run_dir="out", panel=STEPS, models=True)
def train(config: Config, out: Out, resume: Resume = False, llm_api_key: LLMKey = None, quiet: bool = False):
    """Fine-tune a model on the training queries (dev and test queries are held out); synthetic queries as in
    `pipeline` when the data has none, or with --llm / --synthetic-queries."""
    from ..distributed import is_main, main_first, world_size
    from ..pipeline import Pipeline

    if world_size() > 1 and config.mine.source not in ("judged", "none"):
        raise SearchtuneError("mined negatives (--negatives model/bm25) index and search between rounds, which "
                              "runs in one process: mine with `searchtune mine` first and train on the file "
                              "(--negatives-file) under torchrun, or train in one process")
    with main_first():  # rank 0 claims the run and prepares the data; the others then read it
        p = Pipeline(config, out, resume=resume, progress=not quiet and is_main(), command=command_line(),
                     llm_api_key=llm_api_key)
        prepared = p.split(augment=True)
    trained = p.train(prepared)
    if is_main():
        out_console.print(f"model: {trained.model}")
    return {"artifacts": {"run": str(out), "model": str(trained.model)}}


@config_command(app, "train-reranker", sections=("data", "rerank", "index"), job="train-reranker",
                run_dir="out", default_config=lambda own: _run_config(own), panel=STEPS, models=True)
def train_reranker(
    config: Config, out: Out,
    first_stage: Annotated[str | None, typer.Option(
        "--first-stage", help="The tuned first stage whose hybrid with BM25 mines the negatives (default: OUT/model; "
                              "none: BM25).")] = None,
    resume: Resume = False, quiet: bool = False,
):
    """Train a cross-encoder reranker (--reranker-model, minilm by default) on the training queries' judged pairs
    plus negatives mined by the first stage; saved to OUT/reranker. Dev and test queries are never used."""
    from ..evaluation.systems import evaluate_model
    from ..evaluation.two_stage import FirstStages, hybrid
    from ..models import trained_config
    from ..pipeline import Pipeline
    from ..rundir import RunDir

    run = RunDir(out)
    if run.has_reranker() and not resume:
        raise SearchtuneError(f"{run.reranker} holds a trained reranker; pass --resume to keep it, or remove "
                              "that folder to train another")
    tuned = first_stage or (str(run.model) if run.model.is_dir() else None)
    p = Pipeline(config, out, resume=True, progress=not quiet, command=command_line(), check_config=False)
    prepared = p.split()
    first = None
    if tuned:
        bench = p.bench(prepared, (trained_config(tuned) or {}).get("max_seq_length"))
        # its collection (with BM25) serves the hybrid that mines
        evaluate_model(bench, "finetuned", tuned, kind=config.train.kind)
        first = FirstStages(bench, tuned, kind=config.train.kind)
        hybrid(first)
    else:
        bench = p.bench(prepared)
    path, stats = p.train_reranker(bench, first)
    out_console.print(f"reranker: {path} ({stats['pairs']:,} pairs, {stats['seconds']:.0f}s); evaluate it with "
                      f"`searchtune evaluate --out {out}`")
    return {"artifacts": {"run": str(out), "reranker": str(path)}}


def _run_config(own: dict) -> Path | None:
    path = RunDir(own["out"]).config
    return path if path.exists() else None


@config_command(app, "evaluate", sections=("data", "index"), job="evaluate", run_dir="out", default_config=_run_config,
                panel=STEPS, models=True)
def evaluate(
    config: Config, out: Out,
    tuned_model: Annotated[str | None, typer.Option("--tuned-model", help="The tuned model to evaluate (default: "
                                                                          "OUT/model).")] = None,
    base_model: Annotated[str | None, typer.Option(help="The untuned model to compare with (default: the run's "
                                                        "base model).")] = None,
    tuned_dense: Annotated[str | None, typer.Option(help="A tuned dense model: adds dense and hybrid systems.")] = None,
    base_dense: Annotated[str | None, typer.Option(help="The untuned dense model (default minilm with "
                                                        "--tuned-dense).")] = None,
    systems: Annotated[str | None, typer.Option(help="Comma list of systems (default: all the given models allow): "
                                                     "bm25-qdrant, sparse-base, sparse-tuned, dense-base, dense-tuned, "
                                                     "hybrid-base, hybrid-tuned, hybrid-tuned-both, hybrid-tuned-bm25.")] = None,
    fusion: Annotated[str, typer.Option(help="Hybrid fusion in Qdrant: rrf or dbsf.")] = "rrf",
    fusion_weights: Annotated[str | None, typer.Option(help="RRF weights per list, e.g. 1,2 (sparse, dense).")] = None,
    matryoshka: Annotated[str | None, typer.Option(help="Also evaluate the tuned dense model cut to these sizes, "
                                                        "e.g. 384,256,128,64 (default: the sizes it was trained "
                                                        "with).")] = None,
    reranker: Annotated[str | None, typer.Option("--reranker", help="A trained reranker on top of every first "
                                                                    "stage (default: OUT/reranker when there is "
                                                                    "one).")] = None,
    system: Annotated[Path | None, typer.Option(help="A search system (a run directory or a system.json): measure "
                                                     "it as it runs, beside BM25, on OUT's held-out queries.")] = None,
    quiet: bool = False,
):
    """Compare BM25, the untuned model and a tuned model (or a search system, --system) on the held-out test
    queries; write the report."""
    from ..config import parse_sizes
    from ..evaluation import systems as measure
    from ..evaluation.matryoshka import evaluate_sizes
    from ..evaluation.report import write_report
    from ..index.collection import Models
    from ..models import model_kind, trained_config
    from ..pipeline import Pipeline
    from ..rundir import RunDir

    run = RunDir(out)
    if base_model:
        config.train.model = base_model
    tuned = tuned_model or (str(run.model) if run.model.is_dir() else None)
    p = Pipeline(config, out, resume=True, progress=not quiet, command=command_line(), check_config=False)
    dense = tuned_dense or tuned
    dims = []
    if dense and model_kind(dense, declared=config.train.kind) == "dense":
        dims = parse_sizes(matryoshka) if matryoshka else (trained_config(dense) or {}).get("matryoshka_dims") or []
    elif matryoshka:
        raise SearchtuneError("--matryoshka needs a dense model (--tuned-dense, or a dense --tuned-model)")
    if system is not None:
        from ..system import System

        chosen = System.load(system)
        prepared = p.split()
        bench = p.bench(prepared, chosen.max_length)
        results = p.results(prepared)
        for name, measured in measure.baselines(bench).items():
            results.add(name, measured)
        results.add("system", measure.measure_system(bench, chosen))
        results.system = chosen.to_dict()
        results.save(run.results)
        report = write_report(run, results)
    elif not (tuned_dense or base_dense or systems):
        reranker = reranker or (str(run.reranker) if run.has_reranker() else None)
        report = p.run(train=False, model=tuned, reranker=reranker, matryoshka=dims)
    else:
        try:
            w = [float(x) for x in fusion_weights.split(",")] if fusion_weights else None
        except ValueError:
            raise SearchtuneError(f"--fusion-weights must be numbers like 1,2, got '{fusion_weights}'") from None
        models = Models(sparse_base=config.train.model, sparse_tuned=tuned, dense_base=base_dense or "minilm",
                        dense_tuned=tuned_dense)
        prepared = p.split()
        bench = p.bench(prepared)
        results = p.results(prepared)
        for name, measured in measure.baselines(bench).items():
            results.add(name, measured)
        results.systems.update(measure.compare_systems(
            bench, models, systems=[x.strip() for x in systems.split(",")] if systems else None, fusion=fusion,
            weights=w))
        if dims:
            results.systems.update(evaluate_sizes(bench, dense, dims))
        best = measure.best_single(results.systems)
        results.significance = {**measure.against_references(results.systems, (best,)), "best_single": best}
        results.fusion = {"method": fusion, "weights": w, "rrf_k": 60}
        results.save(run.results)
        report = write_report(run, results)
    print_metrics(report)
    out_console.print(f"report: {run.report_md}")
    return {"metrics": report["metrics"], "artifacts": {"run": str(out), "report": str(run.report_md)}}


@app.command("report", rich_help_panel=MAIN)
def report(out: Annotated[Path, typer.Option("--out", help="A finished run directory.")]):
    """Write report.md and report.json again from a finished run's results.json (e.g. after an upgrade)."""
    setup_logging()

    def body():
        from ..evaluation.report import write_report
        from ..rundir import RunDir

        run = RunDir(out)
        print_metrics(write_report(run))
        out_console.print(f"report: {run.report_md}")

    run_job(body)


@app.command("diff", rich_help_panel=STEPS)
def diff(
    before: Annotated[Path, typer.Argument(help="The earlier run (its results.json).")],
    after: Annotated[Path, typer.Argument(help="The later run.")],
    fail_on_drop: Annotated[float | None, typer.Option(help="Exit with status 1 when a system's test nDCG@10, on all "
                                                           "the test queries or on a segment of them, drops "
                                                           "significantly by more than this (e.g. 0.01).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
):
    """Compare two runs system by system, and segment by segment, on the test queries both scored: the change
    of nDCG@10 with a 95% interval; with --fail-on-drop, a regression gate for CI (exit 1 when a system, or a
    segment, drops beyond noise)."""
    setup_logging()

    def body():
        import json

        from ..evaluation.diff import diff_runs, gate
        from ..evaluation.results import Results
        from ..rundir import RunDir

        result = diff_runs(Results.load(RunDir(before).results), Results.load(RunDir(after).results))
        if not result["systems"]:
            raise SearchtuneError(f"{before} and {after} have no system scored on common test queries")
        failed = gate(result, fail_on_drop) if fail_on_drop is not None else []
        if json_out:
            out_console.print_json(json.dumps({**result, "failed": failed}))
        else:
            table = Table(title=f"test nDCG@10: {before} → {after}")
            for c, j in (("system", "left"), ("before", "right"), ("after", "right"), ("change", "right"),
                         ("95% CI", "right"), ("queries", "right"), ("", "left")):
                table.add_column(c, justify=j)
            for name, s in result["systems"].items():
                for label, c in ((name, s), *((f"  {seg}", c) for seg, c in s.get("segments", {}).items())):
                    mark = "dropped" if c["dropped"] else "rose" if c["rose"] else "within noise"
                    table.add_row(label, f"{c['before']:.4f}", f"{c['after']:.4f}", f"{c['change']:+.4f}",
                                  f"{c['ci95'][0]:+.3f}–{c['ci95'][1]:+.3f}", str(c["queries"]), mark)
            out_console.print(table)
        if failed:
            out_console.print(f"gate failed: {', '.join(failed)} dropped by more than {fail_on_drop} beyond noise")
            raise typer.Exit(1)

    run_job(body)

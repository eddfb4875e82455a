"""``generate-queries``, ``export``, ``average``, ``publish``, ``studio``, ``jobs``, ``inspect`` and ``explain``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..config import Config
from ..device import use as use_device
from ..errors import SearchtuneError
from .app import MAIN, SEARCH, STEPS, TOOLS, app
from .options import Device, config_command, out_console, run_job, setup_logging


@config_command(app, "generate-queries", sections=("data", "generate"), job="generate", panel=STEPS,
)
def generate_queries(
    config: Config,
    out: Annotated[Path, typer.Option("--out", help="queries.jsonl to write (stats go to queries.stats.json).")],
    llm_api_key: Annotated[str | None, typer.Option(help="LLM API key (else from the provider's variable, "
                                                         "SEARCHTUNE_LLM_API_KEY or the .env file).")] = None,
    retry_failed: Annotated[bool, typer.Option(help="Ask again for products whose answers were malformed.")] = False,
    quiet: bool = False,
):
    """Write shopper-like queries for catalog products (an LLM, or the offline generator without --llm).

    Answers are cached per model, prompt version and product, so a rerun or a crashed run pays nothing twice."""
    import json

    from ..data import load_data
    from ..synthetic import generate, write_queries

    if config.data.data is None and config.data.catalog is None:
        raise SearchtuneError("no catalog given: pass --data FILE or --catalog FILE")
    data = load_data(config.data)
    g = config.generate
    records, stats = generate(data.products, llm=g.llm, per_product=g.per_product, max_products=g.max_products,
                              seed=g.seed, concurrency=g.concurrency, timeout=g.timeout, max_retries=g.max_retries,
                              parse_retries=g.parse_retries, threads=g.threads, base_url=g.base_url,
                              api_key=llm_api_key, cache_path=g.cache, retry_failed=retry_failed,
                              price_input=g.price_input, price_output=g.price_output, progress=not quiet,
                              language=data.language)
    write_queries(out, records, stats)
    out_console.print(json.dumps(stats, indent=1))
    out_console.print(f"{len(records)} queries for {stats.get('products_with_queries')} products: {out}")
    return {"metrics": {k: v for k, v in stats.items() if isinstance(v, (int, float))},
            "artifacts": {"queries": str(out)}}


@app.command(rich_help_panel=SEARCH)
def export(
    run: Annotated[Path, typer.Argument(help="Run directory (with model/ and report.json).")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the model to.")],
    overwrite: Annotated[bool, typer.Option(help="Replace --out if it exists.")] = False,
    format: Annotated[str, typer.Option("--format", help="sentence-transformers (the model folder), or onnx: the "
                                        "folder plus onnx/ (the encoder and reranker as ONNX graphs, checked "
                                        "against PyTorch).")] = "sentence-transformers",
) -> None:
    """Write a self-contained model folder with a model card; sentence-transformers loads it directly."""
    setup_logging()

    def body():
        from ..export import export_model

        path = export_model(run, out, overwrite=overwrite, format=format)
        out_console.print(f"exported {run} to {path} (load it with SparseEncoder('{path}'))")
        if format == "onnx":
            import json

            checks = json.loads((path / "onnx" / "parity.json").read_text())
            out_console.print("ONNX graphs in " + str(path / "onnx") + ": " + "; ".join(
                f"{name} matches PyTorch within {c['max_abs_diff']:.1e} on {c['texts']} texts"
                for name, c in checks.items()))
        return {"artifacts": {"model": str(path)}}

    run_job(body, "export", run)


@app.command(rich_help_panel=STEPS)
def average(
    models: Annotated[list[str], typer.Argument(help="Models fine-tuned from the same base (folders).")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the averaged model to.")],
    weights: Annotated[str | None, typer.Option(help="Comma-separated weights, one per model (default equal).")] = None,
) -> None:
    """Average the weights of fine-tuned models (a model soup); `evaluate --tuned-model OUT` tells whether it helps.
    Inside a run, `pipeline --negatives ance --soup` does this greedily and keeps a soup only if dev rises."""
    setup_logging()

    def body():
        from ..train.soup import average_models

        try:
            w = [float(x) for x in weights.split(",")] if weights else None
        except ValueError:
            raise SearchtuneError(f"--weights must be numbers like 0.5,0.5, got '{weights}'") from None
        path = average_models(models, out, weights=w)
        out_console.print(f"averaged {len(models)} models into {path}")
        return {"artifacts": {"model": str(path)}}

    run_job(body, "average", out)


@app.command(rich_help_panel=SEARCH)
def publish(
    run: Annotated[Path, typer.Argument(help="Run directory (with model/ and report.json).")],
    repo: Annotated[str, typer.Option("--repo", help="Hub repository, user/name.")],
    public: Annotated[bool, typer.Option(help="Make the repository public (default private).")] = False,
) -> None:
    """Push the exported model to the Hugging Face hub (needs HF_TOKEN and network)."""
    setup_logging()

    def body():
        from ..export import publish as push

        url = push(run, repo, private=not public)
        out_console.print(f"published: {url}")
        return {"artifacts": {"url": url}}

    run_job(body, "publish", run)


jobs_app = typer.Typer(help="The job history: every pipeline, train, train-reranker, evaluate, index, mine, "
                            "generate-queries, average, export, publish, train-multi and matrix run.",
                       no_args_is_help=True)
app.add_typer(jobs_app, name="jobs", rich_help_panel=TOOLS)


@jobs_app.command("list")
def jobs_list(
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 30,
) -> None:
    """List recent jobs."""
    def body():
        import datetime

        from ..jobs import JobStore

        table = Table(title="jobs")
        for c in ("id", "kind", "status", "origin", "created", "error"):
            table.add_column(c)
        for j in JobStore().list(status=status, kind=kind, limit=limit):
            created = datetime.datetime.fromtimestamp(j.created_at).strftime("%Y-%m-%d %H:%M:%S")
            table.add_row(j.id, j.kind, j.status, j.origin, created, (j.error or "")[:60])
        out_console.print(table)

    run_job(body)


@jobs_app.command("show")
def jobs_show(job_id: Annotated[str, typer.Argument(help="Job id.")],
              log: Annotated[bool, typer.Option(help="Print the log too.")] = False) -> None:
    """Show one job: config, metrics, artifacts (and log)."""
    def body():
        import json as _json

        from ..jobs import JobStore

        store = JobStore()
        store.reconcile()
        job = store.get(job_id)
        out_console.print_json(_json.dumps(job.to_dict(), default=str))
        if log:
            out_console.print(store.log(job_id)[0], markup=False, highlight=False)

    run_job(body)


@jobs_app.command("cancel")
def jobs_cancel(job_id: Annotated[str, typer.Argument(help="Job id.")]) -> None:
    """Cancel a queued or running job (its process gets SIGTERM; rerun with --resume to continue)."""
    def body():
        from ..jobs import JobStore

        job = JobStore().cancel(job_id)
        out_console.print(f"job {job.id}: {job.status}")

    run_job(body)


@app.command(rich_help_panel=TOOLS)
def studio(
    host: Annotated[str, typer.Option(help="Address to bind; anything but 127.0.0.1 needs --token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8765,
    token: Annotated[str | None, typer.Option(help="Token every request must carry.",
                                                 envvar="SEARCHTUNE_STUDIO_TOKEN")] = None,
    data_root: Annotated[list[Path] | None, typer.Option(help="Folder data files may come from (repeatable; "
                                                                 "default: the current folder).")] = None,
    runs_dir: Annotated[Path, typer.Option(help="Folder runs are written to.")] = Path("runs"),
    allowed_host: Annotated[list[str] | None, typer.Option(help="Another name or address the studio is reached "
                                                                "by (repeatable; the bound address and this "
                                                                "machine's names are allowed already).")] = None,
) -> None:
    """Start the local web dashboard (train, evaluate, search, collections, events, jobs, settings)."""
    setup_logging()

    def body():
        from ..studio import serve

        url = f"http://{host}:{port}/" + (f"?token={token}" if token else "")
        out_console.print(f"searchtune studio on {url}  (Ctrl-C to stop)")
        serve(host=host, port=port, token=token, data_roots=data_root or [Path.cwd()], runs_dir=runs_dir,
              allowed_hosts=allowed_host or [])

    run_job(body)


@config_command(app, "inspect", sections=("data",), panel=MAIN)
def inspect_data(
    config: Config,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (columns, label_scale, counts, "
                                                         "sample_texts, warnings, ...).")] = False,
):
    """Show what searchtune will use from the files, before any long step: format and encoding, the column
    chosen for each role and how, the label scale, counts, three product texts as the model reads them, and
    warnings."""
    import json
    import logging

    from rich.markup import escape

    from ..data import load_data
    from ..data.preview import preview

    logging.getLogger("searchtune").setLevel(logging.ERROR)  # the warnings are part of what is printed
    strict = config.data.duplicate_products == "error"
    config.data.duplicate_products = "first"  # show every duplicate id as a warning instead of stopping at one
    p = preview(load_data(config.data))
    duplicates = p["counts"].get("products_with_conflicting_titles_kept_first")
    if strict and duplicates:
        p["warnings"] = [w for w in p["warnings"] if "appear again with another title" not in w]
        p["warnings"].append(f"{duplicates:,} rows give a product id again with another title: pipeline and train "
                             "stop at the first of them unless you pass --duplicate-products first")
    if as_json:
        out_console.print_json(json.dumps(p, ensure_ascii=False))
        return None
    for f in p["files"]:
        out_console.print(f"[bold]{f['file']}[/]: {f['format']}, encoding {f['encoding'] or '(binary)'}"
                          + (f", delimiter {f['delimiter']!r}" if f.get("delimiter") else "")
                          + f", {f['rows']:,} rows, {f['columns']:,} columns")
    table = Table(title="columns")
    table.add_column("role")
    table.add_column("column")
    table.add_column("found by")
    for role, name in p["columns"].items():
        shown = name if isinstance(name, str) else f"{len(name)}: {', '.join(name[:6])}{', ...' if len(name) > 6 else ''}"
        table.add_row(role, shown, p["found_by"].get(role, "wide columns" if role == "attributes" else ""))
    out_console.print(table)
    if p["label_scale"]:
        s = p["label_scale"]
        gains = ", ".join(f"{raw}→{g}" for raw, g in s["gains"].items())
        out_console.print(f"labels: [bold]{s['name']}[/] ({s['description']}); gains {gains}; "
                          f"a positive has gain ≥ {s['positive_min_gain']}")
    lang = p["language"]
    out_console.print(f"language: [bold]{lang['language']}[/] ({lang['how']}"
                      + (f", {lang['share']:.0%} of the stop words found" if lang.get("share") else "")
                      + "): BM25's stemmer and stop words; --language sets it")
    out_console.print("counts: " + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in p["counts"].items()))
    for sample in p["sample_texts"]:
        out_console.print(f"[dim]{escape(sample['product_id'])}[/] {escape(sample['text'])}", highlight=False)
    for warning in p["warnings"]:
        out_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    return None


@app.command(rich_help_panel=SEARCH)
def explain(
    query: Annotated[str, typer.Argument(help="The query to explain.")],
    run: Annotated[Path, typer.Option(help="A finished run: its untuned base model against RUN/model.")],
    product: Annotated[str | None, typer.Option(help="A product id: each term's contribution to its score.")] = None,
    k: Annotated[int, typer.Option("-k", help="Query terms shown per model.", min=1)] = 15,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    device: Device = None,
) -> None:
    """What the untuned and the tuned SPLADE model read in a query (expansion terms and weights) and, with
    --product, each term's contribution to that product's score (they sum to it)."""
    setup_logging()

    def body():
        import json

        from ..data import load_data
        from ..explain import explain as explain_query
        from ..models import trained_config
        from ..rundir import RunDir
        from ..train.trainer import base_model

        use_device(device)
        rd = RunDir(run)
        if not rd.config.is_file() or not (rd.model / "config.json").is_file():
            raise SearchtuneError(f"{run}: not a finished run with a model (no config.yaml or model/ here)")
        config = Config.load(rd.config)
        text = None
        if product is not None:
            texts = load_data(config.data).texts
            if product not in texts:
                raise SearchtuneError(f"product '{product}' is not in the run's catalog ({config.data.catalog or config.data.data})")
            text = texts[product]
        max_length = (trained_config(rd.model) or {}).get("max_seq_length")
        out = explain_query(query, {"untuned": base_model(config.train), "tuned": str(rd.model)}, product=text, k=k,
                            max_length=max_length)
        if as_json:
            out_console.print_json(json.dumps({"query": query, "product": product, "models": out}))
            return
        table = Table(title=f"“{query}”: what each model reads")
        for label in out:
            table.add_column(f"{label} term")
            table.add_column("weight", justify="right")
        for i in range(k):
            cells = []
            for entry in out.values():
                t = entry["terms"][i] if i < len(entry["terms"]) else None
                cells += [t["term"], f"{t['weight']:.2f}"] if t else ["", ""]
            table.add_row(*cells)
        out_console.print(table)
        if text is not None:
            out_console.print(f"product {product}: {text[:120]}")
            for label, entry in out.items():
                parts = ", ".join(f"{c['term']} {c['contribution']:.2f}" for c in entry["contributions"][:12])
                out_console.print(f"{label}: score {entry['score']:.2f} = {parts or 'no shared term'}"
                                  + (" …" if len(entry["contributions"]) > 12 else ""))

    run_job(body)


@config_command(app, "assess", sections=("data", "train"), panel=MAIN,
                only={"train": ("model", "kind", "max_seq_length", "epochs", "min_positive_gain")}, models=True)
def assess_data(
    config: Config,
    raters: Annotated[Path | None, typer.Option(help="Several raters' grades, one column per rater "
                                                    "(agent_1_rating, rater2…): how often they agree.")] = None,
    probe: Annotated[bool, typer.Option(help="Estimate the gain with a short training run on part of the "
                                             "queries (a minute or two).")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of the summary.")] = False,
    quiet: bool = False,
):
    """Should this catalog be fine-tuned? Before any training, in minutes: counts and sufficiency, labels,
    BM25 and the untuned model on the dev queries, indexing and training time on this machine, and a
    recommendation with its reasons."""
    import json

    from ..assess import assess

    out = assess(config, progress=not quiet, raters=raters, probe=probe)
    if as_json:
        out_console.print_json(json.dumps(out))
        return {"metrics": out["measured"]}
    c, m = out["counts"], out["measured"]
    out_console.print(f"{c['products']:,} products, {c['queries']:,} queries ({c['train_queries']:,} training, "
                      f"{c['dev_queries']:,} dev, {c['test_queries']:,} test with a relevant product), "
                      f"{c['judgments']:,} judgments (median {c['judged_per_query']} a query), gains {c['gains']}")
    out_console.print(f"on {m['dev_queries']} {m['dev_from']} queries: BM25 nDCG@10 {m['bm25']:.4f}, the untuned "
                      f"{m['base_model']} {m['untuned']:.4f}")
    out_console.print(f"on this machine: indexing {m['index_seconds']:,.0f} s ({m['documents_per_second']:,.0f} "
                      f"products/s); training one epoch of {m['training_rows']:,} rows about "
                      f"{m['training_seconds']:,.0f} s")
    out_console.print(f"[bold]recommendation: {out['recommendation']}[/]"
                      + (f" (also: {', '.join(out['also'])})" if out["also"] else ""))
    for reason in out["reasons"]:
        out_console.print(f"- {reason}")
    a = out.get("agreement")
    if a:
        out_console.print(f"raters ({', '.join(a['raters'])}) on {a['pairs_rated_twice']:,} pairs: exact agreement "
                          f"{a['exact']:.0%} of rater pairs, within one grade {a['within_one_grade']:.0%}, all agree "
                          f"on {a['all_agree']:.0%} of the pairs")
    return {"metrics": m}

import json
import re

import pytest
from conftest import EXAMPLES, write
from typer.testing import CliRunner

from searchtune.cli import app

runner = CliRunner()


def test_bad_input_is_one_clear_line_and_exit_2(tmp_path):
    bad = write(tmp_path / "c.csv", "id,title\n1,Drill\n2,\n")
    result = runner.invoke(app, ["pipeline", "--data", str(bad), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "row 2 (line 3), column 'title': empty product title" in result.output
    assert "Traceback" not in result.output


def test_catalog_without_queries_and_an_llm_without_key_is_a_clear_error(tmp_path, monkeypatch):
    for var in ("OPENAI_API_KEY", "SEARCHTUNE_LLM_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    result = runner.invoke(app, ["pipeline", "--data", str(EXAMPLES / "catalog.csv"), "--out", str(tmp_path / "r"),
                                 "--llm", "openai:gpt-4o-mini", "--llm-api-key", ""])
    assert result.exit_code == 2 and "no API key" in result.output and "Traceback" not in result.output


def test_each_command_lists_only_the_options_it_reads():
    def options(*command):
        return set(re.findall(r"--[a-z][a-z0-9-]+", runner.invoke(app, [*command, "--help"], terminal_width=200).output))

    assert {"--rerank", "--reranker-lr", "--lr"} <= options("pipeline")
    assert "--lr" in options("train") and not {"--rerank", "--reranker-lr"} & options("train")
    assert {"--model", "--dense-model", "--max-length"} <= options("index") and "--lr" not in options("index")
    assert "--max-seq-length" not in options("index")
    assert "--model" in options("mine") and not {"--lr", "--epochs"} & options("mine")
    assert "--system" in options("search") and not {"--rerank", "--weight", "--data"} & options("search")
    assert {"--tuned-model", "--system", "--fusion-weights"} <= options("evaluate")
    assert "--sets" in options("matrix") and "--config" not in options("matrix")


def test_help_is_grouped_by_job_with_the_main_job_first():
    out = runner.invoke(app, ["--help"], terminal_width=200).output
    panels = re.findall(r"╭─ ([^─]+?) ─", out)
    assert panels[:2] == ["Options", "The main job"] and "Several catalogs" in panels
    main = out.split("╭─ The main job")[1].split("╰")[0]
    assert re.search(r"│ pipeline ", main) and "Load → split" in main  # one line per command, not cut mid-word


def test_a_tuned_model_is_indexed_as_tuned(tmp_path):
    import shutil

    from searchtune.index import EdgeIndex
    from searchtune.models import resolve_model

    tuned = tmp_path / "run" / "model"  # what a run saves: the model and the record of its training
    shutil.copytree(resolve_model("splade-tiny"), tuned)
    (tuned / "searchtune_config.yaml").write_text("kind: sparse\nmax_seq_length: 16\n")
    catalog = write(tmp_path / "c.csv", "id,title\n1,Cordless drill kit\n2,Garden hose 50 ft\n")
    result = runner.invoke(app, ["index", "--data", str(catalog), "--model", str(tuned), "--collection", "shop",
                                 "--data-dir", str(tmp_path / "q")])
    assert result.exit_code == 0, result.output
    with EdgeIndex("shop", tmp_path / "q") as ix:
        assert set(ix.layout()) == {"sparse_tuned", "bm25"}


def test_index_then_search(tmp_path):
    catalog = write(tmp_path / "c.csv", "id,title,brand\n1,Cordless drill kit,Ryobi\n2,Garden hose 50 ft,Sun Joe\n"
                                        "3,Circular saw,Makita\n")
    result = runner.invoke(app, ["index", "--data", str(catalog), "--collection", "shop"])
    assert result.exit_code == 0, result.output
    assert "indexed 3 products into 'shop'" in result.output
    again = runner.invoke(app, ["index", "--data", str(catalog), "--collection", "shop"])
    assert "(3 points" in again.output  # idempotent: same ids, same points
    found = runner.invoke(app, ["search", "hose for watering", "--collection", "shop", "-k", "2", "--terms"])
    assert found.exit_code == 0, found.output
    lines = [l for l in found.output.splitlines() if "│" in l and l.strip("│ ").startswith("1")]
    assert lines and "Garden hose" in lines[0]
    assert "query terms:" in found.output
    missing = runner.invoke(app, ["search", "x", "--collection", "nope"])
    assert missing.exit_code == 2 and "collection 'nope' not found" in missing.output


@pytest.mark.slow
def test_pipeline_end_to_end_on_the_example(tmp_path):
    out = tmp_path / "run"
    args = ["pipeline", "--catalog", str(EXAMPLES / "catalog.csv"), "--queries", str(EXAMPLES / "queries.csv"),
            "--out", str(out), "--config", str(EXAMPLES / "demo.yaml"), "--epochs", "0.3"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    # the tuned model's hybrid with BM25 is measured in every run, and the run names the system to deploy
    assert set(report["metrics"]) == {"bm25", "bm25-unstemmed", "base", "finetuned", "hybrid"}
    assert report["recommendation"]["system"] in ("bm25", "finetuned", "hybrid") and "deploy:" in result.output
    for metrics in report["metrics"].values():
        assert set(metrics) >= {"ndcg@10", "mrr@10", "recall@10", "recall@100", "precision@10"}
    split = json.loads((out / "split.json").read_text())
    assert not set(split["train"]) & (set(split["test"]) | set(split["dev"]))
    assert (out / "model" / "searchtune_config.yaml").exists()
    md = (out / "report.md").read_text()
    assert "SPLADE fine-tuned" in md and "Per-query examples" in md
    # a finished run resumes without redoing anything and gives the same numbers
    again = runner.invoke(app, args + ["--resume"])
    assert again.exit_code == 0, again.output
    assert json.loads((out / "report.json").read_text())["metrics"] == report["metrics"]
    # without --resume, an existing run is not overwritten
    clash = runner.invoke(app, args)
    assert clash.exit_code == 2 and "--resume" in clash.output


@pytest.mark.slow
def test_python_api_finetune_returns_the_model(tmp_path):
    import searchtune
    from searchtune.models import load_encoder

    path = searchtune.finetune(EXAMPLES / "catalog.csv", queries=EXAMPLES / "queries.csv", out=tmp_path / "run",
                               evaluate=False, progress=False, epochs=0.1, max_seq_length=32,
                               min_positive_gain=2)
    assert path == tmp_path / "run" / "model"
    assert load_encoder(path, kind="sparse").encode_query(["hose"]).shape[-1] == 30522


@pytest.mark.slow
def test_train_then_evaluate_commands(tmp_path):
    out = tmp_path / "run"
    data = ["--catalog", str(EXAMPLES / "catalog.csv"), "--queries", str(EXAMPLES / "queries.csv")]
    trained = runner.invoke(app, ["train", *data, "--out", str(out), "--epochs", "0.1", "--max-seq-length", "16",
                                  "--min-positive-gain", "2"])
    assert trained.exit_code == 0, trained.output
    assert (out / "model" / "training_stats.json").exists() and not (out / "report.json").exists()
    reranker = runner.invoke(app, ["train-reranker", "--out", str(out), "--reranker-model", "splade-tiny",
                                   "--reranker-max-pairs", "300", "--rerank-k", "5,10", "--rerank-dev-queries", "8"])
    assert reranker.exit_code == 0, reranker.output
    assert (out / "reranker" / "training_stats.json").exists()
    again = runner.invoke(app, ["train-reranker", "--out", str(out)])
    assert again.exit_code == 2 and "--resume" in again.output  # a trained reranker is not silently replaced
    evaluated = runner.invoke(app, ["evaluate", *data, "--out", str(out)])
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads((out / "report.json").read_text())
    # every stage: the run's reranker on top of the dev-chosen first stage
    assert set(report["metrics"]) == {"bm25", "bm25-unstemmed", "base", "finetuned", "hybrid", "reranked"}
    assert report["two_stage"]["k"] in (5, 10) and report["two_stage"]["dev_queries"] == 8
    assert "deploy:" in evaluated.output
    assert report["config"]["train"]["max_seq_length"] == 16  # the run's saved config was reused
    # the system the run recommends, measured as it runs (its own collection, then its reranker), in a new run
    measured = runner.invoke(app, ["evaluate", *data, "--out", str(tmp_path / "sys"), "--system", str(out)])
    assert measured.exit_code == 0, measured.output
    again = json.loads((tmp_path / "sys" / "report.json").read_text())
    assert set(again["metrics"]) == {"bm25", "bm25-unstemmed", "system"}
    chosen = report["recommendation"]["system"]
    if chosen in ("finetuned", "finetuned+rerank", "hybrid+rerank", "hybrid"):  # BM25 runs in Qdrant: another BM25
        name = "reranked" if chosen.endswith("+rerank") else chosen
        assert again["metrics"]["system"]["ndcg@10"] == pytest.approx(report["metrics"][name]["ndcg@10"], abs=0.02)


def test_mine_writes_inspectable_negatives_for_training_queries_only(tmp_path):
    out = tmp_path / "neg.jsonl"
    args = ["mine", "--catalog", str(EXAMPLES / "catalog.csv"), "--queries", str(EXAMPLES / "queries.csv"),
            "--out", str(out), "--mine-window", "2-20", "--mine-top-k", "30"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    split = json.loads(result.output[result.output.index("{"):result.output.rindex("}") + 1])
    assert split["backend"] == "qdrant-edge" and split["queries"] == len(records)
    from searchtune.config import DataConfig
    from searchtune.data import load_data, split_for

    config = DataConfig(catalog=str(EXAMPLES / "catalog.csv"), queries=str(EXAMPLES / "queries.csv"))
    data = load_data(config)
    held = split_for(config, data.queries)
    assert not {r["query_id"] for r in records} & (set(held.dev) | set(held.test))
    for r in records:
        assert all(2 <= n["rank"] <= 20 for n in r["negatives"] if n["source"] == "model")
    bm25 = runner.invoke(app, args[:-4] + ["--negatives", "bm25", "--out", str(tmp_path / "b.jsonl")])
    assert bm25.exit_code == 0, bm25.output
    bad = runner.invoke(app, args + ["--mine-window", "60-10"])
    assert bad.exit_code == 2 and "window" in bad.output


def test_mine_never_reuses_a_collection_of_another_catalog_of_the_same_size(tmp_path):
    """`mine` reuses its collection only when it holds exactly this catalog: two catalogs of the same size
    but other products must not share one (the negatives must name products of the catalog given)."""
    titles = ["Cordless drill kit", "Drill driver", "Impact drill", "Hammer drill", "Garden hose 50 ft",
              "Hose reel", "Soaker hose", "Hose nozzle"]
    results = []
    for name, prefix in (("a", "p"), ("b", "x")):
        catalog = write(tmp_path / f"{name}.csv", "id,title\n" + "".join(f"{prefix}{i},{t}\n"
                                                                        for i, t in enumerate(titles)))
        queries = write(tmp_path / f"q{name}.csv", "query,product_id,label\n" + "".join(
            f"cordless drill {i},{prefix}{i},Exact\ngarden hose {i},{prefix}{i + 4},Exact\n" for i in range(4)))
        out = tmp_path / f"{name}.jsonl"
        result = runner.invoke(app, ["mine", "--catalog", str(catalog), "--queries", str(queries), "--out", str(out),
                                     "--collection", "shared", "--mine-window", "1-5", "--mine-top-k", "5",
                                     "--mine-margin", "0"])
        assert result.exit_code == 0, result.output
        results.append({n["product_id"] for line in out.read_text().splitlines()
                        for n in json.loads(line)["negatives"]})
    assert results[0] and all(p.startswith("p") for p in results[0])
    assert results[1] and all(p.startswith("x") for p in results[1])


@pytest.mark.slow
def test_dense_pipeline_on_the_example(tmp_path):
    out = tmp_path / "dense"
    result = runner.invoke(app, ["pipeline", "--catalog", str(EXAMPLES / "catalog.csv"), "--queries",
                                 str(EXAMPLES / "queries.csv"), "--config", str(EXAMPLES / "demo.yaml"), "--out",
                                 str(out), "--kind", "dense", "--lr", "5e-5", "--epochs", "0.5",
                                 "--matryoshka", "384,128"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert set(report["metrics"]) >= {"bm25", "base", "finetuned", "dense-tuned@384", "dense-tuned@128"}
    # at full size, exact search on the tuned vectors agrees with the Qdrant collection
    assert abs(report["metrics"]["dense-tuned@384"]["ndcg@10"] - report["metrics"]["finetuned"]["ndcg@10"]) < 0.02
    assert "dense-tuned@128" in (out / "report.md").read_text()
    stats = json.loads((out / "model" / "training_stats.json").read_text())
    assert stats["kind"] == "dense" and stats["started_from"] == "minilm"
    refused = runner.invoke(app, ["train", "--catalog", str(EXAMPLES / "catalog.csv"), "--queries",
                                  str(EXAMPLES / "queries.csv"), "--out", str(tmp_path / "x"), "--kind", "dense",
                                  "--ance-rounds", "1"])
    assert refused.exit_code == 2 and "negatives-file" in refused.output


@pytest.mark.slow
def test_ance_pipeline_with_a_soup_on_the_example(tmp_path):
    """`pipeline --ance-rounds 1 --soup`: rounds, then the greedy soup of their models, chosen on dev,
    in the report; the installed model is whatever won on dev."""
    out = tmp_path / "ance"
    result = runner.invoke(app, ["pipeline", "--catalog", str(EXAMPLES / "catalog.csv"), "--queries",
                                 str(EXAMPLES / "queries.csv"), "--config", str(EXAMPLES / "demo.yaml"), "--out",
                                 str(out), "--ance-rounds", "1", "--soup", "--epochs", "0.5"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    mining = report["mining"]
    soup = mining["soup"]
    assert [t["ingredients"] for t in soup["tried"]] == [[mining["rounds"][0]["model"], mining["rounds"][1]["model"]]
                                                        if mining["rounds"][0]["dev"]["ndcg@10"]
                                                        >= mining["rounds"][1]["dev"]["ndcg@10"] else
                                                        [mining["rounds"][1]["model"], mining["rounds"][0]["model"]]]
    best_single = max(r["dev"]["ndcg@10"] for r in mining["rounds"])
    assert (mining["best_round"] == "soup-1") == (soup["score"] > best_single)
    assert ((out / "model" / "soup.json").exists()) == (mining["best_round"] == "soup-1")
    assert report["dev_metrics"]["finetuned"]["ndcg@10"] == pytest.approx(max(best_single, soup["score"]), abs=1e-6)
    assert "Greedy soup" in (out / "report.md").read_text()

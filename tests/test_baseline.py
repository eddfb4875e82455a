"""BM25 at full strength: it reads every field whole, where the models read a text cut to their budget."""

import pandas as pd

from searchtune.config import DataConfig
from searchtune.data import full_texts, load_data
from searchtune.evaluation.bm25 import bm25_index
from searchtune.index import EdgeIndex
from searchtune.index import collection as col

FILLER = "a sturdy everyday product for the home and the garden with a long warranty " * 6  # ~460 characters


def catalog(tmp_path):
    rows = [{"id": f"p{i}", "title": f"Garden item {i}", "description": FILLER + (" zanzibarite coating" if i == 3
                                                                                    else " plain finish"),
             "attr_t_material": "steel" if i != 5 else "steel " + "x" * 320 + " obsidianite"}
            for i in range(12)]
    path = tmp_path / "catalog.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return load_data(DataConfig(catalog=str(path)))


def test_bm25_and_the_hybrids_bm25_find_a_word_past_the_models_budget(tmp_path, splade):
    data = catalog(tmp_path)
    texts = dict(zip(data.product_ids, data.products["text"]))
    assert "zanzibarite" not in texts["p3"] and "obsidianite" not in texts["p5"]  # the models' text is cut
    whole = dict(zip(data.product_ids, full_texts(data.products)))
    assert "zanzibarite" in whole["p3"] and "obsidianite" in whole["p5"]
    bm25 = bm25_index(data, stem=True)
    found = bm25.search({"a": "zanzibarite", "b": "obsidianite"}, k=3)
    assert next(iter(found["a"])) == "p3" and next(iter(found["b"])) == "p5"
    # the BM25 vectors of a collection (the hybrid's BM25 side) read the whole fields too
    with EdgeIndex("shop", tmp_path / "q") as ix:
        col.build(ix, data, col.Models(sparse_tuned="splade-tiny"), bm25=True, progress=False,
                  loaded={"sparse_tuned": splade})
        models = col.stored_models(ix)
        for system in ("bm25-qdrant", "hybrid-tuned-bm25"):
            hits = col.search(ix, models, ["zanzibarite"], system, k=3, loaded={"sparse_tuned": splade})[0]
            assert hits[0].product_id == "p3", system


def test_a_change_past_the_models_budget_is_reindexed_and_changes_the_fingerprint(tmp_path, splade):
    from searchtune.index.reindex import plan

    data = catalog(tmp_path)
    with EdgeIndex("shop", tmp_path / "q") as ix:
        col.build(ix, data, col.Models(sparse_tuned="splade-tiny"), bm25=True, progress=False,
                  loaded={"sparse_tuned": splade})
        before = data.fingerprint
        products = data.products.copy()
        products.loc[products["product_id"] == "p3", "full_text"] = products.loc[
            products["product_id"] == "p3", "full_text"].str.replace("zanzibarite", "malachite")
        data.products = products
        assert data.fingerprint != before and plan(ix, data).to_dict()["changed"] == 1


def test_the_report_says_what_each_system_reads():
    from searchtune.evaluation.report import reads

    out = reads({"data": {"description_chars": 300, "attribute_chars": 200}, "train": {"max_seq_length": 48}})
    assert "whole" in out["bm25"] and "300" in out["models"] and "48 tokens" in out["models"]
    chosen = {"fields": "without attributes", "dev_ndcg@10": {"every field": 0.5, "without attributes": 0.6},
              "dev_queries": 18}
    assert "but the attributes" in reads({}, chosen)["bm25"] and "18 dev queries" in reads({}, chosen)["bm25"]


def test_bm25_leaves_the_attributes_out_only_when_dev_says_they_cost_it(tmp_path, splade):
    from searchtune.evaluation.bm25 import choose_fields
    from searchtune.index.reindex import plan

    rows = [{"id": f"p{i}", "title": f"Cordless tool {i}" if i else "Cordless drill",
             "attr_t_compatible": "drill bits drill chucks drill cases" if i else "batteries",
             "attr_t_finish": "obsidianite" if i == 5 else "matte"} for i in range(12)]
    pd.DataFrame(rows).to_csv(tmp_path / "c.csv", index=False)
    pd.DataFrame({"query": ["drill", "obsidianite"], "product_id": ["p0", "p5"], "label": [1, 1]}).to_csv(
        tmp_path / "q.csv", index=False)
    config = DataConfig(catalog=str(tmp_path / "c.csv"), queries=str(tmp_path / "q.csv"))
    data = load_data(config)
    by_text = {t: q for q, t in data.queries.items()}
    # the attributes hold the only match of "obsidianite": every field is kept
    same, record = choose_fields(data, [by_text["obsidianite"]])
    assert same is data and record["fields"] == "every field"
    # they bury the drill under products whose attributes repeat "drill": left out
    lean, record = choose_fields(data, [by_text["drill"]])
    assert record["fields"] == "without attributes" and record["dev_ndcg@10"]["without attributes"] == 1.0
    assert all("obsidianite" not in t for t in full_texts(lean.products)) and lean.products["text"].equals(
        data.products["text"])  # the models read what they read before
    # a collection built from it keeps the choice, and a reindex of the catalog as read from the file applies it
    with EdgeIndex("shop", tmp_path / "q") as ix:
        col.build(ix, lean, col.Models(sparse_tuned="splade-tiny"), bm25=True, progress=False,
                  loaded={"sparse_tuned": splade})
        assert ix.metadata()["bm25_fields"] == "without attributes"
        assert plan(ix, load_data(config)).to_dict()["changed"] == 0

"""Inference-free SPLADE (--inference-free): queries through a token table, documents through SPLADE."""

import numpy as np
import pytest

from searchtune.encode import encode
from searchtune.inference_free import (
    idf_weights,
    is_inference_free,
    make_inference_free,
    query_table,
)

CATALOG = ["cordless drill 18v with battery", "white interior paint", "drill bit set", "copper pipe 1/2 in"]


def test_the_table_starts_as_the_catalogs_idf_and_documents_stay_splade(splade):
    model = make_inference_free(splade, CATALOG)
    assert is_inference_free(model) and not is_inference_free(splade)
    weights = idf_weights(splade.tokenizer, CATALOG)
    drill, copper, never = splade.tokenizer.convert_tokens_to_ids(["drill", "copper", "zebra"])
    assert weights[drill] < weights[copper] < weights[never]  # in 2 products, in 1, in none
    assert np.allclose(query_table(model).weight.detach().numpy(), weights.numpy())
    docs = ["Cordless drill 18V", "", "saw " * 300]
    assert abs(encode(model, docs, "document", precision="fp32") -
               encode(splade, docs, "document", precision="fp32")).max() < 1e-6


def test_query_encoding_is_a_table_lookup_equal_to_sentence_transformers(splade):
    model = make_inference_free(splade, CATALOG)
    queries = ["drill", "white white paint", "", "Copper PIPE fittings for a 1/2 inch line"]
    got = encode(model, queries, "query").toarray()
    expected = model.encode_query(queries, convert_to_tensor=True).to_dense().numpy()
    assert got.shape == expected.shape and np.abs(got - expected).max() == 0
    assert (got[1] > 0).sum() == 2  # a repeated token counts once, as in SparseStaticEmbedding


@pytest.mark.slow
def test_an_inference_free_model_trains_saves_reloads_and_searches(tmp_path):
    from test_pipeline import example_config

    from searchtune.evaluation.markdown import labels_for
    from searchtune.evaluation.systems import evaluate_model
    from searchtune.export import model_card
    from searchtune.index import collection as col
    from searchtune.models import load_encoder, model_kind
    from searchtune.pipeline import Pipeline

    config = example_config(inference_free=True)
    p = Pipeline(config, tmp_path / "run", progress=False)
    prepared = p.split()
    before = load_encoder("splade-tiny")
    model_dir = p.train(prepared).model
    assert model_kind(model_dir) == "sparse"
    model = load_encoder(model_dir)
    assert is_inference_free(model) and model.max_seq_length == 16
    table = query_table(model).weight.detach().numpy()
    assert not np.allclose(table, idf_weights(before.tokenizer, prepared.data.products["text"].tolist()).numpy())
    bench = p.bench(prepared)
    system = evaluate_model(bench, "finetuned", str(model_dir)).test
    assert 0 < system.metrics["ndcg@10"] <= 1
    with bench.open("finetuned") as index:
        hits = col.search(index, col.stored_models(index), ["cordless drill"], "sparse-tuned", k=5)[0]
    assert len(hits) == 5
    report = p.run(train=False, model=str(model_dir))
    assert "inference-free" in labels_for(report)["finetuned"]
    card = model_card(tmp_path / "run")
    assert "- inference-free" in card and "SPLADE fine-tuned (inference-free)" in card

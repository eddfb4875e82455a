"""What an exported system needs to be queried from another stack: the query table of an inference-free model
as JSON (token → weight, with its tokenizer files), and a short page that says how to query the system
(``HOW-TO-QUERY.md``): vector names, BM25 query vectors, the fusion and its weights, an example Qdrant query,
the reranker's K and weight."""

from __future__ import annotations

import json
from pathlib import Path

from .files import write_json, write_text
from .system import System

TABLE_FILE = "query_table.json"


def export_query_table(model_dir: Path, out: Path) -> Path | None:
    """``out/query_table.json`` (token → weight, weights above 0) and the tokenizer files beside it, when the
    model at ``model_dir`` is inference-free; else None. A query is then encoded in any language: tokenize it
    with those files, and each token's weight is its value (a token twice counts once, at its weight)."""
    from .inference_free import is_inference_free, query_table
    from .models import load_encoder

    model = load_encoder(model_dir, kind="sparse")
    if not is_inference_free(model):
        return None
    table = query_table(model)
    weights = table.weight.detach().float().cpu().numpy().ravel()
    vocab = table.tokenizer.convert_ids_to_tokens(list(range(len(weights))))
    write_json(out / TABLE_FILE, {token: round(float(w), 6) for token, w in zip(vocab, weights) if w > 0})
    table.tokenizer.save_pretrained(str(out / "query_tokenizer"))
    return out / TABLE_FILE


def how_to_query(system: System, *, table: bool = False, onnx: dict | None = None) -> str:
    """The page: what to send to Qdrant (or ``searchtune serve``) to run ``system`` as it was measured."""
    first = system.first_stage_name()
    lines = ["# How to query this system", "", f"**{system.label or first}**: {system.describe()}.", "",
             "The easiest way: `searchtune index --data CATALOG --model path/to/this/folder --collection products`, "
             "then `searchtune serve path/to/this/folder` (an HTTP API: `POST /search {\"query\": \"...\"}`) or "
             "`searchtune search \"...\" --system path/to/this/folder`. From another stack:", "",
             "## Vectors", ""]
    for v in system.vectors:
        if v == "bm25":
            lines.append("- `bm25`: BM25 term weights with Qdrant's IDF modifier (the collection's `idf` modifier); "
                         "query vectors are Qdrant's BM25 embedding of the query text (fastembed `Qdrant/bm25`, "
                         "or Qdrant's server-side BM25 inference).")
        else:
            model = system.models.get(v, "?")
            how = ("tokenize the query with `query_tokenizer/` and give each token its weight from "
                   f"`{TABLE_FILE}` (no model pass)" if table and v.startswith("sparse") else
                   f"`SparseEncoder('{model}').encode_query(...)`" if v.startswith("sparse") else
                   f"`SentenceTransformer('{model}').encode_query(...)`, cosine")
            lines.append(f"- `{v}`: {how}; products were encoded with `encode_document`, cut at "
                         f"{system.max_length or 'the model'}'s tokens.")
    lines += [""]
    if len(system.vectors) > 1:
        fusion = {"rrf": {"rrf": {"k": 60, **({"weights": list(system.weights)} if system.weights else {})}},
                  "dbsf": {"fusion": "dbsf"}}[system.fusion]
        query = {"prefetch": [{"query": f"<{v} query vector>", "using": v, "limit": 100} for v in system.vectors],
                 "query": fusion, "limit": 10, "with_payload": True}
        lines += ["## Fusion", "", f"{system.fusion.upper()}" + (f" with weights {list(system.weights)} (in the "
                  "order of the vectors above)" if system.weights else "") + ", inside Qdrant. Ties in the fused "
                  "score are broken by product id. An example query (`POST /collections/products/points/query`):",
                  "", "```json", json.dumps(query, indent=1), "```", ""]
    else:
        lines += ["## Query", "", "```json", json.dumps({"query": f"<{system.vectors[0]} query vector>",
                                                        "using": system.vectors[0], "limit": 10,
                                                        "with_payload": True}, indent=1), "```", ""]
    if system.reranker:
        lines += ["## The reranker", "", f"Rescore the first stage's top {system.reranker.k} with "
                  "`CrossEncoder('reranker').predict([(query, product text), ...])`; min-max scale the reranker's "
                  "scores and the first stage's over those K, then rank by "
                  f"(1 − {system.reranker.weight:g}) × reranker + {system.reranker.weight:g} × first stage; the "
                  "products below K keep their first-stage order beneath.", ""]
    if onnx:
        lines += onnx_section(onnx)
    return "\n".join(lines)


def onnx_section(checks: dict) -> list[str]:
    """How to run the ``onnx/`` graphs without PyTorch, and how they compared with it."""
    doc = checks["document"]
    sparse = doc["kind"] == "sparse"
    lines = ["## ONNX", "", "`onnx/document.onnx` encodes products (and, for a model that is not inference-free, "
             f"queries) with onnxruntime or any ONNX runtime: inputs {', '.join(f'`{n}`' for n in ('input_ids', 'attention_mask', 'token_type_ids'))} "
             f"(int64, from the tokenizer in `onnx/`, cut at {doc['max_length']} tokens), output `embedding` "
             f"{doc['output']}" + (": the SPLADE weight of every vocabulary token; the nonzero columns are the "
                                   "sparse vector's indices" if sparse else ": the model's embedding, compared by cosine") + ".", "",
             "```python", "import numpy as np, onnxruntime as ort", "from transformers import AutoTokenizer", "",
             "tokenizer = AutoTokenizer.from_pretrained(\"onnx\")",
             "session = ort.InferenceSession(\"onnx/document.onnx\")",
             f"batch = tokenizer(texts, padding=True, truncation=True, max_length={doc['max_length']}, "
             "return_tensors=\"np\")",
             "vectors = session.run(None, {k: batch[k].astype(np.int64) for k in (\"input_ids\", \"attention_mask\", "
             "\"token_type_ids\")})[0]"]
    if sparse:
        lines += ["indices = np.nonzero(vectors[0])[0]; values = vectors[0][indices]  # one product's sparse vector"]
    lines += ["```", ""]
    if "reranker" in checks:
        lines += ["`onnx/reranker.onnx` takes (query, product text) pairs tokenized together with "
                  "`onnx/reranker_tokenizer/` and gives a logit per pair (a sigmoid makes it sentence-transformers' "
                  "score; the order is the same).", ""]
    lines += ["Checked against PyTorch at export (fp32, `onnx/parity.json`): "
              + "; ".join(f"{name}: {c['texts']} texts, largest difference {c['max_abs_diff']:.1e} (allowed "
                          f"{c['tolerance']:g})" + (f", {c['terms']} terms, {c['terms_differ']} differ"
                                                     if "terms" in c else "") for name, c in checks.items()) + ".", ""]
    return lines


def write_guide(system: System, out: Path, *, table: bool = False, onnx: dict | None = None) -> Path:
    path = Path(out) / "HOW-TO-QUERY.md"
    write_text(path, how_to_query(system, table=table, onnx=onnx))
    return path

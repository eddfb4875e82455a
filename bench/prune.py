"""Home Depot: search-time settings of a SPLADE model, scored on dev only.

Usage:
  .venv/bin/python bench/prune.py --out runs/hd-prune --model MODEL [--test "q=K,d=K"]

The catalog and the dev queries are encoded once (cached as ``.npz`` in OUT); every setting is then an
exact sparse dot product over the full catalog (what Qdrant's sparse search computes), top 100,
the shared protocol's metrics. Settings:
- ``q=K`` / ``d=K``: keep the K highest-weighted terms of each query / document vector (``max_active_dims``
  in sentence-transformers); ``all`` keeps every term.
- ``q=exact``: the query keeps only the vocabulary ids of its own tokens (no query expansion).
A setting chosen here is chosen on dev; ``--test SETTING`` reads test once for it.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import hd
from searchtune.encode import encode_sparse
from searchtune.metrics import evaluate_run
from searchtune.models import load_sparse_encoder

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--out", required=True)
p.add_argument("--model", required=True)
p.add_argument("--data-dir", default=hd.DATA_DIR)
p.add_argument("--q", default="all,64,48,32,24,16,exact")
p.add_argument("--d", default="all,128,96,64,48")
p.add_argument("--test", default=None, help='one setting, e.g. "q=32,d=all": read test once for it')
a = p.parse_args()
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
out = Path(a.out)
out.mkdir(parents=True, exist_ok=True)
d, s = hd.load(a.data_dir)
model = load_sparse_encoder(a.model)
pids = list(d.products["product_id"])


def cached(name: str, texts: list[str], kind: str) -> sp.csr_matrix:
    f = out / f"{name}.npz"
    if f.exists():
        return sp.load_npz(f).tocsr()
    t = time.time()
    m = encode_sparse(model, texts, kind=kind, batch_size=256)
    sp.save_npz(f, m)
    logging.info("encoded %d %ss in %.0f s", len(texts), kind, time.time() - t)
    return m


def top_k(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the k largest entries of every row."""
    m = m.tocsr(copy=True)
    for i in range(m.shape[0]):
        lo, hi = m.indptr[i], m.indptr[i + 1]
        if hi - lo > k:
            row = m.data[lo:hi]
            row[np.argsort(row)[: hi - lo - k]] = 0.0
    m.eliminate_zeros()
    return m


def exact(m: sp.csr_matrix, texts: list[str]) -> sp.csr_matrix:
    """Keep only the vocabulary ids that the text's own tokens use."""
    m = m.tocsr(copy=True)
    for i, t in enumerate(texts):
        own = set(model.tokenizer(t, add_special_tokens=False)["input_ids"])
        lo, hi = m.indptr[i], m.indptr[i + 1]
        keep = np.isin(m.indices[lo:hi], list(own))
        m.data[lo:hi][~keep] = 0.0
    m.eliminate_zeros()
    return m


def variant(m, spec: str, texts):
    return m if spec == "all" else exact(m, texts) if spec == "exact" else top_k(m, int(spec))


def run_of(qm: sp.csr_matrix, dm: sp.csr_matrix, qids: list[str], k: int = 100) -> dict:
    dt = dm.T.tocsc()
    run = {}
    for lo in range(0, qm.shape[0], 256):
        sc = (qm[lo:lo + 256] @ dt).toarray()
        top = np.argpartition(-sc, k, axis=1)[:, :k]
        for r, qid in enumerate(qids[lo:lo + 256]):
            run[qid] = {pids[j]: float(sc[r, j]) for j in top[r] if sc[r, j] > 0}
    return run


res_file = out / "prune.json"
res = json.loads(res_file.read_text()) if res_file.exists() else {"model": a.model, "dev": {}}
if res["model"] != a.model:  # the cached encodings and scores in OUT belong to that model
    raise SystemExit(f"{out} holds encodings of {res['model']}, not {a.model}: pass another --out")
res_file.write_text(json.dumps(res, indent=1))
docs = cached("docs", list(d.products["text"]), "document")
res.setdefault("commands", []).append(" ".join(["python", *sys.argv]))
logging.info("docs: %.1f active terms on average", docs.getnnz() / docs.shape[0])
parts = ["test"] if a.test else ["dev"]
for part in parts:
    qrels = d.eval_qrels(getattr(s, part))
    qids = sorted(qrels)
    qtexts = [d.queries[q] for q in qids]
    qm = cached(f"{part}-queries", qtexts, "query")
    logging.info("%s queries: %.1f active terms on average", part, qm.getnnz() / qm.shape[0])
    specs = ([dict(x.split("=") for x in a.test.split(","))] if a.test else
             [{"q": q, "d": "all"} for q in a.q.split(",")] + [{"q": "all", "d": x} for x in a.d.split(",")[1:]])
    dvar = {}
    for spec in specs:
        key = f"q={spec['q']},d={spec['d']}"
        if part == "dev" and key in res["dev"]:
            continue
        if spec["d"] not in dvar:
            dvar[spec["d"]] = variant(docs, spec["d"], list(d.products["text"]))
        qv = variant(qm, spec["q"], qtexts)
        t = time.time()
        m = evaluate_run(qrels, run_of(qv, dvar[spec["d"]], qids))
        m["seconds"] = round(time.time() - t, 1)
        m["query_terms"] = round(qv.getnnz() / qv.shape[0], 1)
        m["doc_terms"] = round(dvar[spec["d"]].getnnz() / docs.shape[0], 1)
        res.setdefault(part, {})[key] = m
        logging.info("%s %s: nDCG@10 %.4f  MRR@10 %.4f  R@100 %.4f  (q %.1f terms, d %.1f terms)", part, key,
                     m["ndcg@10"], m["mrr@10"], m["recall@100"], m["query_terms"], m["doc_terms"])
        res_file.write_text(json.dumps(res, indent=1))

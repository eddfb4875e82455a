"""Greedy model soup on Home Depot: average fine-tuned splade-tiny models, keep an ingredient only if dev rises.

Usage: .venv/bin/python bench/soup.py --out runs/hd-soup CANDIDATE=DEV_NDCG10 ... [--test]
A candidate's known dev nDCG@10 (from its run's report) may follow '='; otherwise it is scored here.
Scores dev exactly as the pipeline does (catalog indexed in Qdrant Edge, bf16 encoding, ranx nDCG@10);
test is read only for the model dev chose, with --test.
"""
import argparse
import hashlib
import json
import logging
import time
from pathlib import Path

from searchtune.config import DataConfig
from searchtune.data import load_data, load_split_file
from searchtune.index import EdgeIndex
from searchtune.metrics import evaluate_run
from searchtune.models import load_sparse_encoder
from searchtune.search import hits_to_run, index_products, search_queries
from searchtune.soup import greedy_soup

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--test", action="store_true")
p.add_argument("--cache", action="append", default=[],
               help="soup.json or scored.jsonl of an earlier run: soups of the same ingredients are not scored again")
p.add_argument("--start", default=None,
               help="a soup folder already chosen on dev: greedy continues from its ingredients, adding the "
                    "candidates in dev order (each kept only if dev rises), instead of starting from the best one")
p.add_argument("candidates", nargs="+")
a = p.parse_args()
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "homedepot"
d = load_data(DataConfig(data=str(shared / "train.csv"), duplicate_products="first"))
s = load_split_file(shared / "split.json", d.queries)
out = Path(a.out)
out.mkdir(parents=True, exist_ok=True)
log = {"dev": {}, "index": {}}
indexes = {}


def run(model_path: str, part: str) -> dict:
    name = "c" + hashlib.sha256(model_path.encode()).hexdigest()[:10]  # one collection per model
    m = load_sparse_encoder(model_path)
    if model_path not in indexes:
        ix = EdgeIndex(name, out / "qdrant")
        log["index"][model_path] = index_products(m, d.products, ix, progress=False)
        indexes[model_path] = ix
    qrels = d.eval_qrels(getattr(s, part))
    hits, _ = search_queries(m, indexes[model_path], {q: d.queries[q] for q in qrels}, k=100)
    return evaluate_run(qrels, hits_to_run(hits))


cached = {}
for f in a.cache:  # an earlier soup.json, or its scored.jsonl (written as each soup is scored)
    text = Path(f).read_text()
    rows = json.loads(text)["tried"] if f.endswith(".json") else [json.loads(x) for x in text.splitlines() if x]
    for t in rows:
        cached[tuple(t["ingredients"])] = t["score"]


def dev_score(model_path: str) -> float:
    meta = Path(model_path) / "soup.json"
    key = tuple(json.loads(meta.read_text())["ingredients"]) if meta.exists() else None
    if key in cached:
        logging.info("dev %s: ndcg@10 %.4f (scored before: %s)", model_path, cached[key], key)
        return cached[key]
    t = time.time()
    res = run(model_path, "dev")
    log["dev"][model_path] = res
    logging.info("dev %s: ndcg@10 %.4f (%.0f s)", model_path, res["ndcg@10"], time.time() - t)
    if key:  # kept as it is scored: an interrupted pass loses nothing (--cache OUT/scored.jsonl)
        with open(out / "scored.jsonl", "a") as f:
            f.write(json.dumps({"ingredients": list(key), "score": res["ndcg@10"]}) + "\n")
    return res["ndcg@10"]


known = {}
cands = []
for c in a.candidates:
    path, _, score = c.partition("=")
    cands.append(path)
    if score:
        known[path] = float(score)
t0 = time.time()
res = greedy_soup(cands, out, dev_score, scores=known, start=a.start)
res["seconds"] = round(time.time() - t0, 1)
res["dev_metrics"] = log["dev"]
res["index"] = log["index"]
if a.test:
    res["test"] = run(res["model"], "test")
(out / "soup.json").write_text(json.dumps(res, indent=1))
print(json.dumps({k: res[k] for k in ("model", "score", "ingredients", "tried", "seconds")}, indent=1))
if a.test:
    print("test", json.dumps(res["test"], indent=1))

"""Greedy model soup on Home Depot: average fine-tuned splade-tiny models, keep an ingredient only if dev rises.

Usage: .venv/bin/python bench/soup.py --out runs/hd-soup CANDIDATE=DEV_NDCG10 ... [--test]
A candidate's known dev nDCG@10 (from its run's report) may follow '='; otherwise it is scored here.
Scores dev exactly as the pipeline does (catalog indexed in Qdrant Edge, bf16 encoding, ranx nDCG@10);
test is read only for the model dev chose, with --test.
"""
import argparse
import json
import logging
import time
from pathlib import Path

import hd

from searchtune.evaluation.metrics import evaluate_run
from searchtune.train.soup import greedy_soup

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
d, s = hd.load()
out = Path(a.out)
out.mkdir(parents=True, exist_ok=True)
log = {"dev": {}, "index": {}}


def run(model_path: str, part: str) -> dict:
    qrels, system = hd.score_model(d, s, model_path, part, out / "qdrant")
    log["index"][model_path] = system.timings["index"]
    return evaluate_run(qrels, system.run)


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

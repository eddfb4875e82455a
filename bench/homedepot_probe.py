"""Quick probe: train on Home Depot train queries with a given config, report dev (and optionally test).

Used to choose settings on dev; the final numbers come from bench/homedepot.py.
"""
import argparse
import json
import logging
import time
from pathlib import Path

from searchtune.config import DataConfig, TrainConfig
from searchtune.data import load_data, load_split_file
from searchtune.index import EdgeIndex
from searchtune.metrics import evaluate_run
from searchtune.models import load_sparse_encoder
from searchtune.search import hits_to_run, index_products, search_queries
from searchtune.training import train_sparse

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--lr", type=float, default=2e-4)
p.add_argument("--epochs", type=float, default=1)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--min-gain", type=int, default=None)
p.add_argument("--max-len", type=int, default=48)
p.add_argument("--no-negatives", action="store_true")
p.add_argument("--test", action="store_true")
p.add_argument("--model", default=None)
a = p.parse_args()
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "homedepot"
d = load_data(DataConfig(data=str(shared / "train.csv"), duplicate_products="first"))
s = load_split_file(shared / "split.json", d.queries)
cfg = TrainConfig(learning_rate=a.lr, epochs=a.epochs, batch_size=a.batch, min_positive_gain=a.min_gain,
                  max_seq_length=a.max_len, judged_negatives=not a.no_negatives, save_steps=100)
t = time.time()
path = a.model or train_sparse(d, s, cfg, a.out, resume=True, progress=False)
train_s = time.time() - t
m = load_sparse_encoder(path)
ix = EdgeIndex("probe", Path(a.out) / "qdrant")
ist = index_products(m, d.products, ix, progress=False)
res = {"config": vars(a), "train_seconds": train_s, "index": ist}
for part in ["dev"] + (["test"] if a.test else []):
    qids = getattr(s, part)
    qrels = d.eval_qrels(qids)
    hits, st = search_queries(m, ix, {q: d.queries[q] for q in qrels}, k=100)
    res[part] = evaluate_run(qrels, hits_to_run(hits))
    res[part + "_search"] = st
print(json.dumps(res, indent=1))
(Path(a.out) / "probe.json").write_text(json.dumps(res, indent=1))

"""Session 18: test read once, for dev's choice runs/hd-soup-s18w/w14x2 alone.

Exact command as run: .venv/bin/python bench/s18_weighted_test.py
"""
import json, logging, sys, time
sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
import hd
from searchtune.metrics import evaluate_run
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
d, s = hd.load()
t = time.time()
qrels, system = hd.score_model(d, s, "runs/hd-soup-s18w/w14x2", "test", "runs/hd-soup-s18w/qdrant")
r = evaluate_run(qrels, system.run)
print(json.dumps({"model": "runs/hd-soup-s18w/w14x2", "test": r, "queries": len(qrels), "seconds": round(time.time()-t)}), flush=True)

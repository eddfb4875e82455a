"""Session 18: the soup runs/hd-soup-s18/soup-1 with lineage 14 weighted 2 (and, apart, + lineage 13), scored on dev only.

Exact command as run: .venv/bin/python bench/s18_weighted_soup.py  (writes runs/hd-soup-s18w/; log runs/hd-soup-s18w.log)
"""
import json, logging, sys, time
sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
import hd
from searchtune.metrics import evaluate_run
from searchtune.soup import average_models
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
d, s = hd.load()
ing = json.load(open("runs/hd-soup-s18/soup-1/soup.json"))["ingredients"]
L14 = "runs/hd-L14/n/bm25/rounds/round-1/model"; L13 = "runs/hd-L13/m/bm25/rounds/round-1/model"
trials = {"w14x2": (ing, [1.0]*(len(ing)-1) + [2.0]), "plusL13": (ing + [L13], None)}
for name, (paths, w) in trials.items():
    out = average_models(paths, f"runs/hd-soup-s18w/{name}", weights=w)
    t = time.time()
    qrels, system = hd.score_model(d, s, str(out), "dev", "runs/hd-soup-s18w/qdrant")
    r = evaluate_run(qrels, system.run)
    print(json.dumps({"name": name, "paths": paths, "weights": w, "dev": r, "seconds": round(time.time()-t)}), flush=True)

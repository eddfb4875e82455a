"""Home Depot: scale a fine-tuned model's task vector (weights - base weights), chosen on dev.

Usage: .venv/bin/python bench/extrapolate.py --out runs/hd-extra --model SOUP --scales 1.25,1.5 [--test]

Averaging models (a soup) keeps the directions its ingredients agree on but shortens the update
(the mean of several deltas is shorter than each), so ``base + s * (model - base)`` with ``s > 1``
may recover what averaging took off ("task arithmetic", Ilharco et al. 2023); ``s < 1`` is WiSE-FT
(Wortsman et al. 2022). Each scale is scored on dev exactly as bench/soup.py scores a soup (catalog in
Qdrant Edge, bf16 encoding, ranx); ``--test`` reads test once, for the scale dev chose (scale 1, the
model itself, is in the running when ``--model-dev`` gives its dev score).
"""
import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

import torch

import hd
from searchtune.metrics import evaluate_run
from searchtune.models import load_sparse_encoder, resolve_model

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--out", required=True)
p.add_argument("--model", required=True, help="the fine-tuned model (or soup) whose update is scaled")
p.add_argument("--base", default="splade-tiny", help="the model every ingredient was fine-tuned from")
p.add_argument("--scales", default="1.25,1.5")
p.add_argument("--model-dev", type=float, default=None, help="the model's own dev nDCG@10 (scale 1), if known")
p.add_argument("--test", action="store_true")
a = p.parse_args()
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
d, s = hd.load()
out = Path(a.out)
out.mkdir(parents=True, exist_ok=True)
res_file = out / "extrapolate.json"
res = json.loads(res_file.read_text()) if res_file.exists() else {"dev": {}}
res.setdefault("commands", []).append(" ".join(["python", *sys.argv]))


def run(model_path: str, part: str) -> dict:
    qrels, system = hd.score_model(d, s, model_path, part, out / "qdrant")
    return evaluate_run(qrels, system.run)


def scaled(scale: float) -> str:
    path = out / f"scale-{scale}"
    if path.exists():
        return str(path)
    base = load_sparse_encoder(str(resolve_model(a.base))).state_dict()
    m = load_sparse_encoder(a.model)
    state = m.state_dict()
    new = {k: (base[k].float() + scale * (v.float() - base[k].float())).to(v.dtype) if v.is_floating_point() else v
           for k, v in state.items()}
    with torch.no_grad():
        m.load_state_dict(new)
    tmp = out / f"scale-{scale}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    m.save(str(tmp))
    (tmp / "extrapolate.json").write_text(json.dumps({"base": a.base, "model": a.model, "scale": scale}))
    tmp.replace(path)
    return str(path)


if a.model_dev is not None:
    res["dev"]["1.0"] = {"ndcg@10": a.model_dev, "model": a.model}
for sc in [float(x) for x in a.scales.split(",")]:
    if str(sc) in res["dev"]:
        continue
    t = time.time()
    path = scaled(sc)
    r = run(path, "dev")
    r["model"], r["seconds"] = path, round(time.time() - t, 1)
    res["dev"][str(sc)] = r
    logging.info("scale %.2f: dev nDCG@10 %.4f (%.0f s)", sc, r["ndcg@10"], r["seconds"])
    res_file.write_text(json.dumps(res, indent=1))
best = max(res["dev"], key=lambda k: res["dev"][k]["ndcg@10"])
res["chosen"] = {"scale": best, "model": res["dev"][best]["model"], "dev_ndcg@10": res["dev"][best]["ndcg@10"]}
logging.info("dev chose scale %s (%.4f)", best, res["dev"][best]["ndcg@10"])
if a.test and "test" not in res:
    res["test"] = run(res["chosen"]["model"], "test")
    res["test"]["model"] = res["chosen"]["model"]
    logging.info("test nDCG@10 %.4f (%s)", res["test"]["ndcg@10"], res["chosen"]["model"])
res_file.write_text(json.dumps(res, indent=1))

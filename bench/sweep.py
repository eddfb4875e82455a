"""Home Depot: several fine-tuning settings, ANCE rounds on each, a greedy soup, all chosen on dev; test read once.

Usage:
  .venv/bin/python bench/sweep.py --out runs/hd-sweep [--grid NAME:key=value,...]... [--ance-rounds 1]
                                  [--soup] [--test] [--deadline-min 8] [--export DIR] [--resume]

Each grid entry is a TrainConfig from the bench defaults (gain-2 positives with judged gain-0 negatives,
48-token titles) with the given fields changed, e.g. ``b256:batch_size=256,learning_rate=4e-4,epochs=2``; the mining fields in MINE_KEYS
(e.g. ``negatives_per_row=4``: four hard negatives in every training row) may be changed the same way.
The field ``start=MODEL`` skips round 0 and mines with MODEL first (e.g. a soup); ``negatives=bm25`` makes round 0 train on BM25-mined negatives instead of the judged ones (another
lineage for the soup). For each entry: round 0 trains from splade-tiny, then ``--ance-rounds`` rounds of mining
with the previous round's model (searchtune.mining.train_with_mining: the same code as ``searchtune pipeline --ance-rounds``).
Every model is scored on the dev queries only (catalog indexed in Qdrant Edge, ranx nDCG@10). With
``--soup`` a greedy weight average over all the models (searchtune.soup.greedy_soup) is chosen on dev.
The final model is the best on dev (a soup or a single model); with ``--test`` the test queries are read
once, for that model alone. Results go to OUT/sweep.json, written after every step.

Runs on whatever device torch finds (a GPU when there is one); ``--deadline-min`` stops starting new grid
entries after that many minutes, so a time-limited machine still finishes with a soup and a test figure.
``--resume`` continues an interrupted sweep in the same --out (a run longer than one session: give its grid
entry ``save_steps=50`` so little training is lost when it is stopped).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import platform
import sys
import tarfile
import time
from pathlib import Path

from searchtune.config import DataConfig, EvalConfig, MineConfig, TrainConfig
from searchtune.data import load_data, load_split_file
from searchtune.evaluate import bm25_index, model_run, score
from searchtune.index import EdgeIndex
from searchtune.metrics import evaluate_run
from searchtune.mining import train_with_mining
from searchtune.soup import greedy_soup

BENCH_DEFAULTS = dict(min_positive_gain=2, max_seq_length=48, save_steps=10_000, logging_steps=50)
# MineConfig fields a grid entry may change too (they shape the negatives of every round, round 0 included)
MINE_KEYS = {"negatives_per_row": int, "negatives_per_query": int, "window_start": int, "window_end": int,
             "top_k": int, "margin": float}


def parse_grid(spec: str) -> tuple[str, dict]:
    name, _, body = spec.partition(":")
    fields = {f.name: f.type for f in dataclasses.fields(TrainConfig)} | {"negatives": str, "start": str} | MINE_KEYS
    changes = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition("=")
        if key not in fields:
            sys.exit(f"--grid {spec}: {key} is not a TrainConfig or mining field ({', '.join(fields)})")
        changes[key] = yaml_value(value)
    return name, changes


def yaml_value(text: str):
    import yaml

    value = yaml.safe_load(text)
    if isinstance(value, str):  # YAML 1.1 reads 2e-4 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    return value


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--data-dir", default=os.environ.get("HD_DIR") or str(
        Path(__file__).resolve().parents[2] / "shared" / "data" / "homedepot"))
    p.add_argument("--grid", action="append", default=[])
    p.add_argument("--ance-rounds", type=int, default=1)
    p.add_argument("--soup", action="store_true")
    p.add_argument("--test", action="store_true", help="read the test queries once, for the model dev chose")
    p.add_argument("--deadline-min", type=float, default=None)
    p.add_argument("--encode-batch", type=int, default=512)
    p.add_argument("--export", default=None, help="write the chosen model as model.tar.part-N files here")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted sweep in --out: finished rounds are kept, mined negatives reused, "
                        "training goes on from its last checkpoint (add save_steps=50 to a grid entry that "
                        "needs frequent checkpoints; the bench default saves none)")
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    started = time.time()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    grid = [parse_grid(g) for g in a.grid] or [("a", {})]

    import torch
    import sentence_transformers
    import transformers

    res: dict = {"command": " ".join(sys.argv), "machine": machine(torch), "versions": {
        "torch": torch.__version__, "sentence-transformers": sentence_transformers.__version__,
        "transformers": transformers.__version__, "python": platform.python_version()},
        "defaults": BENCH_DEFAULTS, "grid": {}, "bm25": {}}
    if a.resume and (out / "sweep.json").exists():  # keep what the interrupted runs recorded
        before = json.loads((out / "sweep.json").read_text())
        res["grid"] = before.get("grid", {})
        # wall_seconds counts this run only; the time of the runs before it adds up here
        res["earlier_wall_seconds"] = before.get("earlier_wall_seconds", 0) + before.get("wall_seconds", 0)

    def save():
        res["wall_seconds"] = round(time.time() - started, 1)
        (out / "sweep.json").write_text(json.dumps(res, indent=1, default=str))

    d = load_data(DataConfig(data=str(Path(a.data_dir) / "train.csv"), duplicate_products="first"))
    s = load_split_file(Path(a.data_dir) / "split.json", d.queries)
    dev_qrels = d.eval_qrels(s.dev)
    bm25 = bm25_index(d, stem=True)
    res["bm25"]["dev"] = evaluate_run(dev_qrels, bm25.search({q: d.queries[q] for q in dev_qrels}, k=100))
    logging.info("BM25 (stemmed) dev nDCG@10 %.4f", res["bm25"]["dev"]["ndcg@10"])
    save()

    dev_scores: dict[str, float] = {}
    eval_cfg = EvalConfig(encode_batch_size=a.encode_batch)
    catalog = hashlib.sha1("\n".join(d.products["product_id"] + "\t" + d.products["text"]).encode()).hexdigest()[:16]

    def evaluate(model_path: str, part: str):
        """Score ``part`` with the model; the catalog is indexed once per model (ensure_index skips a
        collection that already holds this model and catalog), so mining and test reuse the dev index."""
        index = EdgeIndex("c" + hashlib.sha256(model_path.encode()).hexdigest()[:10], out / "qdrant")
        qrels = d.eval_qrels(getattr(s, part))
        system = model_run(part, model_path, d, {q: d.queries[q] for q in qrels}, index, k=100, config=eval_cfg,
                           progress=False, catalog_key=catalog)
        res.setdefault("timings", {})[f"{model_path}:{part}"] = system.timings
        return score(system, qrels, [10, 100]).metrics, index

    def dev_eval(model_path: str, collection: str):
        t = time.time()
        metrics, index = evaluate(model_path, "dev")
        dev_scores[model_path] = metrics["ndcg@10"]
        logging.info("dev %s: nDCG@10 %.4f (%.0f s)", model_path, metrics["ndcg@10"], time.time() - t)
        return metrics, index  # train_with_mining mines with it, then closes it

    for name, changes in grid:
        if a.deadline_min and time.time() - started > a.deadline_min * 60:
            logging.info("deadline: not starting %s", name)
            res["grid"][name] = {"changes": changes, "skipped": "deadline"}
            continue
        train_changes = {k: v for k, v in changes.items() if k not in ("negatives", "start", *MINE_KEYS)}
        mine_changes = {k: v for k, v in changes.items() if k in MINE_KEYS}
        cfg = TrainConfig(**{**BENCH_DEFAULTS, **train_changes})
        t = time.time()
        rounds = []
        start = changes.get("start")  # e.g. a soup: ANCE rounds continue from it instead of a new round 0
        if changes.get("negatives") == "bm25":  # round 0 on BM25-mined negatives, then ANCE from it
            first = train_with_mining(d, s, cfg, MineConfig(source="bm25", **mine_changes), out / name / "bm25",
                                      dev_eval=dev_eval, progress=False, resume=a.resume)
            rounds += first["rounds"]
            start = first["rounds"][-1]["model"]
        summary = train_with_mining(d, s, cfg, MineConfig(source="model", rounds=a.ance_rounds, start_model=start,
                                                          patience=a.ance_rounds + 1, **mine_changes),
                                    out / name, dev_eval=dev_eval, progress=False, resume=a.resume)
        rounds += [r for r in summary["rounds"] if r["source"] != "given"]
        for r in rounds:  # rounds finished before a resume were not re-scored through dev_eval
            dev_scores.setdefault(r["model"], r["dev"]["ndcg@10"])
        res["grid"][name] = {"changes": changes, "seconds": round(time.time() - t, 1), "rounds": [
            {"round": r["round"], "model": r["model"], "dev": r["dev"], "timings": r["timings"],
             "training": json.loads((Path(r["model"]) / "training_stats.json").read_text()),
             "mining": {k: v for k, v in r["mining"].items() if not isinstance(v, (list, dict))}}
            for r in rounds]}
        save()

    final, final_dev = max(dev_scores.items(), key=lambda kv: kv[1])
    if a.soup and len(dev_scores) > 1:
        t = time.time()

        def soup_score(path: str) -> float:
            metrics, index = dev_eval(path, "")
            index.close()
            return metrics["ndcg@10"]

        soup = greedy_soup(list(dev_scores), out / "soup", soup_score, scores=dict(dev_scores))
        soup["seconds"] = round(time.time() - t, 1)
        res["soup"] = soup
        final, final_dev = soup["model"], soup["score"]
        save()
    res["final"] = {"model": final, "dev_ndcg@10": final_dev}
    logging.info("chosen on dev: %s (%.4f)", final, final_dev)
    if a.test:
        test_qrels = d.eval_qrels(s.test)
        res["bm25"]["test"] = evaluate_run(test_qrels, bm25.search({q: d.queries[q] for q in test_qrels}, k=100))
        res["final"]["test"], index = evaluate(final, "test")
        index.close()
        ratio = res["final"]["test"]["ndcg@10"] / res["bm25"]["test"]["ndcg@10"] - 1
        res["final"]["test_vs_bm25"] = round(100 * ratio, 2)
        logging.info("TEST (read once): %s nDCG@10 %.4f (%+.1f%% vs BM25 %.4f)", final,
                     res["final"]["test"]["ndcg@10"], 100 * ratio, res["bm25"]["test"]["ndcg@10"])
    save()
    if a.export:
        export(final, Path(a.export))


def machine(torch) -> str:
    cpu = f"{os.cpu_count()} CPU cores"
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} GPU, {cpu}"
    return f"CPU only, {cpu}"


def export(model_path: str, dest: Path, part_mb: int = 15) -> None:
    """The chosen model as a tar split into parts small enough to copy back from a lent machine."""
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / "model.tar"
    with tarfile.open(tmp, "w") as tar:
        for f in sorted(Path(model_path).iterdir()):
            if f.is_file() or f.is_dir():
                tar.add(f, arcname=f"model/{f.name}")
    data = tmp.read_bytes()
    tmp.unlink()
    size = part_mb * 1024 * 1024
    for i in range(0, len(data), size):
        (dest / f"model.tar.part-{i // size}").write_bytes(data[i:i + size])


if __name__ == "__main__":
    main()

"""`searchtune serve` under load, on loopback: Home Depot's catalog, each system at 1, 8 and 32 clients.

Serving speed does not depend on what a model learned, so the systems are built from the bundled models
(a tuned model has the same shape): full SPLADE (splade-tiny), its inference-free form (the IDF query table
with splade-tiny documents), BM25 in Qdrant, their hybrid (RRF), and the hybrid with a MiniLM cross-encoder
over the top 50. The collections are built once in OUT and reused. Each level runs DURATION seconds of
closed-loop clients (each sends its next query when the last is answered), cycling over the test queries;
then a soak of SOAK seconds at 8 clients on the inference-free hybrid, its memory read before and after.

    .venv/bin/python bench/serve.py --out runs/serve [--duration 15] [--soak 300] [--levels 1,8,32] [--cache-size 0]
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def build(out: Path) -> dict[str, Path]:
    """The collections and the system files (once)."""
    from hd import load

    from searchtune.data import SearchData
    from searchtune.index import EdgeIndex
    from searchtune.index import collection as col
    from searchtune.inference_free import make_inference_free
    from searchtune.models import load_encoder
    from searchtune.rerank.model import load_reranker
    from searchtune.system import Reranker, System

    d, split = load()
    out.mkdir(parents=True, exist_ok=True)
    qdrant = out / "qdrant"
    if_dir, rr_dir = out / "splade-inference-free", out / "reranker"
    if not (if_dir / "modules.json").exists():
        make_inference_free(load_encoder("splade-tiny"), d.products["text"].tolist()).save(str(if_dir))
    if not (rr_dir / "config.json").exists():
        load_reranker("minilm", max_length=64).save_pretrained(str(rr_dir))
    data = SearchData(d.products)
    for name, model in (("splade", "splade-tiny"), ("inference-free", str(if_dir))):
        with EdgeIndex(name, qdrant) as ix:
            col.build(ix, data, col.Models(sparse_tuned=model, max_length=48), bm25=True, progress=True)
    common = {"data_dir": str(qdrant), "max_length": 48}
    systems = {
        "BM25 (Qdrant)": System(vectors=("bm25",), collection="splade", **common),
        "SPLADE": System(vectors=("sparse_tuned",), models={"sparse_tuned": "splade-tiny"}, collection="splade",
                         **common),
        "inference-free hybrid": System(vectors=("sparse_tuned", "bm25"), models={"sparse_tuned": str(if_dir)},
                                        collection="inference-free", **common),
        "SPLADE + BM25 (RRF)": System(vectors=("sparse_tuned", "bm25"), models={"sparse_tuned": "splade-tiny"},
                                      collection="splade", **common),
        "SPLADE + BM25, MiniLM reranker on the top 50": System(
            vectors=("sparse_tuned", "bm25"), models={"sparse_tuned": "splade-tiny"}, collection="splade",
            reranker=Reranker(str(rr_dir), k=50, weight=0.3), **common),
    }
    files = {}
    for label, system in systems.items():
        path = out / "systems" / (label.split(",")[0].replace(" ", "-").replace("+", "plus").replace("(", "")
                                  .replace(")", "") + ".json")
        path.parent.mkdir(exist_ok=True)
        system.save(path)
        files[label] = path
    (out / "queries.json").write_text(json.dumps([d.queries[q] for q in split.test]))
    return files


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(system: Path, out: Path, cache_size: int = 0) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([str(ROOT / ".venv/bin/searchtune"), "serve", str(system), "--port", str(port),
                             "--log", str(out / "served.jsonl"), "--cache-size", str(cache_size), "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for _ in range(1200):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return proc, port
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read())
        time.sleep(0.1)
    raise RuntimeError("the server did not come up")


def closed_loop(port: int, queries: list[str], first: int, step: int, running, record) -> None:
    """One closed-loop client: sends query ``first``, ``first + step``… (cycling) while ``running()``, each
    when the last is answered, and calls ``record(sent_at, seconds, ok)`` for every one."""
    conn, n = http.client.HTTPConnection("127.0.0.1", port, timeout=60), first
    while running():
        body = json.dumps({"query": queries[n % len(queries)], "k": 10})
        n += step
        t = time.perf_counter()
        try:
            conn.request("POST", "/search", body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            ok = r.status == 200
        except OSError:
            ok, conn = False, http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        record(t, time.perf_counter() - t, ok)


def load_level(port: int, queries: list[str], clients: int, seconds: float) -> dict:
    """Closed-loop clients for ``seconds``: q/s, latency percentiles, errors."""
    latencies, errors, lock = [], [0], threading.Lock()
    stop = time.perf_counter() + seconds

    def record(sent_at: float, took: float, ok: bool) -> None:
        with lock:
            if ok:
                latencies.append(took)
            else:
                errors[0] += 1

    def client(i: int) -> None:
        closed_loop(port, queries, i, clients, lambda: time.perf_counter() < stop, record)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ms = sorted(x * 1000 for x in latencies)

    def pct(p):
        return round(ms[min(len(ms) - 1, int(p * (len(ms) - 1)))], 2) if ms else None

    return {"clients": clients, "queries": len(ms), "qps": round(len(ms) / wall, 1), "p50_ms": pct(0.5),
            "p95_ms": pct(0.95), "p99_ms": pct(0.99), "errors": errors[0],
            "mean_ms": round(statistics.fmean(ms), 2) if ms else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/serve"))
    ap.add_argument("--duration", type=float, default=15)
    ap.add_argument("--soak", type=float, default=300)
    ap.add_argument("--levels", default="1,8,32")
    ap.add_argument("--cache-size", type=int, default=0, help="The server's query-vector cache (0: every query "
                    "is encoded, as a catalog's long tail is; the test queries repeat within a run)")
    args = ap.parse_args()
    files = build(args.out)
    queries = json.loads((args.out / "queries.json").read_text())
    levels = [int(x) for x in args.levels.split(",")]
    from searchtune.evaluation.report import machine

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")
    bf16 = "avx512_bf16" in Path("/proc/cpuinfo").read_text()
    result = {"machine": f"{machine()}; {cpu}; {'bf16' if bf16 else 'float32'}", "cache_size": args.cache_size,
              "systems": {}}
    for label, path in files.items():
        proc, port = start(path, args.out, args.cache_size)
        try:
            load_level(port, queries, 4, 3)  # warm-up: models, numba
            rows = [load_level(port, queries, n, args.duration) for n in levels]
            rows[0]["rss_mb"] = round(rss_mb(proc.pid))
            result["systems"][label] = rows
            for row in rows:
                print(f"{label:48s} {row['clients']:>3} clients: {row['qps']:>7} q/s  p50 {row['p50_ms']} ms  "
                      f"p95 {row['p95_ms']} ms  p99 {row['p99_ms']} ms  errors {row['errors']}", flush=True)
        finally:
            proc.terminate()
            proc.wait(30)
    if args.soak:
        label = "inference-free hybrid"
        proc, port = start(files[label], args.out, args.cache_size)
        try:
            load_level(port, queries, 4, 3)
            before = rss_mb(proc.pid)
            samples, done = [], threading.Event()

            def sample():  # memory every 30 s: flat, or growing
                while not done.wait(30):
                    samples.append(round(rss_mb(proc.pid)))

            sampler = threading.Thread(target=sample)
            sampler.start()
            soak = load_level(port, queries, 8, args.soak)
            done.set()
            sampler.join()
            soak.update(system=label, rss_mb_before=round(before), rss_mb_every_30s=samples,
                        rss_mb_after=round(rss_mb(proc.pid)))
            result["soak"] = soak
            print(f"soak {label}: {soak}", flush=True)
        finally:
            proc.terminate()
            proc.wait(30)
    (args.out / f"serve-cache{args.cache_size}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result["machine"]))


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Icecat electronics with its fixed split (../shared/data/icecat): BM25, the untuned model, the model tuned on
# the real training queries only, and tuned on them plus synthetic queries (the offline generator for 2,000
# products, the pipeline's few-real-queries default). Extra flags pass through to both runs; a rerun resumes.
#   bash bench/icecat.sh OUT [flags]
set -euo pipefail
OUT=${1:?usage: bench/icecat.sh OUT [flags]}
shift
ICECAT=${ICECAT_DIR:-../shared/data/icecat}
data=(--catalog "$ICECAT/products.jsonl.gz" --queries "$ICECAT/judgments.csv" --split "$ICECAT/split.json")
run() {  # run NAME FLAGS...
  local dir="$OUT/$1"
  shift
  if [ -f "$dir/report.json" ]; then return; fi
  if [ -d "$dir" ]; then set -- "$@" --resume; fi
  searchtune pipeline "${data[@]}" --out "$dir" "$@"
}
run real --augment-below 0 "$@"
run real+synthetic --augment-below 100000 "$@"
python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
rows = []
for variant in ("real", "real+synthetic"):
    r = json.loads((Path(sys.argv[1]) / variant / "report.json").read_text())
    ci, sig = r["ndcg@10_95ci"], r["significance"]["results"]
    names = ["bm25", "base", "finetuned"] if variant == "real" else ["finetuned"]
    for name in names:
        label = {"bm25": "BM25 (stemmed)", "base": "SPLADE untuned"}.get(name, f"SPLADE tuned, {variant}")
        marks = "".join(m for ref, m in (("bm25", "†"), ("base", "‡")) if sig.get(name, {}).get(ref, {}).get("significant"))
        m = r["metrics"][name]
        rows.append(f"| {label}{marks} | {m['ndcg@10']:.4f} | {ci[name][0]:.3f}–{ci[name][1]:.3f} | "
                    f"{m['recall@100']:.4f} | {r['change_vs_bm25_percent'].get(name, {}).get('ndcg@10', 0):+.1f}% |")
    print(f"{variant}: {r['split']['train']} training queries, {r['split']['test_evaluated']} test queries evaluated")
print("| system | nDCG@10 | 95% CI | R@100 | vs BM25 |\n|---|---:|---:|---:|---:|")
print("\n".join(rows))
PY

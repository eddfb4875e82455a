#!/usr/bin/env bash
# Learning from clicks on Home Depot (see BENCHMARKS.md, "Learning from clicks"): simulated logs over BM25
# rankings of the *training* queries only, a model trained from each log alone, evaluated on the human-judged
# test queries. Usage: bash bench/events.sh OUT_DIR [impressions ...]   (default 10000 100000 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
HD=../shared/data/homedepot
OUT=${1:?usage: bench/events.sh OUT_DIR [impressions ...]}
shift
SIZES=${*:-10000 100000 1000000}
mkdir -p "$OUT"
for N in $SIZES; do
  LOG="$OUT/logs/hd-$N.parquet"
  [ -f "$LOG" ] || .venv/bin/searchtune events simulate --data "$HD/train.csv" --split "$HD/split.json" \
    --duplicate-products first --impressions "$N" --seed 42 --out "$LOG"
  # The events' own test period is a by-product here: every logged query is a training query of the human
  # split, so its later searches are trained on (--train-on-heldout-queries); the human-judged test queries,
  # never logged, are the measure.
  .venv/bin/searchtune pipeline --data "$HD/train.csv" --split "$HD/split.json" --duplicate-products first \
    --events "$LOG" --train-on-heldout-queries --max-seq-length 48 --data-dir "$OUT/qdrant" \
    --out "$OUT/run-$N" --resume
done
.venv/bin/python bench/events.py "$OUT" $SIZES

#!/usr/bin/env bash
# Home Depot benchmark with the shared protocol and split (see BENCHMARKS.md).
# Usage: bash bench/homedepot.sh OUT_DIR [extra searchtune pipeline flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
HD=../shared/data/homedepot
OUT=${1:?usage: bench/homedepot.sh OUT_DIR [flags]}
shift
.venv/bin/searchtune pipeline --data "$HD/train.csv" --split "$HD/split.json" --duplicate-products first \
  --out "$OUT" --min-positive-gain 2 --max-seq-length 48 --resume "$@"

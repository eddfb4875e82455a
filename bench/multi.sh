#!/usr/bin/env bash
# One model for several catalogs (BENCHMARKS.md, "One model for several catalogs"): Icecat-only and
# Home Depot + Icecat models trained with train-multi (batches drawn proportionally, round robin, and a
# curriculum: Icecat first, Home Depot last), then
# the matrix on Home Depot, Icecat and SciFact (never trained on). HD_ONLY: a model trained on Home Depot alone with its protocol
# (bench/homedepot.sh OUT/hd). A rerun resumes.
#   bash bench/multi.sh OUT [HD_ONLY_MODEL]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bench/multi.sh OUT [HD_ONLY_MODEL]}
HD_ONLY=${2:-$OUT/hd/model}
[ -d "$HD_ONLY" ] || bash bench/homedepot.sh "$OUT/hd"
train() {  # train NAME FILE [flags]
  local name=$1 file=$2
  shift 2
  [ -f "$OUT/$name/model/training_stats.json" ] && return
  local resume=()
  [ -d "$OUT/$name" ] && resume=(--resume)
  .venv/bin/searchtune train-multi --sets "$file" --out "$OUT/$name" ${resume[@]+"${resume[@]}"} "$@"
}
train icecat-only bench/multi/icecat.yaml
train multi bench/multi/all.yaml
train multi-round-robin bench/multi/all.yaml --sampler round_robin
train curriculum bench/multi/all.yaml --curriculum   # Icecat first, then the target (the first set, Home Depot)
.venv/bin/searchtune matrix --sets bench/multi/all.yaml --out "$OUT/matrix" --candidate "hd-only=$HD_ONLY" \
  --candidate "icecat-only=$OUT/icecat-only/model" --candidate "multi=$OUT/multi/model" \
  --candidate "multi-round-robin=$OUT/multi-round-robin/model" --candidate "curriculum=$OUT/curriculum/model"

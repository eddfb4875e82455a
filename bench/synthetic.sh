#!/usr/bin/env bash
# Home Depot: train splade-tiny on synthetic queries only, evaluate on the real test queries (shared split).
# Usage: bash bench/synthetic.sh SOURCE N_PRODUCTS [extra pipeline flags]
#   SOURCE: offline, or a .gguf file / provider:model for an LLM. The same seed picks the same N products
#   for every source (the sample is a prefix of one hashed order), so sources compare on equal products.
set -euo pipefail
cd "$(dirname "$0")/.."
HD=../shared/data/homedepot
SOURCE=${1:?usage: bench/synthetic.sh SOURCE N_PRODUCTS [flags]}; N=${2:?N_PRODUCTS}; shift 2
NAME=$( [ "$SOURCE" = offline ] && echo offline || basename "$SOURCE" .gguf | tr ':/' '--' )
Q=runs/syn/hd-$NAME-$N.jsonl
mkdir -p runs/syn
LLM=(); [ "$SOURCE" = offline ] || LLM=(--llm "$SOURCE" --cache runs/syn/llm-cache.sqlite)
# (seconds, tokens and counts go to ${Q%.jsonl}.stats.json; cached answers are reused, not paid twice)
.venv/bin/searchtune generate-queries --data "$HD/train.csv" --duplicate-products first \
  --max-products "$N" --out "$Q" "${LLM[@]}"
OUT=runs/hd-syn-$NAME-$N
mkdir -p "$OUT/runs"
# the BM25 and untuned runs do not depend on the training queries: reuse them when a spine run has them
for f in bm25 bm25-unstemmed base; do cp runs/hd-ance/runs/$f.*.json "$OUT/runs/" 2>/dev/null || true; done
bash bench/homedepot.sh "$OUT" --synthetic-queries "$Q" "$@"

#!/usr/bin/env bash
# On a machine with a CUDA GPU: one epoch of training on Home Depot and the catalog encoded into a collection,
# each on the GPU, with their speeds. Set up first with the CUDA build of torch (docs/scaling.md):
#   make setup TORCH='torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128'
# Usage: bash bench/gpu_smoke.sh [OUT_DIR]   (HD_DIR defaults to ../shared/data/homedepot)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/gpu-smoke}
HD=${HD_DIR:-../shared/data/homedepot}
.venv/bin/python - <<'PY'
import torch
from searchtune.evaluation.report import machine
if not torch.cuda.is_available():
    raise SystemExit(f"no GPU that torch can use (torch {torch.__version__}, CUDA {torch.version.cuda}): "
                     "install the CUDA build of torch, see docs/scaling.md")
print(machine(), "|", torch.cuda.get_device_name(0), "| bf16:", torch.cuda.is_bf16_supported())
PY
data=(--data "$HD/train.csv" --split "$HD/split.json" --duplicate-products first)
.venv/bin/searchtune train "${data[@]}" --device cuda --out "$OUT" --min-positive-gain 2 --max-seq-length 48 \
  --batch-size 64 --resume
started=$SECONDS
.venv/bin/searchtune index "${data[@]}" --device cuda --model "$OUT/model" --max-length 48 \
  --collection gpu-smoke --data-dir "$OUT/qdrant"
echo "indexing: 54,667 products (SPLADE + BM25) in $((SECONDS - started)) s, model loading included"
.venv/bin/python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
stats = json.loads((out / "model" / "training_stats.json").read_text())
print(f"training: {stats['pairs']:,} rows in {stats['seconds']:.0f} s, {stats['pairs_per_second']:.0f} rows/s, "
      f"precision {stats['precision']}")
PY

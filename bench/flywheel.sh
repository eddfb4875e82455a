#!/usr/bin/env bash
# One turn of the loop, end to end, nothing hand-copied between the steps (BENCHMARKS.md, "One turn of the
# loop"): a run on the bundled example; its chosen system served with a log; simulated shoppers searching its
# training queries through HTTP and clicking by a click model (`events replay`); the server's log imported; a
# retrain from the previous model on those logs; the two models compared on the logged traffic; the served
# collection swapped to the new model (blue-green, checked on dev) while the server runs; both models on the
# human-judged test queries, which no step ever searched or trained on.
#   bash bench/flywheel.sh OUT [SEARCHES]     (default 3000 searches)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bench/flywheel.sh OUT [SEARCHES]}
SEARCHES=${2:-3000}
ST=.venv/bin/searchtune
DATA=(--catalog examples/catalog.csv --queries examples/queries.csv)
rm -rf "$OUT" && mkdir -p "$OUT"

# 1. the first run, and the system it chose, served
$ST pipeline "${DATA[@]}" --config examples/demo.yaml --out "$OUT/run0" -q
PORT=$(.venv/bin/python -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
$ST serve "$OUT/run0" --port "$PORT" --log "$OUT/served.jsonl" -q &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
URL="http://127.0.0.1:$PORT"
until curl -sf "$URL/health" > /dev/null; do kill -0 $SERVER; sleep 0.2; done
COLLECTION=$(.venv/bin/python -c "import json; print(json.load(open('$OUT/run0/system.json'))['collection'])")

# 2. shoppers on the live server; 3. what it served and what they did, imported
$ST events replay "${DATA[@]}" --url "$URL" --searches "$SEARCHES"
$ST events import "$OUT/served.jsonl" "${DATA[@]}" --store "$OUT/events"

# 4. a retrain from the previous model on the logs: the judged dev queries choose, the judged test is reported.
# Every logged query is a training query of the judged split, so the logs' own later periods are trained on.
$ST pipeline "${DATA[@]}" --config examples/demo.yaml --events "$OUT/events" --model "$OUT/run0/model" \
  --train-on-heldout-queries --out "$OUT/run1" -q

# 5. the two models on the logged traffic (team-draft interleaving through the click model fitted on the log)
$ST compare --candidate "$OUT/run0/model" --candidate "$OUT/run1/model" --events "$OUT/events" \
  "${DATA[@]}" --out "$OUT/compare"

# 6. the served collection swapped to the new model while the server answers (refused if dev says it is worse)
if $ST index "${DATA[@]}" --collection "$COLLECTION" --data-dir "$OUT/run0/qdrant" --model "$OUT/run1/model" \
    --max-length 32 -q > "$OUT/swap.txt" 2>&1; then
  VERSION=$(.venv/bin/python -c "import json; print(json.load(open('$OUT/run0/qdrant/aliases.json'))['$COLLECTION'])")
  for _ in $(seq 600); do
    curl -s -X POST "$URL/search" -H 'Content-Type: application/json' -d '{"query": "drill"}' > /dev/null
    curl -s "$URL/info" | grep -q "\"version\":\"$VERSION\"" && break
    sleep 0.1
  done
  curl -s "$URL/info" | grep -q "\"version\":\"$VERSION\"" && echo "swap: the server now searches $VERSION"
else
  echo "swap refused: $(tail -n 1 "$OUT/swap.txt")"
fi

# 7. both models on the human-judged test queries
.venv/bin/python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
before, after = (json.loads((out / r / "report.json").read_text()) for r in ("run0", "run1"))
cmp = json.loads((out / "compare" / "compare.json").read_text())
print(f"judged test queries: {before['split']['test_evaluated']}")
print("| model | test nDCG@10 |\n|---|---:|")
print(f"| BM25 | {before['metrics']['bm25']['ndcg@10']:.4f} |")
print(f"| run0: trained on the judged training queries | {before['metrics']['finetuned']['ndcg@10']:.4f} |")
print(f"| run1: run0 retrained on the served logs | {after['judged_metrics']['finetuned']['ndcg@10']:.4f} |")
print(f"logs: {after['events']['searches']:,} searches, {after['events']['clicks']:,} clicks; "
      f"interleaving wins {cmp['wins']} over {cmp['searches']:,} logged searches")
PY

"""Session 18: the soup runs/hd-soup-s18/soup-1 with lineage 14 weighted 2 (and, apart, + lineage 13), scored on dev only.

Exact command as run: .venv/bin/python bench/s18_weighted_soup.py  (writes runs/hd-soup-s18w/; log runs/hd-soup-s18w.log)
Kept so that command still works; it is bench/weighted_soup.py with session 18's two trials, same paths and weights.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import weighted_soup  # noqa: E402

L14, L13 = "runs/hd-L14/n/bm25/rounds/round-1/model", "runs/hd-L13/m/bm25/rounds/round-1/model"
OTHERS = ["runs/hd-L1/a/rounds/round-1/model", "runs/hd-L2/b/bm25/rounds/round-1/model",
          "runs/hd-L2/b/rounds/round-1/model", "runs/hd-L3/s/rounds/round-1/model",
          "runs/hd-L7/f/rounds/round-0/model", "runs/hd-L11/j/bm25/rounds/round-1/model"]  # soup-1 without L14
sys.argv = [sys.argv[0], "--out", "runs/hd-soup-s18w",
            "--trial", "w14x2=" + ",".join(OTHERS + [L14 + "*2"]),
            "--trial", "plusL13=" + ",".join(OTHERS + [L14, L13])]
weighted_soup.main()

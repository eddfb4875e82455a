"""Session 18: test read once, for dev's choice runs/hd-soup-s18w/w14x2 alone.

Exact command as run: .venv/bin/python bench/s18_weighted_test.py
Kept so that command still works; it is bench/weighted_soup.py --out runs/hd-soup-s18w --test w14x2.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import weighted_soup  # noqa: E402

sys.argv = [sys.argv[0], "--out", "runs/hd-soup-s18w", "--test", "w14x2"]
weighted_soup.main()

"""Shared by the Home Depot bench scripts: the data with its fixed split, and one way to score a model.

Scoring is the pipeline's own (searchtune.evaluation.systems.model_run): the catalog is indexed in Qdrant Edge
once per model (a collection that already holds this model and catalog is reused), bf16 encoding where
the CPU has it, ranx metrics. Scripts run as ``python bench/X.py``, so ``import hd`` works.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from searchtune.config import DataConfig, EvalConfig
from searchtune.data import load_data, load_split_file
from searchtune.evaluation.systems import model_run
from searchtune.index import EdgeIndex

DATA_DIR = os.environ.get("HD_DIR") or str(Path(__file__).resolve().parents[2] / "shared" / "data" / "homedepot")


def load(data_dir: str = DATA_DIR):
    """The Home Depot data (15 ids with two titles keep the first) and the shared split.json."""
    d = load_data(DataConfig(data=str(Path(data_dir) / "train.csv"), duplicate_products="first"))
    return d, load_split_file(Path(data_dir) / "split.json", d.queries)


def score_model(d, s, model_path: str, part: str, qdrant_dir: Path, *, k: int = 100,
                config: EvalConfig | None = None):
    """Search ``part``'s ("dev" or "test") evaluable queries with the model; return (qrels, SystemRun)."""
    index = EdgeIndex("c" + hashlib.sha256(model_path.encode()).hexdigest()[:10], qdrant_dir)
    try:
        qrels = d.eval_qrels(getattr(s, part))
        system = model_run(part, model_path, d, {q: d.queries[q] for q in qrels}, index, k=k,
                           config=config or EvalConfig(), progress=False, role="tuned")
    finally:
        index.close()
    return qrels, system

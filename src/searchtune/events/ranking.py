"""Each logged query ranked by a model (or BM25), for comparing models on the logged traffic."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from ..config import Config
from ..data import SearchData
from ..data.catalog import normalise_query


def rank_queries(ref: str, data: SearchData, events: pd.DataFrame, config: Config, data_dir: Path, *,
                 k: int = 10, progress: bool = True) -> dict[str, list[str]]:
    """query key → the top ``k`` product ids of ``ref`` (``bm25``, or a model indexed in ``data_dir``; an
    index built earlier from the same model and catalog is reused)."""
    from ..evaluation.bm25 import bm25_index
    from ..evaluation.systems import model_run
    from ..index import open_index
    from ..models import trained_config

    texts = dict(zip(events["query"].map(normalise_query), events["query"]))
    if ref == "bm25":
        run = bm25_index(data, stem=True).search(texts, k=k)
    else:
        max_length = (trained_config(ref) or {}).get("max_seq_length") or config.train.max_seq_length
        name = "compare-" + hashlib.sha1(str(Path(ref).resolve() if Path(ref).exists() else ref).encode()).hexdigest()[:10]
        with open_index(name, config.index, data_dir=data_dir) as index:
            run = model_run(name, ref, data, texts, index, k=k, config=config.evaluate, progress=progress,
                            role="base", max_length=max_length).run
    return {q: [p for p, _ in sorted(hits.items(), key=lambda kv: -kv[1])[:k]] for q, hits in run.items()}

"""The Python API in one call: ``searchtune.finetune("products.csv", queries="judgments.csv")``."""

from __future__ import annotations

from pathlib import Path

from .config import Config, update
from .rundir import RunDir


def finetune(data: str | Path, queries: str | Path | None = None, *, out: str | Path = "searchtune-run",
             split: str | Path | None = None, evaluate: bool = True, resume: bool = False, progress: bool = True,
             config: Config | None = None, llm: str | None = None, synthetic_queries: str | Path | None = None,
             **train) -> Path:
    """Fine-tune a SPLADE model and return the folder of the saved model.

    ``data`` is a catalog (with ``queries`` as the judgments file) or one file
    with query, product and label columns. Keyword arguments set
    :class:`~searchtune.config.TrainConfig` fields (``model``, ``learning_rate``,
    ``epochs``…). With ``evaluate=True`` the whole pipeline runs and
    ``OUT/report.md`` compares BM25, the untuned and the tuned model.

    A catalog without queries gets synthetic ones (``llm="openai:gpt-4o-mini"``,
    a ``.gguf`` path, or the offline generator when ``llm`` is None); with real
    queries, ``llm`` or ``synthetic_queries`` trains on synthetic queries and
    evaluates on the real held-out ones (see :mod:`searchtune.synthetic`).
    """
    from .pipeline import Pipeline

    config = config or Config()
    if queries is None:
        config.data.data = str(data)
    else:
        config.data.catalog, config.data.queries = str(data), str(queries)
    if split is not None:
        config.data.split = str(split)
    update(config.train, train, where="finetune()")
    update(config.generate, {"llm": llm, "queries_file": None if synthetic_queries is None else str(synthetic_queries)},
           where="finetune()")
    pipeline = Pipeline(config, out, resume=resume, progress=progress)
    if evaluate:
        pipeline.run()
        return RunDir(out).model
    return pipeline.train(pipeline.split(augment=True)).model

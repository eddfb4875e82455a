"""The BM25 baseline on every benchmark data set: reading the models' cut text, every field whole, and what dev chose.

    python bench/bm25.py [--shared ../shared/data]

Test nDCG@10 of stemmed BM25 (bm25s, English stop words, Snowball) on each set's test queries with a relevant
product: the bundled example and Icecat by the seeded split the pipeline uses with no flag, Home Depot and Icecat
by their fixed split files, SciFact on its 300 test claims (no dev: every field). The last column is the
baseline of every report: every field whole, or without the attributes when the set's dev queries score BM25
higher so (searchtune.evaluation.bm25.choose_fields). BENCHMARKS.md, "The baseline".
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from searchtune.config import DataConfig
from searchtune.data import SearchData, full_texts, load_data, split_for
from searchtune.evaluation.bm25 import BM25Baseline, choose_fields
from searchtune.evaluation.metrics import evaluate_run
from searchtune.precision import cpu_name

ROOT = Path(__file__).resolve().parents[1]


def sets(shared: Path) -> dict[str, DataConfig]:
    hd, ice, sci = shared / "homedepot", shared / "icecat", shared / "scifact"
    return {
        "bundled example (seeded split)": DataConfig(catalog=str(ROOT / "examples/catalog.csv"),
                                                     queries=str(ROOT / "examples/queries.csv")),
        "Home Depot (split.json)": DataConfig(data=str(hd / "train.csv"), split=str(hd / "split.json"),
                                              duplicate_products="first"),
        "Icecat (split.json)": DataConfig(catalog=str(ice / "products.jsonl.gz"), queries=str(ice / "judgments.csv"),
                                          split=str(ice / "split.json")),
        "Icecat (seeded split, no flag)": DataConfig(catalog=str(ice / "products.jsonl.gz"),
                                                     queries=str(ice / "judgments.csv")),
        "SciFact (test claims)": DataConfig(catalog=str(sci / "corpus.jsonl"), queries=str(sci / "qrels/test.tsv"),
                                            query_texts=str(sci / "queries.jsonl")),
    }


def held_out(config: DataConfig, data: SearchData) -> tuple[list[str], list[str]]:
    """Dev and test query ids with a relevant product."""
    if config.query_texts:  # SciFact: every judged claim is a test query (never trained on), no dev
        return [], [q for q in data.queries if data.positives(q)]
    split = split_for(config, data.queries)
    return split.dev, [q for q in split.test if data.positives(q)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    shared = Path(parser.parse_args().shared)
    print(f"{cpu_name()}; bm25s stemmed, test nDCG@10\n")
    print("| data set | test queries | the models' text | every field whole | without attributes | "
          "the baseline (dev's choice) |\n|---|---:|---:|---:|---:|---|")
    for name, config in sets(shared).items():
        t = time.perf_counter()
        data = load_data(config)
        dev, test = held_out(config, data)
        queries = {q: data.queries[q] for q in test}
        qrels = {q: data.qrels[q] for q in queries}
        cells = []
        for texts in (data.products["text"].tolist(), full_texts(data.products),
                      full_texts(data.products, attributes=False)):
            run = BM25Baseline(stem=True).index(data.product_ids, texts).search(queries, k=100)
            cells.append(f"{evaluate_run(qrels, run)['ndcg@10']:.4f}")
        _, chosen = choose_fields(data, dev)
        choice = "every field" if chosen is None else \
            f"{chosen['fields']} (dev {', '.join(f'{v:.4f}' for v in chosen['dev_ndcg@10'].values())})"
        print(f"| {name} | {len(queries):,} | {' | '.join(cells)} | {choice} |  ({time.perf_counter() - t:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()

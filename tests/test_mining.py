"""Hard-negative mining: the selection rules, Qdrant Edge and BM25 sources, rounds and resume."""

import json
from pathlib import Path

import pandas as pd
import pytest

from searchtune.config import Config, MineConfig, TrainConfig, parse_window
from searchtune.data import SearchData, Split
from searchtune.errors import SearchtuneError
from searchtune.train.negatives import known_positives, mine, pools, select_negatives
from searchtune.train.rounds import train_with_mining
from searchtune.train.rows import training_rows


def check_config(mine: MineConfig) -> None:
    Config(mine=mine).validate()

KINDS = ["cordless drill", "circular saw", "garden hose", "leaf blower", "step ladder", "paint roller",
         "ceiling fan", "smoke alarm", "door knob", "shower head", "shop vac", "fire pit"]
BRANDS = ["DeWalt", "Makita", "Ryobi", "Bosch", "Milwaukee"]


def catalog_data() -> SearchData:
    """60 products (12 kinds x 5 brands) + one product whose text duplicates a positive's; 24 queries."""
    ids, texts = [], []
    for k, kind in enumerate(KINDS):
        for b, brand in enumerate(BRANDS):
            ids.append(f"p{k}-{b}")
            texts.append(f"{brand} {kind} {b + 12}V")
    ids.append("dup")
    texts.append(texts[0])  # same text as p0-0, the positive of q0: must never be a negative of q0
    products = pd.DataFrame({"product_id": ids, "title": texts, "brand": [""] * len(ids), "text": texts})
    queries, qrels = {}, {}
    for k, kind in enumerate(KINDS):
        queries[f"q{k}"] = f"{BRANDS[0].lower()} {kind}"
        qrels[f"q{k}"] = {f"p{k}-0": 2, f"p{k}-1": 1, f"p{(k + 1) % 12}-0": 0}
        queries[f"r{k}"] = f"{kind} {BRANDS[2].lower()}"
        qrels[f"r{k}"] = {f"p{k}-2": 2}
    return SearchData(products=products, queries=queries, qrels=qrels, positive_min_gain=1)


def split_of(data) -> Split:
    return Split(train=sorted(q for q in data.queries if q not in ("q10", "q11", "r11")), dev=["q10"],
                 test=["q11", "r11"])


def test_selection_respects_positives_identical_text_window_margin_and_judged_first():
    data = catalog_data()
    cands = [("p0-1", 9.0), ("dup", 8.0)] + [(f"p{k}-{b}", 7.0 - 0.1 * (5 * k + b))
                                              for k in range(1, 12) for b in range(5)]
    cfg = MineConfig(source="model", range_min=2, range_max=10, num_negatives=4, relative_margin=0.1, seed=1)
    rec = select_negatives("q0", cands, data=data, cfg=cfg, best_positive=7.5)
    negs = rec["negatives"]
    assert negs[0]["source"] == "judged" and negs[0]["product_id"] == "p1-0"
    mined = [n for n in negs if n["source"] == "model"]
    assert len(negs) == 4 and len(mined) == 3
    ids = {n["product_id"] for n in negs}
    assert not ids & known_positives(data, "q0") and "dup" not in ids
    # ranks count non-positives only: "dup" is rank 1, p1-0 rank 2, ...; all mined ranks are in the window
    assert all(3 <= n["rank"] <= 10 for n in mined)
    # margin: nothing above (1 - 0.1) * 7.5 = 6.75
    assert all(n["score"] <= 6.75 for n in mined)
    assert rec["skipped"]["identical_text"] == 0  # dup sits at rank 1, outside the window
    # inside the window an identical text is skipped and counted
    rec2 = select_negatives("q0", cands, data=data, cfg=MineConfig(source="model", range_min=0, range_max=3,
                                                                    relative_margin=0), best_positive=None)
    assert "dup" not in {n["product_id"] for n in rec2["negatives"]} and rec2["skipped"]["identical_text"] == 1
    # margin off lets the top of the window in; same seed → same choice, another seed → may differ
    again = select_negatives("q0", cands, data=data, cfg=cfg, best_positive=7.5)
    assert again == rec
    no_judged = MineConfig(source="model", range_min=2, range_max=10, num_negatives=4, judged_first=False)
    assert all(n["source"] == "model" for n in select_negatives("q0", cands, data=data, cfg=no_judged,
                                                                 best_positive=None)["negatives"])


def test_top_sampling_takes_the_best_ranked_candidates_of_the_window():
    data = catalog_data()
    cands = [(f"p{k}-{b}", 7.0 - 0.1 * (5 * k + b)) for k in range(1, 12) for b in range(5)]
    cfg = MineConfig(source="model", range_min=2, range_max=10, num_negatives=3, relative_margin=0,
                     judged_first=False, sampling_strategy="top")
    ranks = [n["rank"] for n in select_negatives("q0", cands, data=data, cfg=cfg, best_positive=None)["negatives"]]
    assert ranks == [3, 4, 5]


def test_old_mine_setting_names_say_what_they_became(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("mine:\n  window_start: 10\n")
    with pytest.raises(SearchtuneError, match="range_min"):
        Config.load(path)


def test_config_errors_are_clear():
    assert parse_window("10-50") == (9, 50)  # ranks 10-50: 9 skipped (range_min), up to rank 50 (range_max)
    with pytest.raises(SearchtuneError, match="10-50"):
        parse_window("ten")
    with pytest.raises(SearchtuneError, match="top_k"):
        check_config(MineConfig(source="model", top_k=20, range_max=50))
    with pytest.raises(SearchtuneError, match="empty"):
        check_config(MineConfig(source="model", range_min=8, range_max=3))
    with pytest.raises(SearchtuneError, match="negatives"):
        check_config(MineConfig(source="random"))
    with pytest.raises(SearchtuneError, match="soup"):
        check_config(MineConfig(source="judged", soup=True))


@pytest.fixture
def edge_index(splade, tmp_path):
    from searchtune.index import EdgeIndex
    from searchtune.index import collection as col

    data = catalog_data()
    index = EdgeIndex("mine", tmp_path / "qdrant")
    col.build(index, data, col.Models(sparse_base="splade-tiny"), progress=False, loaded={"sparse_base": splade})
    yield data, index
    index.close()


def check_invariants(data, split, records, cfg):
    assert {r["query_id"] for r in records} <= set(split.train)
    assert not {r["query_id"] for r in records} & (set(split.dev) | set(split.test))
    for r in records:
        positives = known_positives(data, r["query_id"])
        pos_texts = {data.texts[p] for p in positives}
        for n in r["negatives"]:
            assert n["product_id"] not in positives
            assert data.texts[n["product_id"]] not in pos_texts
            if n["source"] != "judged":
                assert cfg.range_min < n["rank"] <= cfg.range_max


def test_model_mining_through_qdrant_edge_is_safe_and_deterministic(splade, edge_index):
    data, index = edge_index
    split = split_of(data)
    cfg = MineConfig(source="model", top_k=30, range_min=1, range_max=20, num_negatives=3, relative_margin=0.05)
    records, stats = mine(data, split, cfg, model=splade, index=index, progress=False)
    assert len(records) == len(split.train) and stats["backend"] == "qdrant-edge"
    check_invariants(data, split, records, cfg)
    assert sum(n["source"] == "model" for r in records for n in r["negatives"]) > len(records)
    for r in records:  # the margin is relative to the best positive's score from the same index
        best = r["best_positive_score"]
        assert best is not None
        assert all(n["score"] <= (1 - cfg.relative_margin) * best + 1e-4 for n in r["negatives"] if n["source"] == "model")
    again, _ = mine(data, split, cfg, model=splade, index=index, progress=False)
    assert again == records
    other, _ = mine(data, split, MineConfig(**{**cfg.__dict__, "seed": 7}), model=splade, index=index,
                    progress=False)
    assert pools(other) != pools(records)
    rows = training_rows(data, split.train, negatives=pools(records), negatives_per_row=2)
    assert set(rows["triplets"]) == {"query", "positive", "negative", "negative_2"}


def test_bm25_mining_keeps_the_same_rules():
    data = catalog_data()
    split = split_of(data)
    cfg = MineConfig(source="bm25", top_k=30, range_min=0, range_max=30, num_negatives=5,
                     judged_first=False, relative_margin=0.0)
    records, stats = mine(data, split, cfg, progress=False)
    check_invariants(data, split, records, cfg)
    assert stats["backend"] == "bm25s"
    assert all(n["source"] == "bm25" for r in records for n in r["negatives"])
    assert any(r["negatives"] for r in records)


def test_mining_with_min_gain_fallback_covers_queries_without_a_top_grade_product():
    data = catalog_data()
    data.qrels["r3"] = {"p3-2": 1}  # a training query with a partly relevant product only
    split = split_of(data)
    cfg = MineConfig(source="bm25", top_k=30, range_min=0, range_max=30, num_negatives=3)
    strict, _ = mine(data, split, cfg, progress=False, min_gain=2)
    assert "r3" not in {r["query_id"] for r in strict}
    records, stats = mine(data, split, cfg, progress=False, min_gain=2, fallback=True)
    assert {r["query_id"] for r in records} == {r["query_id"] for r in strict} | {"r3"}
    r3 = next(r for r in records if r["query_id"] == "r3")
    assert r3["negatives"] and "p3-2" not in {n["product_id"] for n in r3["negatives"]}
    check_invariants(data, split, records, cfg)


class Interrupt(Exception):
    pass


@pytest.mark.slow
def test_rounds_keep_the_best_and_resume_after_an_interruption(tmp_path, monkeypatch):
    """Two ANCE rounds on tiny data; the run is killed in round 2's training and resumed."""
    from searchtune.evaluation.runs import score
    from searchtune.evaluation.systems import model_run
    from searchtune.index import EdgeIndex
    from searchtune.train import rounds

    data = catalog_data()
    split = split_of(data)
    dev_queries = {q: data.queries[q] for q in split.dev}

    class DevScores:  # the rounds' Evaluator: index each model in its own collection, score dev
        def score(self, model_ref, collection):
            from searchtune.config import EvalConfig

            with self.open(collection) as index:
                system = model_run(collection, model_ref, data, dev_queries, index, k=10, config=EvalConfig(),
                                   progress=False, role="tuned")
            return score(system, data.eval_qrels(split.dev), [10]).metrics

        def open(self, collection):
            return EdgeIndex(collection, tmp_path / "qdrant")

    dev_eval = DevScores()

    train_cfg = TrainConfig(epochs=1, batch_size=8, max_seq_length=16, save_steps=1, logging_steps=1)
    mine_cfg = MineConfig(source="model", rounds=2, top_k=20, range_min=1, range_max=20, patience=5)
    real_train = rounds.train
    calls = []

    def flaky_train(*args, **kwargs):
        calls.append(kwargs.get("init_model"))
        if len(calls) == 3:  # round 0, round 1, then round 2 dies
            raise Interrupt
        return real_train(*args, **kwargs)

    monkeypatch.setattr(rounds, "train", flaky_train)
    with pytest.raises(Interrupt):
        train_with_mining(data, split, train_cfg, mine_cfg, tmp_path, evaluator=dev_eval, progress=False)
    root = tmp_path / "rounds"
    assert (root / "round-1" / "round.json").exists() and not (root / "round-2" / "round.json").exists()
    assert (root / "round-2" / "negatives.jsonl").exists()
    mined_before = (root / "round-2" / "negatives.jsonl").read_text()
    stamp = (root / "round-1" / "round.json").stat().st_mtime_ns
    monkeypatch.setattr(rounds, "train", real_train)
    summary = train_with_mining(data, split, train_cfg, mine_cfg, tmp_path, evaluator=dev_eval, progress=False,
                                resume=True)
    summary = summary.to_dict()
    assert [r["round"] for r in summary["rounds"]] == [0, 1, 2]
    assert (root / "round-1" / "round.json").stat().st_mtime_ns == stamp  # round 1 was not redone
    assert (root / "round-2" / "negatives.jsonl").read_text() == mined_before  # nor its mining
    devs = {r["round"]: r["dev"]["ndcg@10"] for r in summary["rounds"]}
    assert summary["best_round"] == max(devs, key=lambda r: (devs[r], -r))
    assert json.loads((root / "rounds.json").read_text())["best_model"] == summary["best_model"]
    # round 2 started from round 1's model, round 1 from round 0's
    r2 = json.loads((root / "round-2" / "model" / "training_stats.json").read_text())
    assert r2["started_from"] == str(root / "round-1" / "model")
    # the rounds' greedy soup, added to the finished run: rounds are reused, every other round is tried once,
    # and the soup replaces the best round only when its dev score is higher
    mine_cfg.soup = True
    souped = train_with_mining(data, split, train_cfg, mine_cfg, tmp_path, evaluator=dev_eval, progress=False,
                               resume=True)
    souped = souped.to_dict()
    assert (root / "round-1" / "round.json").stat().st_mtime_ns == stamp
    soup = json.loads((root / "soup.json").read_text())
    assert len(soup["tried"]) == 2 and soup["ingredients"][0] == summary["best_model"]
    best_dev = max(devs.values())
    if soup["score"] > best_dev:
        assert souped["best_model"] == soup["model"] and souped["best_round"] == Path(soup["model"]).name
        assert (root / Path(soup["model"]).name / "soup.json").exists()
    else:
        assert souped["best_model"] == summary["best_model"]
    for i, t in enumerate(soup["tried"], start=1):  # each tried soup was scored by indexing it, as a round is
        metrics = dev_eval.score(str(root / f"soup-{i}"), f"check-{i}")
        assert t["score"] == pytest.approx(metrics["ndcg@10"], abs=1e-6)

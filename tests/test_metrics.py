import math

import pytest

from searchtune.evaluation.metrics import evaluate_run


def independent_ndcg(gains: dict, ranking: list, k: int) -> float:
    dcg = sum(gains.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranking[:k]))
    ideal = sorted(gains.values(), reverse=True)[:k]
    return dcg / sum(g / math.log2(i + 2) for i, g in enumerate(ideal))


def test_metrics_match_a_hand_computation():
    qrels = {"q1": {"a": 2, "c": 1}, "q2": {"x": 1}}
    run = {"q1": {"b": 0.9, "a": 0.5, "d": 0.3, "c": 0.1}, "q2": {"y": 2.0, "z": 1.0}}
    m = evaluate_run(qrels, run, ks=[2, 10])
    ndcg_q1 = (2 / math.log2(3) + 1 / math.log2(5)) / (2 + 1 / math.log2(3))
    assert ndcg_q1 == pytest.approx(independent_ndcg(qrels["q1"], ["b", "a", "d", "c"], 10))
    assert m["ndcg@10"] == pytest.approx((ndcg_q1 + 0) / 2)
    assert m["mrr@10"] == pytest.approx((1 / 2 + 0) / 2)
    assert m["recall@2"] == pytest.approx((1 / 2 + 0) / 2)
    assert m["precision@2"] == pytest.approx((1 / 2 + 0) / 2)
    assert m["recall@10"] == pytest.approx((1 + 0) / 2)


def test_query_without_results_counts_as_zero():
    m = evaluate_run({"q1": {"a": 1}, "q2": {"b": 1}}, {"q1": {"a": 1.0}}, ks=[10])
    assert m["ndcg@10"] == pytest.approx(0.5)


def test_per_query_scores():
    means, per = evaluate_run({"q1": {"a": 1}, "q2": {"b": 1}}, {"q1": {"a": 1.0}, "q2": {"c": 1.0, "b": 0.5}},
                              ks=[10], per_query=True)
    assert per["mrr@10"] == {"q1": 1.0, "q2": 0.5}

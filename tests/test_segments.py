"""Segments of the test queries: assignment by rule, and every system's nDCG@10 per segment."""

from searchtune.evaluation.segments import losses, segment_queries, segment_table


def test_segments_follow_their_rules():
    queries = {"a": "drill", "b": "dewalt cordless drill", "c": "dcd771c2 drill kit with two batteries",
               "d": "20v drill", "e": "cordles drill", "f": "black and decker sander"}
    texts = ["DeWalt cordless drill DCD771C2 20V", "Black and Decker random orbit sander", "garden hose 50 ft"]
    brands = ["DeWalt", "Black and Decker", ""]
    seg = segment_queries(queries, texts, brands)
    assert seg["one word"] == ["a"] and set(seg["two or three words"]) == {"b", "d", "e"}
    assert set(seg["four or more words"]) == {"c", "f"}
    assert seg["model code or SKU"] == ["c"]  # 20v is a number with a unit, not a code (under 4 characters)
    assert set(seg["numbers and units"]) == {"c", "d"}
    assert set(seg["brand"]) == {"b", "f"}  # a brand of three words, as whole words
    assert set(seg["a word no product holds"]) == {"c", "e"}  # "with", "two", "batteries"; "cordles"


def test_the_table_tests_each_segment_against_bm25():
    seg = {"all": [f"q{i}" for i in range(30)], "few": ["q0", "q10"], "empty": []}
    bm25 = {f"q{i}": 0.5 for i in range(30)}
    tuned = {f"q{i}": 0.8 if i % 10 else 0.4 for i in range(30)}
    table = segment_table(seg, {"bm25": bm25, "finetuned": tuned})
    assert "empty" not in table and table["all"]["queries"] == 30
    cell = table["all"]["systems"]["finetuned"]
    assert cell["delta_vs_bm25"] > 0 and cell["significant_vs_bm25"] and cell["ci"][0] < cell["ndcg@10"]
    assert table["few"]["systems"]["finetuned"]["delta_vs_bm25"] < 0  # q0 and q10 score 0.4: below BM25 there
    assert len(losses(table)) == 1 and losses(table)[0].startswith("few (2 queries): -0.1000 vs BM25")


def test_head_torso_tail_and_the_attribute_mismatch_rate():
    from searchtune.evaluation.segments import unit_mismatch

    queries = {f"q{i}": "drill" for i in range(6)}
    seg = segment_queries(queries, ["drill"], [], {f"q{i}": 6 - i for i in range(6)})
    assert (seg["head"], seg["torso"], seg["tail"]) == (["q0", "q1"], ["q2", "q3"], ["q4", "q5"])
    runs = {"bm25": {"a": {"right": 2.0, "wrong": 1.0, "silent": 0.5}}, "model": {"a": {"wrong": 2.0}}}
    texts = {"right": "SanDisk 256GB card", "wrong": "SanDisk 128GB card", "silent": "a card reader"}
    out = unit_mismatch({"a": "sandisk 256gb card", "b": "drill"}, runs, texts)
    assert out["queries"] == 1 and out["systems"]["bm25"] == {"checked": 2, "rate": 0.5}  # "silent" not counted
    assert out["systems"]["model"]["rate"] == 1.0

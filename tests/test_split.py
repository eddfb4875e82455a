import json

from searchtune.data import load_split_file, split_queries


def test_seeded_split_is_deterministic_disjoint_and_order_free():
    qids = [f"q{i}" for i in range(1000)]
    a = split_queries(qids, seed=3)
    b = split_queries(list(reversed(qids)), seed=3)
    assert (a.train, a.dev, a.test) == (b.train, b.dev, b.test)
    assert not (set(a.train) & set(a.test)) and not (set(a.dev) & set(a.test))
    assert 150 < len(a.test) < 250 and 60 < len(a.dev) < 140
    # adding queries never moves an existing one
    c = split_queries(qids + ["new"], seed=3)
    assert set(a.test) <= set(c.test)
    assert split_queries(qids, seed=4).test != a.test


def test_split_file_by_text_with_test_winning(tmp_path):
    queries = {"angle bracket": "angle bracket", "slide bolt": "slide bolt", "deck": "deck", "saw": "saw"}
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"test": ["slide bolt", "angle bracket", "unknown"], "dev": ["slide  bolt", "deck"]}))
    split = load_split_file(path, queries)
    assert split.test == ["angle bracket", "slide bolt"]
    assert split.dev == ["deck"]
    assert split.train == ["saw"]


def test_a_small_data_set_gets_enough_dev_queries_and_test_never_moves():
    qids = [f"q{i}" for i in range(150)]
    plain = split_queries(qids, seed=7)
    held = split_queries(qids, seed=7, min_dev=50)
    assert held.test == plain.test and len(plain.dev) < 50
    assert len(held.dev) == min(50, (len(plain.train) + len(plain.dev)) // 3)  # at most a third of non-test
    assert set(plain.dev) <= set(held.dev) and set(held.train) <= set(plain.train)
    assert split_queries(list(reversed(qids)), seed=7, min_dev=50).to_dict() == held.to_dict()
    big = [f"q{i}" for i in range(2000)]
    assert split_queries(big, seed=7, min_dev=50).to_dict() == split_queries(big, seed=7).to_dict()

import random

import pytest
from test_training import small_data

from searchtune.errors import SearchtuneError
from searchtune.train.rows import training_rows
from searchtune.train.typos import misspell


def _edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def test_a_misspelling_is_one_small_edit_that_spares_numbers_short_words_and_first_letters():
    rng = random.Random(0)
    seen = set()
    for _ in range(300):
        q = "1/2 in. copper elbow fitting"
        typo = misspell(q, rng)
        assert typo is not None and typo != q
        seen.add(typo)
        assert typo.startswith("1/2 in. ")  # tokens with digits, and short words, are left alone
        # one edit in one word: a letter dropped/doubled/replaced (distance 1), two swapped (2), or a space gone
        assert _edit_distance(q, typo) <= 2
        for word in typo.split()[2:]:
            assert word[0] in "cef"  # never the first letter
    assert len(seen) > 30  # the edits vary
    assert any(" " not in t[8:].replace(" ", "", 1) for t in seen)  # words run together occur
    assert misspell("ge 30 in", rng) is None  # nothing it can misspell
    assert misspell("1/2 pvc", rng) is None


def test_misspelled_copies_are_added_deterministically_and_never_spell_a_held_out_query():
    data = small_data()
    train = [f"q{i}" for i in range(8)]
    clean = training_rows(data, train)["triplets"]
    rows = training_rows(data, train, typo_rate=1.0, typo_seed=3)["triplets"]
    n = len(clean["query"])
    # every clean row is kept as it was; each copy keeps its row's positive and negative
    assert {k: v[:n] for k, v in rows.items()} == clean
    extra = len(rows["query"]) - n
    assert 0 < extra <= n
    pairs = set(zip(clean["query"], clean["positive"], clean["negative"]))
    for q, pos, neg in zip(rows["query"][n:], rows["positive"][n:], rows["negative"][n:]):
        assert q not in clean["query"]
        # the copy keeps its source row's positive and negative: some clean row with that pair has a query
        # one small edit away
        assert any(p == pos and ng == neg and _edit_distance(c, q) <= 2 for c, p, ng in pairs)
    assert training_rows(data, train, typo_rate=1.0, typo_seed=3)["triplets"] == rows
    assert training_rows(data, train, typo_rate=1.0, typo_seed=4)["triplets"] != rows
    assert training_rows(data, train, typo_rate=0.0) == {"triplets": clean}
    half = training_rows(data, train, typo_rate=0.5, typo_seed=3)["triplets"]
    assert n < len(half["query"]) < len(rows["query"])


def test_a_misspelling_that_spells_a_held_out_query_is_not_trained_on(monkeypatch):
    data = small_data()
    # the misspelling of "buy a cordless drill" happens to be dev query q11's text, "buy a fire pit"
    monkeypatch.setattr("searchtune.train.typos.misspell",
                        lambda q, rng: "BUY A FIRE PIT" if "drill" in q else q + "s")
    rows = training_rows(data, ["q0", "q1"], typo_rate=1.0, held_out=["q11"])["triplets"]
    assert rows["query"][3:] == ["buy a circular saws"]  # q0's two copies dropped, q1's kept
    with pytest.raises(SearchtuneError, match="query_typo_rate"):
        training_rows(data, ["q0"], typo_rate=1.5)

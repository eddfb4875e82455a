"""assess: what a catalog's labelled queries allow, before any training, and a recommendation with reasons."""

import json

from conftest import EXAMPLES, write
from typer.testing import CliRunner

from searchtune.assess import recommend
from searchtune.cli import app


def test_assess_the_bundled_example(tmp_path):
    res = CliRunner().invoke(app, ["assess", "--catalog", str(EXAMPLES / "catalog.csv"), "--queries",
                                   str(EXAMPLES / "queries.csv"), "--max-seq-length", "32", "--json", "-q"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output[res.output.index("{"):res.output.rindex("}") + 1])
    c, m = out["counts"], out["measured"]
    assert c["products"] == 286 and c["train_queries"] + c["dev_queries"] + c["test_queries"] <= c["queries"]
    assert m["dev_queries"] == c["dev_queries"] == 50 and 0 < m["bm25"] < 1 and 0 < m["untuned"] < 1
    assert m["training_seconds"] > 0 and out["recommendation"] and out["reasons"]
    short = m["probe"]  # the gain estimate: a short run on part of the training queries, measured on dev
    assert 0 < short["training_queries"] <= short["of_training_queries"] == c["train_queries"]
    assert short["dev_queries"] == 50 and 0 < short["untuned"] < 1 and 0 < short["probe"] < 1
    assert m["training_speed_from"] == "the short run"
    assert any("a short run" in r for r in out["reasons"])
    assert "--lr" not in CliRunner().invoke(app, ["assess", "--help"]).output  # only what it reads


def test_the_rules_give_reasons():
    few = recommend({"train_queries": 40}, {"dev_queries": 15, "bm25": 0.6, "untuned": 0.4, "training_seconds": 60})
    assert few["recommendation"] == "add synthetic queries"
    assert few["also"] == ["label more queries", "keep BM25 and try the hybrid"] and len(few["reasons"]) == 3
    many = recommend({"train_queries": 5000}, {"dev_queries": 1000, "bm25": 0.36, "untuned": 0.29,
                                               "training_seconds": 9000})
    assert many["recommendation"] == "fine-tune" and many["also"] == ["keep BM25 and try the hybrid"]
    assert any("2.5 h" in r for r in many["reasons"])


def test_a_probe_that_gains_nothing_says_so():
    probe = {"training_queries": 500, "of_training_queries": 900, "train_seconds": 40, "untuned": 0.5,
             "probe": 0.49, "gain_percent": -2.0, "dev_queries": 200, "pool": 50}
    out = recommend({"train_queries": 900}, {"dev_queries": 200, "bm25": 0.5, "untuned": 0.5,
                                              "training_seconds": 60, "probe": probe})
    assert out["recommendation"] == "fine-tune" and "keep BM25 and try the hybrid" in out["also"]
    assert any("taught the model nothing" in r for r in out["reasons"])
    probe |= {"probe": 0.55, "gain_percent": 10.0}
    out = recommend({"train_queries": 900}, {"dev_queries": 200, "bm25": 0.5, "untuned": 0.5,
                                              "training_seconds": 60, "probe": probe})
    assert out["also"] == [] and any("+10.0%" in r for r in out["reasons"])


def test_assess_refuses_a_catalog_without_queries(tmp_path):
    catalog = write(tmp_path / "c.csv", "id,title\n1,Drill\n2,Hose\n")
    res = CliRunner().invoke(app, ["assess", "--catalog", str(catalog)])
    assert res.exit_code == 2 and "labelled queries" in res.output


def test_rater_agreement(tmp_path):
    from searchtune.assess import agreement

    path = write(tmp_path / "r.csv", "query,docid,agent_1_rating,agent_2_rating,final_rating\n"
                                     "a,1,3,3,3\na,2,0,2,1\nb,3,1,2,2\nb,4,2,,2\n")
    out = agreement(path)
    assert out["raters"] == ["agent_1_rating", "agent_2_rating"] and out["pairs_rated_twice"] == 3
    assert out["exact"] == round(1 / 3, 4) and out["within_one_grade"] == round(2 / 3, 4)
    one = write(tmp_path / "one.csv", "query,docid,rater_a\na,1,3\n")
    import pytest

    from searchtune.errors import SearchtuneError

    with pytest.raises(SearchtuneError, match="two or more"):
        agreement(one)

import pytest

from searchtune.data.columns import detect_columns
from searchtune.data.labels import SCALES, ScaleDetectionError, detect_scale
from searchtune.errors import DataError


def test_home_depot_header():
    cols = detect_columns(["id", "product_uid", "product_title", "search_term", "relevance"])
    assert (cols.product_id, cols.title, cols.query, cols.label) == ("product_uid", "product_title", "search_term", "relevance")


def test_beir_headers():
    assert detect_columns(["_id", "title", "text", "metadata"]).as_dict()["description"] == "text"
    qrels = detect_columns(["query-id", "corpus-id", "score"])
    assert (qrels.query_id, qrels.product_id, qrels.label) == ("query-id", "corpus-id", "score")


def test_case_insensitive_and_override():
    cols = detect_columns(["SKU", "Product Name", "Brand", "Search Query", "Grade"], {"title": "product name"})
    assert cols.product_id == "SKU" and cols.title == "Product Name" and cols.brand == "Brand"
    assert cols.query == "Search Query" and cols.label == "Grade"


def test_bare_id_is_a_product_id_only_without_queries():
    assert detect_columns(["id", "title"]).product_id == "id"
    assert detect_columns(["id", "title", "query", "label"]).product_id is None


def test_override_of_missing_column_lists_columns():
    with pytest.raises(DataError, match="column 'name' given for title is not in the file.*columns: id, label"):
        detect_columns(["id", "label"], {"title": "name"}, file="x.csv")


@pytest.mark.parametrize("values,name", [
    (["1", "1.33", "2.67", "3"], "1-3"),
    (["1", "2", "3", "4"], "1-4"),
    (["E", "S", "C", "I"], "esci"),
    (["Exact", "Partial", "Irrelevant"], "wands"),
    (["0", "1", "2"], "0-2"),
    (["0", "1"], "binary"),
    (["true", "false"], "binary"),
    (["0", "1", "2", "3", "4"], "graded"),
])
def test_scale_detection(values, name):
    assert detect_scale(values).name == name


def test_home_depot_gain_rounds_half_up():
    s = SCALES["1-3"]
    assert [s.gain(x) for x in ["1", "1.33", "1.49", "1.5", "2.33", "2.49", "2.5", "2.67", "3"]] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert s.gain("3.5") is None and s.gain("0.9") is None


def test_other_gains():
    assert [SCALES["esci"].gain(x) for x in "ESCI"] == [3, 2, 1, 0]
    assert SCALES["esci"].positive_min_gain == 3
    assert [SCALES["wands"].gain(x) for x in ("exact", "Partial", "IRRELEVANT")] == [2, 1, 0]
    assert SCALES["1-4"].gain("4") == 3 and SCALES["1-4"].gain("5") is None


def test_undetectable_labels_name_the_value():
    with pytest.raises(ScaleDetectionError) as err:
        detect_scale(["E", "S", "X"])
    assert err.value.value == "X"
    with pytest.raises(ScaleDetectionError) as err:
        detect_scale(["1", "-1"])
    assert err.value.value == "-1"


def test_name_patterns_find_roles_that_no_exact_name_does():
    cols = detect_columns(["id", "title", "supplier", "short_description", "attr_t_brand_colour", "price"])
    assert (cols.brand, cols.description) == ("supplier", "short_description")
    judgments = detect_columns(["query", "docid", "human_relevance"])
    assert (judgments.product_id, judgments.label) == ("docid", "human_relevance")


def test_two_columns_matching_one_pattern_are_a_clear_error():
    with pytest.raises(DataError, match="could be the label: rater_score, final_rating") as err:
        detect_columns(["query", "product_id", "rater_score", "final_rating"])
    assert "--label-column" in str(err.value)
    chosen = detect_columns(["query", "product_id", "rater_score", "final_rating"], {"label": "final_rating"})
    assert chosen.label == "final_rating"

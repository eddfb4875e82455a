"""The loader on the inputs a new user brings: legacy encodings, odd delimiters, quoted newlines, label typos,
tiny or degenerate judgment sets, columns found by their values, and the `inspect` preview."""

import json

import pytest
from conftest import write

from searchtune.config import DataConfig
from searchtune.data import load_data
from searchtune.data.encoding import detect_encoding
from searchtune.data.io import read_table
from searchtune.data.preview import preview
from searchtune.errors import DataError

CATALOG = "product_id,title\n" + "".join(f"p{i},Product number {i}\n" for i in range(40))


def judgments(tmp_path, labels, name="q.csv", header="query,product_id,label"):
    rows = [f"query {i % 12},p{i},{label}" for i, label in enumerate(labels)]
    return write(tmp_path / name, header + "\n" + "\n".join(rows) + "\n")


def load(tmp_path, queries, **kw):
    return load_data(DataConfig(catalog=str(write(tmp_path / "c.csv", CATALOG)), queries=str(queries), **kw))


# -- encodings ---------------------------------------------------------------

WESTERN = "id,title\n1,Crème brûlée set\n2,Señor tequila glass\n3,Plain hammer\n"


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_western_files_are_not_read_as_central_european(tmp_path, encoding):
    table = read_table(write(tmp_path / "c.csv", WESTERN, encoding=encoding))
    assert table.frame["title"].tolist()[:2] == ["Crème brûlée set", "Señor tequila glass"]
    assert table.encoding == "cp1252"
    assert "cp1250" in table.encoding_note  # the guess is reported, with the other reading


def test_polish_cp1250_is_told_from_cp1252_by_symbols_inside_words(tmp_path):
    text = "id,title\n1,Wiertarka łańcuchowa\n2,Młotek żółty\n"
    table = read_table(write(tmp_path / "c.csv", text, encoding="cp1250"))
    assert table.frame["title"].tolist() == ["Wiertarka łańcuchowa", "Młotek żółty"]
    assert table.encoding == "cp1250"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-8-sig"])
def test_utf16_and_byte_order_marks(tmp_path, encoding):
    table = read_table(write(tmp_path / "c.csv", WESTERN, encoding=encoding))
    assert table.frame.columns.tolist() == ["id", "title"]
    assert table.frame["title"][0] == "Crème brûlée set"
    assert table.encoding_note is None


def test_utf8_is_certain():
    assert detect_encoding("Crème".encode()).name == "utf-8"
    assert detect_encoding("Crème".encode()).note is None


def test_the_encoding_and_its_doubt_reach_inspect(tmp_path):
    catalog = write(tmp_path / "c.csv", WESTERN, encoding="latin-1")
    p = preview(load_data(DataConfig(catalog=str(catalog))))
    assert p["files"][0]["encoding"] == "cp1252"
    assert any("cp1250" in w for w in p["warnings"])


# -- delimiters and line numbers ---------------------------------------------

def test_semicolon_csv_is_split_into_columns(tmp_path):
    table = read_table(write(tmp_path / "c.csv", "id;title;brand\n1;Drill, cordless;Bosch\n"))
    assert table.frame.columns.tolist() == ["id", "title", "brand"]
    assert table.frame["title"][0] == "Drill, cordless"


def test_errors_give_the_line_after_quoted_newlines(tmp_path):
    rows = "".join(f'p{i},"Title {i}\nsecond line"\n' for i in range(50))
    path = write(tmp_path / "c.csv", "product_id,title\n" + rows + "p50,\n")
    with pytest.raises(DataError) as err:
        load_data(DataConfig(catalog=str(path)))
    assert err.value.row == 51 and err.value.line == 102  # header + 50 rows of two lines, then this one
    assert "line 102" in str(err.value) and "title" in str(err.value)


# -- labels ------------------------------------------------------------------

def test_a_stray_label_beyond_the_scale_is_an_error_naming_its_row(tmp_path):
    labels = [i % 4 for i in range(39)] + [7]
    with pytest.raises(DataError) as err:
        load(tmp_path, judgments(tmp_path, labels))
    assert "'7'" in str(err.value) and err.value.row == 40 and err.value.column == "label"


def test_one_bad_name_among_named_labels_is_the_one_blamed(tmp_path):
    labels = ["Exact", "Partial", "Irrelevant"] * 13 + ["E"]
    with pytest.raises(DataError) as err:
        load(tmp_path, judgments(tmp_path, labels))
    assert "'E'" in str(err.value) and err.value.row == 40 and "wands" in str(err.value)


def test_a_fractional_label_in_an_integer_file_is_named(tmp_path):
    labels = [i % 4 for i in range(39)] + [2.5]
    labels[3] = 0
    with pytest.raises(DataError) as err:
        load(tmp_path, judgments(tmp_path, [str(x) for x in labels]))
    assert "'2.5'" in str(err.value) and err.value.row == 40


def test_every_label_irrelevant_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no judgment is relevant"):
        load(tmp_path, judgments(tmp_path, ["Irrelevant"] * 40))


def test_all_equal_labels_warn(tmp_path):
    data = load(tmp_path, judgments(tmp_path, [1] * 40))
    assert any("same gain" in w for w in data.source["warnings"])


def test_a_label_column_is_found_by_its_values(tmp_path):
    q = judgments(tmp_path, [i % 3 for i in range(40)], header="query,product_id,verdict")
    data = load(tmp_path, q)
    assert data.source["columns"]["label"] == "verdict" and data.source["how"]["label"] == "values"
    assert data.scale.name == "0-2"


def test_a_label_column_is_found_by_its_name_pattern(tmp_path):
    data = load(tmp_path, judgments(tmp_path, [i % 3 for i in range(40)], header="query,product_id,human_relevance"))
    assert data.source["columns"]["label"] == "human_relevance" and data.source["how"]["label"] == "pattern"


def test_two_label_columns_by_value_are_an_ambiguity_error(tmp_path):
    rows = "\n".join(f"query {i % 12},p{i},{i % 3},{i % 2}" for i in range(40))
    q = write(tmp_path / "q.csv", "query,product_id,verdict,flag\n" + rows + "\n")
    with pytest.raises(DataError) as err:
        load(tmp_path, q)
    assert "verdict, flag" in str(err.value) and "--label-column" in str(err.value)


def test_a_product_id_is_found_by_its_values(tmp_path):
    path = write(tmp_path / "c.csv", "ref,title\n" + "".join(f"A-{i},Product {i}\n" for i in range(5)))
    data = load_data(DataConfig(catalog=str(path)))
    assert data.product_ids == [f"A-{i}" for i in range(5)]
    assert data.source["how"]["product_id"] == "values"


# -- what is left out is said -------------------------------------------------

def test_unused_columns_are_named(tmp_path):
    path = write(tmp_path / "c.csv", "product_id,title,warehouse_bin\n1,Drill,B7\n")
    data = load_data(DataConfig(catalog=str(path)))
    assert data.source["ignored"] == ["warehouse_bin"]
    assert any("warehouse_bin" in w for w in data.source["warnings"])


def test_skipped_rows_are_counted_and_warned(tmp_path):
    q = judgments(tmp_path, [i % 3 for i in range(40)])
    q.write_text(q.read_text() + "query 1,unknown-product,2\n")
    data = load(tmp_path, q)
    assert data.counts["skipped_judgments_for_products_not_in_catalog"] == 1
    assert any("not in catalog" in w for w in data.source["warnings"])


# -- inspect ------------------------------------------------------------------

def test_inspect_json_has_the_documented_keys(tmp_path):
    from typer.testing import CliRunner

    from searchtune.cli import app

    catalog = write(tmp_path / "c.csv", CATALOG)
    q = judgments(tmp_path, [i % 4 for i in range(40)], header="query,product_id,rating")
    result = CliRunner().invoke(app, ["inspect", "--catalog", str(catalog), "--queries", str(q), "--json"])
    assert result.exit_code == 0, result.output
    p = json.loads(result.stdout)
    assert {"columns", "label_scale", "counts", "sample_texts", "warnings"} <= set(p)
    assert p["columns"]["label"] == "rating" and p["label_scale"]["name"] == "graded"
    assert p["counts"]["products"] == 40 and p["counts"]["queries"] == 12
    assert len(p["sample_texts"]) == 3 and p["sample_texts"][0]["text"] == "Product number 0"


def test_nested_attribute_objects_become_pairs_with_a_cap(tmp_path):
    rows = [{"id": "1", "title": "Shelf", "attributes": {"size": {"width": 30, "depth": 20}, "colour": "oak",
                                                        "tags": ["wall", "wood"]}},
            {"id": "2", "title": "Rack", "attributes": {f"spec {i}": "x" * 20 for i in range(40)}}]
    path = tmp_path / "c.json"
    path.write_text(json.dumps(rows))
    data = load_data(DataConfig(catalog=str(path), attribute_chars=120))
    first, second = data.products["text"].tolist()
    assert "size width=30" in first and "size depth=20" in first and "tags=wall, wood" in first
    assert len(second) < 200  # 40 long pairs cut at about 120 characters


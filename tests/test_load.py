import json

import pytest
from conftest import write

from searchtune.config import DataConfig
from searchtune.data import build_product_text, derived_product_id, load_data
from searchtune.errors import DataError

CATALOG = """id,title,brand,description,bullet_points,attributes
1,Cordless Drill,DeWalt,A strong drill for home projects,"[""2 batteries"", ""LED light""]","{""Color"": ""Yellow"", ""Voltage"": ""20V""}"
2,Circular Saw,Makita,Cuts plywood,,
3,Garden Hose 50 ft,,,,
"""
JUDGMENTS = """query,product_id,label
cordless drill,1,Exact
cordless drill,2,Irrelevant
Cordless  drill ,3,Partial
skill saw,2,Exact
,1,Exact
skill saw,99,Exact
"""


def test_product_text_format():
    text = build_product_text("Cordless Drill", "DeWalt", "A strong drill " * 30, '["2 batteries", "LED light"]',
                              '{"Color": "Yellow"}', "Tools > Drills", description_chars=40)
    head, desc, bullets, category, attrs = text.split(" | ")
    assert head == "DeWalt Cordless Drill"
    assert len(desc) <= 41 and desc.endswith("…")
    assert bullets == "2 batteries; LED light"
    assert category == "Tools > Drills"
    assert attrs == "color=Yellow"
    assert build_product_text("DeWalt Drill", "dewalt") == "DeWalt Drill"  # brand already in title


def test_catalog_and_judgments(tmp_path):
    data = load_data(DataConfig(catalog=str(write(tmp_path / "c.csv", CATALOG)),
                                queries=str(write(tmp_path / "j.csv", JUDGMENTS))))
    assert data.scale.name == "wands"
    assert data.product_ids == ["1", "2", "3"]
    assert data.products["text"][0].startswith("DeWalt Cordless Drill | A strong drill")
    # "cordless drill" and "Cordless  drill " differ in case: two queries; spacing alone does not count
    assert data.qrels["cordless drill"] == {"1": 2, "2": 0}
    assert data.qrels["Cordless drill"] == {"3": 1}
    assert data.counts["skipped_rows_with_empty_query"] == 1
    assert data.counts["skipped_judgments_for_products_not_in_catalog"] == 1
    assert data.positives("cordless drill") == {"1": 2} and data.negatives("cordless drill") == ["2"]


def test_one_combined_file_like_home_depot(tmp_path):
    text = "id,product_uid,product_title,search_term,relevance\n1,100,Angle Bracket,angle bracket,3\n" \
           "2,100,Angle Bracket,l bracket,2.5\n3,101,Deck Paint,angle bracket,1.33\n4,101,Deck Paint,deck over,2\n"
    data = load_data(DataConfig(data=str(write(tmp_path / "train.csv", text))))
    assert data.scale.name == "1-3"
    assert data.product_ids == ["100", "101"]
    assert data.qrels["angle bracket"] == {"100": 2, "101": 0}
    assert data.eval_qrels(["angle bracket", "deck over"]) == {"angle bracket": {"100": 2}, "deck over": {"101": 1}}


def test_stable_derived_ids(tmp_path):
    data = load_data(DataConfig(data=str(write(tmp_path / "c.csv", "title,brand\nDrill,Ryobi\nSaw,\n"))))
    assert data.product_ids == [derived_product_id("Ryobi Drill"), derived_product_id("Saw")]


@pytest.mark.parametrize("text,where,what", [
    ("title,id\n,1\n", "row 1 (line 2), column 'title'", "empty product title"),
    ("id,colour\n1,x\n", "c.csv", "no product title column found"),
    ("id,title\n1,Drill\n2,Saw\n1,Drill 2\n", "row 3 (line 4), column 'id'", "appears again with a different title"),
])
def test_bad_catalog_names_file_row_and_column(tmp_path, text, where, what):
    path = write(tmp_path / "c.csv", text)
    with pytest.raises(DataError) as err:
        load_data(DataConfig(data=str(path)))
    message = str(err.value)
    assert str(path) in message and where in message and what in message


def test_duplicate_products_first(tmp_path):
    path = write(tmp_path / "c.csv", "id,title\n1,Drill\n1,Drill kit\n")
    data = load_data(DataConfig(data=str(path), duplicate_products="first"))
    assert data.products["title"].tolist() == ["Drill"]
    assert data.counts["products_with_conflicting_titles_kept_first"] == 1


def test_label_outside_the_chosen_scale(tmp_path):
    c = write(tmp_path / "c.csv", CATALOG)
    j = write(tmp_path / "j.csv", "query,product_id,label\ndrill,1,3\ndrill,2,5\n")
    with pytest.raises(DataError) as err:
        load_data(DataConfig(catalog=str(c), queries=str(j), label_scale="1-4"))
    assert "j.csv, row 2 (line 3), column 'label': label '5' is outside the 1-4 scale" in str(err.value)


def test_undetectable_label_names_its_row(tmp_path):
    c = write(tmp_path / "c.csv", CATALOG)
    j = write(tmp_path / "j.csv", "query,product_id,label\ndrill,1,E\ndrill,2,S\nsaw,2,maybe\n")
    with pytest.raises(DataError, match=r"row 3 \(line 4\), column 'label'.*label 'maybe' is not on the esci scale"):
        load_data(DataConfig(catalog=str(c), queries=str(j)))


def test_beir_style_query_ids(tmp_path):
    corpus = write(tmp_path / "corpus.jsonl", '{"_id": "d1", "title": "Aspirin", "text": "reduces fever"}\n'
                                              '{"_id": "d2", "title": "Vitamin C", "text": "colds"}\n')
    qrels = write(tmp_path / "qrels.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    with pytest.raises(DataError, match="--query-texts"):
        load_data(DataConfig(catalog=str(corpus), queries=str(qrels)))
    texts = write(tmp_path / "queries.jsonl", '{"_id": "q1", "text": "what lowers a fever"}\n')
    data = load_data(DataConfig(catalog=str(corpus), queries=str(qrels), query_texts=str(texts)))
    assert data.queries == {"q1": "what lowers a fever"} and data.qrels == {"q1": {"d1": 1}}
    assert data.products["text"][0] == "Aspirin | reduces fever"


def test_wide_attribute_columns_become_name_value_text(tmp_path):
    """Informative attr_* columns join the product text as name=value; sparse, long, link, EAN and price
    columns stay out; a hand-picked list wins."""
    rows = []
    for i in range(200):
        rows.append({"id": str(i), "title": f"Printer {i}", "supplier": "HP",
                     "attr_t_product_colour": "Silver" if i % 2 else "Black",
                     "attr_n_pages_per_minute": str(20 + i % 5),
                     "attr_t_rare": "x" if i == 0 else "",  # filled for 0.5% of the products
                     "attr_t_manual_url": f"https://example.com/{i}.pdf",
                     "attr_t_ean_code": f"{4000000000000 + i}",
                     "attr_t_notes": "a long free text " * 5})
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    data = load_data(DataConfig(data=str(path)))
    text = data.texts["1"]
    assert text.startswith("HP Printer 1") and "product colour=Silver" in text and "pages per minute=21" in text
    for left_out in ("rare", "manual url", "ean", "notes"):
        assert left_out not in text
    assert data.counts["attribute_columns_used"] == 2
    chosen = load_data(DataConfig(data=str(path), attribute_columns=["attr_t_rare"]))
    assert "rare=x" in chosen.texts["0"] and "colour" not in chosen.texts["0"]

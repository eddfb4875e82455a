import json

import pandas as pd
import pytest
from conftest import write

from searchtune.data.io import read_table
from searchtune.errors import DataError

ROWS = [{"id": "1", "title": "Drill"}, {"id": "2", "title": "Saw"}]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl", ".parquet"])
def test_every_format_reads_the_same_rows(tmp_path, suffix):
    path = tmp_path / f"c{suffix}"
    frame = pd.DataFrame(ROWS)
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix == ".json":
        path.write_text(json.dumps(ROWS))
    elif suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(r) for r in ROWS))
    else:
        frame.to_parquet(path)
    table = read_table(path)
    assert table.frame.to_dict("records") == ROWS


def test_ids_keep_leading_zeros(tmp_path):
    table = read_table(write(tmp_path / "c.csv", "id,title\n007,Drill\n"))
    assert table.frame["id"].tolist() == ["007"]


def test_latin1_is_detected(tmp_path):
    path = write(tmp_path / "c.csv", "id,title\n1,Caf\u00e9 table 12\u00b0 tilt\n", encoding="latin-1")
    table = read_table(path)
    assert table.frame["title"][0] == "Caf\u00e9 table 12\u00b0 tilt"
    assert table.encoding != "utf-8"


def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="unknown file type '.xlsx'"):
        read_table(write(tmp_path / "c.xlsx", "x"))


def test_bad_jsonl_names_the_line(tmp_path):
    path = write(tmp_path / "c.jsonl", '{"id": 1}\n{"id": 2,\n')
    with pytest.raises(DataError) as err:
        read_table(path)
    assert "line 2" in str(err.value) and "c.jsonl" in str(err.value)


def test_binary_garbage_is_a_clear_error(tmp_path):
    path = tmp_path / "c.parquet"
    path.write_bytes(b"\x00\x01not parquet")
    with pytest.raises(DataError, match="cannot read the file as PARQUET"):
        read_table(path)

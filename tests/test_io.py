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


@pytest.mark.parametrize("compression", [".gz", ".bz2", ".xz", ".zst", ".zip"])
@pytest.mark.parametrize("inner", [".csv", ".jsonl", ".parquet"])
def test_compressed_files_are_read_as_their_inner_format(tmp_path, inner, compression):
    import bz2
    import gzip
    import lzma
    import zipfile

    import pyarrow as pa

    plain = tmp_path / f"c{inner}"
    frame = pd.DataFrame(ROWS)
    if inner == ".csv":
        frame.to_csv(plain, index=False)
    elif inner == ".jsonl":
        plain.write_text("\n".join(json.dumps(r) for r in ROWS))
    else:
        frame.to_parquet(plain)
    raw = plain.read_bytes()
    packed = tmp_path / f"c{inner}{compression}"
    if compression == ".gz":
        packed.write_bytes(gzip.compress(raw))
    elif compression == ".bz2":
        packed.write_bytes(bz2.compress(raw))
    elif compression == ".xz":
        packed.write_bytes(lzma.compress(raw))
    elif compression == ".zst":
        with pa.CompressedOutputStream(str(packed), "zstd") as f:
            f.write(raw)
    else:
        with zipfile.ZipFile(packed, "w") as z:
            z.writestr(f"inside{inner}", raw)
    assert read_table(packed).frame.to_dict("records") == ROWS


def test_a_zip_of_two_files_and_a_corrupt_archive_are_clear_errors(tmp_path):
    import zipfile

    two = tmp_path / "c.csv.zip"
    with zipfile.ZipFile(two, "w") as z:
        z.writestr("a.csv", "id,title\n1,x\n")
        z.writestr("b.csv", "id,title\n2,y\n")
    with pytest.raises(DataError, match="holds 2 files"):
        read_table(two)
    bad = tmp_path / "c.csv.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="cannot decompress"):
        read_table(bad)
    with pytest.raises(DataError, match="unknown file type '.gz'"):
        read_table(write(tmp_path / "c.gz", "x"))


def test_json_lines_keep_line_separators_inside_strings(tmp_path):
    """U+2028/U+2029 are valid inside JSON strings; they are not line breaks of the file."""
    rows = [{"id": "1", "title": "Drill\u2028kit"}, {"id": "2", "title": "Saw\u2029blade"}]
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    assert read_table(path).frame["title"].tolist() == ["Drill\u2028kit", "Saw\u2029blade"]


@pytest.mark.parametrize("sep", [";", "|", "\t"])
def test_the_delimiter_of_a_csv_is_sniffed(tmp_path, sep):
    path = write(tmp_path / "c.csv", f"id{sep}title{sep}brand\n1{sep}Drill, cordless{sep}Ryobi\n2{sep}Saw{sep}Makita\n")
    frame = read_table(path).frame
    assert list(frame.columns) == ["id", "title", "brand"] and frame["title"][0] == "Drill, cordless"

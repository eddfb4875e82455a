"""Data in: reading files, detecting columns and label scales, building product text, splitting."""

from .catalog import build_product_text, derived_product_id, full_texts, normalise_query
from .columns import Columns, detect_columns
from .io import Table, read_table
from .labels import SCALES, LabelScale, detect_scale
from .load import SearchData, load_data
from .split import Split, load_split_file, split_for, split_queries

__all__ = [
    "SCALES",
    "Columns",
    "LabelScale",
    "SearchData",
    "Split",
    "Table",
    "build_product_text",
    "derived_product_id",
    "detect_columns",
    "detect_scale",
    "full_texts",
    "load_data",
    "load_split_file",
    "normalise_query",
    "read_table",
    "split_for",
    "split_queries",
]

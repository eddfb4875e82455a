"""Several data sets: one YAML file (spec), loading and splitting each (sets), one model trained on them all
(train), and every model measured on every set (matrix)."""

from .matrix import recommend, run_matrix
from .spec import DataSet, MultiSpec, load_spec, parse_spec
from .train import train_multi

__all__ = ["DataSet", "MultiSpec", "load_spec", "parse_spec", "recommend", "run_matrix", "train_multi"]

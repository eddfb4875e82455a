"""Several data sets in one YAML file: the training run over them, and the matrix that measures every model
on every set.

```yaml
datasets:
  - name: homedepot
    data: ../shared/data/homedepot/train.csv
    split: ../shared/data/homedepot/split.json
    duplicate_products: first
    max_samples: 50000        # training rows taken from this set (a seeded sample)
    weight: 1.0               # its share of the batches (rows repeated or thinned)
  - name: icecat
    catalog: ../shared/data/icecat/products.jsonl.gz
    queries: ../shared/data/icecat/judgments.csv
    split: ../shared/data/icecat/split.json
    synthetic: 2000           # also train on offline synthetic queries for this many of its products
  - name: scifact
    catalog: ../shared/data/scifact/corpus.jsonl
    queries: ../shared/data/scifact/qrels/test.tsv
    query_texts: ../shared/data/scifact/queries.jsonl
    eval_only: true           # every query is held out; never trained on
train: {model: splade-tiny, max_seq_length: 48}   # any `train` setting of a single run
sampler: proportional         # or round_robin
curriculum: false             # true: the other sets first, then `target` (default: the first set)
target: homedepot
```

A set takes the data options of the single-set CLI (``data``/``catalog``/``queries``/``query_texts``/
``split``, ``columns``, ``label_scale``, ``positive_min_gain``, ``duplicate_products``, fractions and seed),
plus ``max_samples``, ``weight``, ``min_positive_gain`` (its training bar), ``synthetic`` and ``eval_only``.
Paths are relative to the YAML file. Each set's labels are read on its own scale into gains; training takes
its positives (gain at or above its bar) and its gain-0 judgments as negatives, so Home Depot's 1-3 floats,
ESCI letters and BEIR's 0/1 train side by side. The gains are not rescaled to one range: training reads only
"positive or negative", and each set's nDCG keeps its own protocol's gains (rescaling Home Depot's 1 and 2
to a 0-3 range would change its nDCG).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from ..config import DataConfig, TrainConfig, update
from ..errors import SearchtuneError

SET_KEYS = {"name", "max_samples", "weight", "eval_only", "min_positive_gain", "synthetic"}
TOP_KEYS = {"datasets", "train", "sampler", "curriculum", "target"}


@dataclass
class DataSet:
    name: str
    data: DataConfig
    max_samples: int | None = None
    weight: float = 1.0
    eval_only: bool = False
    min_positive_gain: int | None = None
    synthetic: int = 0  # products given offline synthetic training queries (0: none)


@dataclass
class MultiSpec:
    datasets: list[DataSet]
    train: TrainConfig = field(default_factory=TrainConfig)
    sampler: str = "proportional"
    curriculum: bool = False
    target: str | None = None
    path: str | None = None

    @property
    def trained(self) -> list[DataSet]:
        return [d for d in self.datasets if not d.eval_only]

    def by_name(self, name: str) -> DataSet:
        return next(d for d in self.datasets if d.name == name)


def load_spec(path: str | Path) -> MultiSpec:
    """Read and check a data sets file; every mistake names the set and the key."""
    path = Path(path)
    if not path.is_file():
        raise SearchtuneError(f"{path}: data sets file not found")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SearchtuneError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return parse_spec(raw, where=str(path), base=path.parent)


def parse_spec(raw: dict, where: str = "datasets", base: Path | None = None) -> MultiSpec:
    if not isinstance(raw, dict):
        raise SearchtuneError(f"{where}: expected a mapping with a 'datasets' list")
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise SearchtuneError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(TOP_KEYS))}")
    entries = raw.get("datasets")
    if not isinstance(entries, list) or not entries:
        raise SearchtuneError(f"{where}: 'datasets' must be a list of data sets (name, data or catalog + queries)")
    data_keys = {f.name for f in fields(DataConfig)}
    sets, names = [], set()
    for i, entry in enumerate(entries):
        at = f"{where}: datasets[{i}]"
        if not isinstance(entry, dict) or not entry.get("name"):
            raise SearchtuneError(f"{at}: each data set is a mapping with a 'name'")
        name = str(entry["name"])
        at = f"{at} ({name})"
        if name in names:
            raise SearchtuneError(f"{at}: the name is used twice")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name):
            raise SearchtuneError(f"{at}: a name is letters, digits, '.', '_' and '-' (it names folders of the "
                                  "output)")
        names.add(name)
        bad = sorted(set(entry) - SET_KEYS - data_keys)
        if bad:
            raise SearchtuneError(f"{at}: unknown key(s) {', '.join(bad)}; known: "
                                  f"{', '.join(sorted(SET_KEYS | data_keys))}")
        data = DataConfig()
        values = {k: v for k, v in entry.items() if k in data_keys}
        for key in ("data", "catalog", "queries", "query_texts", "split"):
            if values.get(key) and base is not None and not Path(values[key]).is_absolute():
                values[key] = str(base / values[key])
            if values.get(key) and base is not None and not Path(values[key]).exists():
                raise SearchtuneError(f"{at}: {key} file {values[key]} not found (relative paths start from the "
                                      f"folder of {where})")
        update(data, values, where=at)
        ds = DataSet(name, data, max_samples=_number(entry, "max_samples", int, at, low=1),
                     weight=_number(entry, "weight", float, at, default=1.0, low=0, strict=True),
                     eval_only=_flag(entry, "eval_only", at),
                     min_positive_gain=_number(entry, "min_positive_gain", int, at, low=0),
                     synthetic=_number(entry, "synthetic", int, at, default=0, low=0))
        if not (data.data or (data.catalog and data.queries)):
            raise SearchtuneError(f"{at}: give 'data' (one file), or 'catalog' with 'queries'")
        if ds.eval_only and (ds.max_samples or ds.synthetic or "weight" in entry or ds.min_positive_gain):
            raise SearchtuneError(f"{at}: an eval_only set is never trained on; drop max_samples, weight, "
                                  "min_positive_gain and synthetic, or drop eval_only")
        sets.append(ds)
    spec = MultiSpec(sets, sampler=str(raw.get("sampler", "proportional")),
                     curriculum=_flag(raw, "curriculum", where), target=raw.get("target"), path=where)
    update(spec.train, raw.get("train") or {}, where=f"{where}: train")
    from ..config import Config

    Config(train=spec.train).validate()  # the training settings checked as for one catalog (a nan epoch...)
    if spec.sampler not in ("proportional", "round_robin"):
        raise SearchtuneError(f"{where}: sampler must be proportional or round_robin, not '{spec.sampler}'")
    if spec.target is not None and spec.target not in names:
        raise SearchtuneError(f"{where}: target '{spec.target}' is not one of the data sets ({', '.join(names)})")
    if spec.target and spec.by_name(spec.target).eval_only:
        raise SearchtuneError(f"{where}: target '{spec.target}' is eval_only; it cannot be trained on")
    return spec


def _number(entry: dict, key: str, kind, at: str, *, default=None, low=None, strict: bool = False):
    """``entry[key]`` as an int or float (YAML's own number, never a word, nan or inf), at least ``low`` (above it
    with ``strict``), or ``default`` when absent."""
    import math

    value = entry.get(key)
    if value is None:
        return default
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and (
        kind is float or float(value).is_integer())
    if ok and low is not None:
        ok = value > low if strict else value >= low
    if not ok:
        need = ("a whole number" if kind is int else "a number") + (
            "" if low is None else f" {'above' if strict else 'of at least'} {low}")
        raise SearchtuneError(f"{at}: {key} must be {need}, got {value!r}")
    return kind(value)


def _flag(entry: dict, key: str, at: str) -> bool:
    """``entry[key]`` as YAML's true/false only: the word "false" in quotes is not read as true."""
    value = entry.get(key, False)
    if not isinstance(value, bool):
        raise SearchtuneError(f"{at}: {key} must be true or false (unquoted), got {value!r}")
    return value

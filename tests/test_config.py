"""Config in one place: options derived from the dataclasses, flags applied over YAML, validate() checks."""

import pytest

from searchtune.cli.options import _flags, apply_flags
from searchtune.config import Config
from searchtune.errors import SearchtuneError

SECTIONS = ("data", "train", "mine", "generate", "index")


def flags_of(**values):
    flags = _flags(SECTIONS, {})
    known = {f.param for f in flags}
    assert set(values) <= known, set(values) - known
    return apply_flags(Config(), flags, values).validate()


def test_every_flagged_field_becomes_one_option_with_its_help():
    flags = _flags(SECTIONS, {})
    params = [f.param for f in flags]
    assert len(params) == len(set(params))  # no two fields share an option
    by_param = {f.param: f for f in flags}
    assert by_param["lr"].field == "learning_rate" and by_param["lr"].help == "Learning rate."
    assert by_param["id_column"].role == "product_id" and by_param["label_column"].role == "label"
    assert "description_chars" not in by_param  # YAML only
    assert all(f.help for f in flags)


def test_flags_parse_set_related_fields_and_imply_others():
    c = flags_of(lr=3e-4, mine_window="5-40", precision="fp32", ance_rounds=2, matryoshka="384,64",
                 title_column="name", soup_with=["a", "b"])
    assert c.train.learning_rate == 3e-4
    assert (c.mine.range_min, c.mine.range_max) == (4, 40)
    assert c.train.precision == c.evaluate.precision == "fp32"
    assert c.mine.source == "model" and c.mine.rounds == 2  # --ance-rounds implies mining with the model
    assert c.train.matryoshka_dims == [384, 64] and c.data.columns == {"title": "name"}
    assert c.mine.soup and c.mine.soup_with == ["a", "b"]  # --soup-with implies --soup
    assert flags_of(negatives="ance").mine.source == "model"
    assert flags_of(negatives="bm25", ance_rounds=1).mine.source == "bm25"  # an explicit flag wins


def test_flags_override_the_yaml_and_leave_the_rest(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 3\n  batch_size: 16\n")
    flags = _flags(SECTIONS, {})
    c = apply_flags(Config.load(path), flags, {"epochs": 0.5})
    assert c.train.epochs == 0.5 and c.train.batch_size == 16


@pytest.mark.parametrize("change, message", [
    (dict(kind="image"), "--kind"),
    (dict(duplicate_products="last"), "--duplicate-products"),
    (dict(mine_window="50-10"), "window"),
    (dict(mine_top_k=20), "top_k"),
    (dict(mine_margin=1.5), "margin"),
    (dict(kind="dense", negatives="ance"), "negatives-file"),
    (dict(soup=True), "--soup"),
    (dict(query_typo_rate=2.0), "typo"),
    (dict(precision="fp8"), "precision"),
])
def test_validate_names_the_flag_and_what_to_do(change, message):
    with pytest.raises(SearchtuneError, match=message):
        flags_of(**change)


def test_from_dict_is_what_the_studio_sends():
    c = Config.from_dict({"train": {"epochs": "0.5"}, "mine": {"source": "ance"}}).validate()
    assert c.train.epochs == 0.5 and c.mine.source == "model"
    with pytest.raises(SearchtuneError, match="unknown section"):
        Config.from_dict({"trian": {}})
    with pytest.raises(SearchtuneError, match="must be a number"):
        Config.from_dict({"train": {"epochs": "many"}})


@pytest.mark.parametrize("section,name,value,message", [
    ("train", "epochs", float("nan"), "--epochs must be a finite number"),
    ("train", "epochs", -1.0, "--epochs must be above 0"),
    ("train", "max_seq_length", 0, "--max-seq-length must be above 0"),
    ("data", "attribute_chars", -5, "data.attribute_chars must be at least 0"),
    ("generate", "timeout", float("inf"), "--timeout must be a finite number"),
])
def test_every_number_is_checked(section, name, value, message):
    config = Config()
    setattr(getattr(config, section), name, value)
    with pytest.raises(SearchtuneError, match=message):
        config.validate()

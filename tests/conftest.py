import copy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def searchtune_home(tmp_path, monkeypatch):
    """Every test gets its own user directory (embedded collections go there)."""
    monkeypatch.setenv("SEARCHTUNE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="session")
def _splade():
    from searchtune.models import load_encoder

    return load_encoder("splade-tiny", kind="sparse")


@pytest.fixture
def splade(_splade):
    """The bundled BERT-tiny SPLADE model, loaded once per session and copied per test."""
    return copy.deepcopy(_splade)


@pytest.fixture
def homedepot():
    path = SHARED / "homedepot"
    if not (path / "train.csv").exists():
        pytest.skip(f"Home Depot data not found at {path} (needs ../shared/data beside the checkout)")
    return path


@pytest.fixture
def icecat():
    path = SHARED / "icecat"
    if not (path / "products.jsonl.gz").exists():
        pytest.skip(f"Icecat data not found at {path} (needs ../shared/data beside the checkout)")
    return path


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path

"""bench/pack_models.py: models carried back from a GPU machine as float16 deltas rebuild faithfully."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from searchtune.models import load_encoder

PACK = Path(__file__).resolve().parents[1] / "bench" / "pack_models.py"


@pytest.mark.slow
def test_pack_unpack_roundtrip(tmp_path):
    base = load_encoder("splade-tiny", device="cpu", kind="sparse")
    moved = {}
    for name, scale in (("a", 1e-3), ("b", 3e-3)):  # two "fine-tuned" models with different changes
        model = load_encoder("splade-tiny", device="cpu", kind="sparse")
        torch.manual_seed(len(name) + int(scale * 1e4))
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * scale)
        model.save(str(tmp_path / name))
        (tmp_path / name / "training_stats.json").write_text('{"steps": 1}')
        moved[name] = model.state_dict()
    subprocess.run([sys.executable, str(PACK), "pack", "--out", str(tmp_path / "parts"), "--part-mb", "4",
                    f"a={tmp_path / 'a'}", f"b={tmp_path / 'b'}"], check=True, capture_output=True)
    parts = sorted((tmp_path / "parts").glob("models.tgz.part-*"))
    assert len(parts) >= 3 and all(p.stat().st_size <= 4 * 1024 * 1024 for p in parts)
    # the tied decoder travels once: two models in well under two float32 copies (17.6 MB each)
    assert sum(p.stat().st_size for p in parts) < 2 * 9.5e6
    subprocess.run([sys.executable, str(PACK), "unpack", "--parts", str(tmp_path / "parts"),
                    "--dest", str(tmp_path / "back")], check=True, capture_output=True)
    for name, want in moved.items():
        got = load_encoder(tmp_path / "back" / name, device="cpu", kind="sparse").state_dict()
        for k, v in want.items():
            if v.is_floating_point():
                change = (v - base.state_dict()[k]).abs().max().item()
                # float16 keeps ~3 digits of the change; the second model must not start from the first
                assert (got[k] - v).abs().max().item() <= 1e-3 * change + 1e-7, k
        assert (tmp_path / "back" / name / "training_stats.json").read_text() == '{"steps": 1}'

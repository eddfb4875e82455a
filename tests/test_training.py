import json

import pandas as pd
import pytest
import torch

from searchtune.config import TrainConfig
from searchtune.data import SearchData, Split
from searchtune.errors import SearchtuneError
from searchtune.train.rows import training_rows
from searchtune.train.trainer import logging_steps, train


def small_data() -> SearchData:
    titles = ["cordless drill", "circular saw", "garden hose", "leaf blower", "step ladder", "paint roller",
              "ceiling fan", "smoke alarm", "door knob", "shower head", "shop vac", "fire pit"]
    products = pd.DataFrame({"product_id": [f"p{i}" for i in range(len(titles))], "title": titles,
                             "brand": [""] * len(titles), "text": titles})
    queries = {f"q{i}": f"buy a {t}" for i, t in enumerate(titles)}
    qrels = {f"q{i}": {f"p{i}": 2, f"p{(i + 1) % len(titles)}": 0} for i in range(len(titles))}
    qrels["q0"]["p5"] = 1
    return SearchData(products=products, queries=queries, qrels=qrels, positive_min_gain=1)


def test_rows_use_judged_negatives_and_refuse_held_out_queries():
    data = small_data()
    rows = training_rows(data, ["q0", "q1"], held_out=["q5"])
    assert set(rows) == {"triplets"}
    t = rows["triplets"]
    assert t["query"] == ["buy a cordless drill", "buy a cordless drill", "buy a circular saw"]
    assert t["positive"][:2] == ["cordless drill", "paint roller"]  # best gain first
    assert t["negative"][0] == "circular saw"
    assert training_rows(data, ["q0"], min_gain=2)["triplets"]["positive"] == ["cordless drill"]
    assert set(training_rows(data, ["q0"], judged_negatives=False)) == {"pairs"}
    with pytest.raises(SearchtuneError, match="held-out"):
        training_rows(data, ["q0", "q5"], held_out=["q5"])


def test_min_gain_fallback_keeps_queries_with_only_partly_relevant_products():
    data = small_data()
    data.qrels["q3"] = {"p3": 1, "p7": 1, "p4": 0}  # nothing at gain 2: only partly relevant products
    data.qrels["q4"] = {"p4": 0}  # no positive at all
    assert data.training_bar("q0", 2) == 2
    assert data.training_bar("q3", 2) is None
    assert data.training_bar("q3", 2, fallback=True) == 1
    assert data.training_bar("q4", 2, fallback=True) is None
    strict = training_rows(data, ["q0", "q3", "q4"], min_gain=2)["triplets"]
    assert strict["query"] == ["buy a cordless drill"]
    rows = training_rows(data, ["q0", "q3", "q4"], min_gain=2, fallback=True)["triplets"]
    # q0 still trains on its gain-2 product only; q3 on both of its gain-1 products; q4 on nothing
    assert rows["query"] == ["buy a cordless drill", "buy a leaf blower", "buy a leaf blower"]
    assert rows["positive"] == ["cordless drill", "leaf blower", "smoke alarm"]
    assert rows["negative"][1:] == ["step ladder", "step ladder"]


def test_short_runs_log_the_loss_often_enough_to_draw_a_curve():
    cfg = TrainConfig(batch_size=64, epochs=1, logging_steps=20)
    assert logging_steps(cfg, [24_143]) == 20  # 378 steps: the configured interval
    assert logging_steps(TrainConfig(batch_size=32, epochs=0.3, logging_steps=20), [300, 100]) == 1  # 3 steps
    assert logging_steps(TrainConfig(batch_size=32, epochs=1, logging_steps=20), [1_000, 600]) == 5  # 51 steps


class StopAt(__import__("transformers").TrainerCallback):
    """Simulates a crash (Ctrl-C) after a given step."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt


def test_a_training_run_changes_the_model_and_resumes_after_a_crash(tmp_path):
    from searchtune.models import load_encoder

    data = small_data()
    split = Split(train=[f"q{i}" for i in range(10)], dev=["q10"], test=["q11"])
    config = TrainConfig(epochs=2, batch_size=4, learning_rate=5e-4, save_steps=2, logging_steps=1,
                         max_seq_length=16)
    with pytest.raises(KeyboardInterrupt):
        train(data, split, config, tmp_path, progress=False, callbacks=[StopAt(3)])
    assert not (tmp_path / "model").exists()
    assert [p.name for p in (tmp_path / "checkpoints").glob("checkpoint-*")] == ["checkpoint-2"]
    # a later checkpoint cut off mid-save (no trainer state yet) is passed over for the last complete one
    (tmp_path / "checkpoints" / "checkpoint-3").mkdir()
    (tmp_path / "checkpoints" / "checkpoint-3" / "model.safetensors").write_bytes(b"")
    model_dir = train(data, split, config, tmp_path, resume=True, progress=False).model_dir
    stats = json.loads((model_dir / "training_stats.json").read_text())
    # 11 rows in batches of 4 → 3 steps an epoch, 6 in all; the resumed run started at step 2
    assert stats["pairs"] == 11 and stats["steps"] == 6 and stats["resumed"] is True
    log = json.loads((model_dir / "training_log.json").read_text())
    steps = [e["step"] for e in log if "loss" in e]
    assert steps == [1, 2, 3, 4, 5, 6]  # steps 1–2 come from the checkpoint's history, none was trained twice
    assert (model_dir / "searchtune_config.yaml").exists()
    base, tuned = load_encoder("splade-tiny", kind="sparse"), load_encoder(model_dir, kind="sparse")
    b = dict(base.named_parameters())
    changed = [n for n, p in tuned.named_parameters() if not torch.equal(p, b[n])]
    assert changed, "training did not change any weight"


def test_the_fused_projection_gives_sentence_transformers_embeddings_and_gradients(splade):
    """train/fused.py: the same embeddings and the same gradient for every parameter as SpladePooling over the
    full logits (dropout seeded alike; the attention key biases' gradients are zero up to rounding)."""
    import copy

    from searchtune.train.fused import fused

    texts = ["cordless drill 18v with two batteries", "white paint", "a", "saw " * 40, ""]
    splade.train()
    grads, embeddings = [], []
    for use in (False, True):
        model = copy.deepcopy(splade)
        torch.manual_seed(5)
        features = model.preprocess(texts)
        with fused(model) if use else torch.enable_grad():
            emb = model(features)["sentence_embedding"]
        weights = torch.rand(emb.shape, generator=torch.Generator().manual_seed(1))
        ((emb * weights).sum() + emb.sum(1).pow(2).mean()).backward()
        embeddings.append(emb.detach())
        grads.append({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
        assert "forward" not in vars(model[0]) and "forward" not in vars(model[1])  # restored after the block
    assert torch.allclose(embeddings[0], embeddings[1], atol=1e-5)
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 30
    for name, grad in grads[0].items():
        assert torch.allclose(grad, grads[1][name], rtol=1e-4, atol=1e-5 * max(1.0, grad.abs().max().item())), name

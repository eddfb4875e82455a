"""Weight averaging ("model soup", Wortsman et al. 2022) of models fine-tuned from the same start.

Models fine-tuned from one pretrained start (ANCE rounds, runs with other
negatives or seeds) usually sit in one basin of the loss, so the element-wise
mean of their weights is itself a good model, often better than each of them,
at no extra cost at search time. ``greedy_soup`` adds ingredients best-first
and keeps one only when the dev metric improves (the paper's recipe), so the
choice is made on dev and never on test.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import SearchtuneError
from ..models import load_encoder

logger = logging.getLogger(__name__)


def average_models(paths: Sequence[str | Path], out: str | Path, *, weights: Sequence[float] | None = None) -> Path:
    """Save the weighted mean of the models' weights to ``out``; return ``out``.

    The models must share one architecture (same parameter names and shapes):
    the first model's tokenizer, modules and config are kept. Non-float buffers
    (position ids) are taken from the first model. ``soup.json`` in ``out``
    records the ingredients and weights.
    """
    import torch

    paths = [str(p) for p in paths]
    if not paths:
        raise SearchtuneError("average_models needs at least one model")
    weights = [1.0] * len(paths) if weights is None else [float(w) for w in weights]
    if len(weights) != len(paths) or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise SearchtuneError(f"weights {weights} must be {len(paths)} non-negative numbers with a positive sum")
    total = sum(weights)
    weights = [w / total for w in weights]
    base = load_encoder(paths[0])
    state = base.state_dict()
    acc = {k: v.detach().float() * weights[0] for k, v in state.items() if v.is_floating_point()}
    for path, w in zip(paths[1:], weights[1:]):
        other = load_encoder(path).state_dict()
        if other.keys() != state.keys():
            missing = sorted(set(state) ^ set(other))[:3]
            raise SearchtuneError(f"cannot average {path} with {paths[0]}: different layers ({', '.join(missing)} ...);"
                                  " only models fine-tuned from the same base can be averaged")
        for k in acc:
            if other[k].shape != state[k].shape:
                raise SearchtuneError(f"cannot average {path} with {paths[0]}: {k} has shape "
                                      f"{tuple(other[k].shape)} vs {tuple(state[k].shape)}")
            acc[k] += other[k].detach().float() * w
    with torch.no_grad():
        base.load_state_dict({k: acc[k].to(v.dtype) if k in acc else v for k, v in state.items()})
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    base.save(str(tmp))
    first = Path(paths[0])
    if (first / "searchtune_config.yaml").is_file():  # the soup was trained like its first ingredient
        shutil.copy(first / "searchtune_config.yaml", tmp / "searchtune_config.yaml")
    (tmp / "soup.json").write_text(json.dumps({"ingredients": paths, "weights": weights}, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)
    return out


def greedy_soup(candidates: Sequence[str | Path], out_dir: str | Path, score: Callable[[str], float], *,
                scores: dict[str, float] | None = None, start: str | Path | None = None) -> dict:
    """Greedy soup: sort ``candidates`` by ``score`` (dev metric, higher is better), start from the best,
    add each next one to the soup and keep it only if the soup's score rises.

    ``score(model_path)`` evaluates a model on dev; ``scores`` may give the
    candidates' known dev scores (skips re-scoring them). Each tried soup is
    saved under ``out_dir/soup-N``; the result's ``model`` is the best path
    (an ingredient itself when no soup beat it).

    ``start`` (a soup folder written by :func:`average_models`, already chosen
    on dev) makes the greedy pass continue from that soup: its ingredients stay,
    and the other candidates are tried in dev order on top of them.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    candidates = list(dict.fromkeys(map(str, candidates)))
    if not candidates:
        raise SearchtuneError("a soup needs at least one candidate model")
    known = {str(k): v for k, v in (scores or {}).items()}
    for c in candidates:
        if c not in known:
            known[c] = score(c)
    order = sorted(candidates, key=lambda c: -known[c])
    if start is not None:
        chosen = json.loads((Path(start) / "soup.json").read_text())["ingredients"]
        best_model, best_score = str(start), score(str(start))
        order = [c for c in order if c not in chosen]
    else:
        chosen, order = [order[0]], order[1:]
        best_model, best_score = chosen[0], known[chosen[0]]
    tried = []
    for i, c in enumerate(order, start=1):
        path = average_models(chosen + [c], out_dir / f"soup-{i}")
        s = score(str(path))
        kept = s > best_score
        tried.append({"added": c, "ingredients": chosen + [c], "score": s, "kept": kept})
        logger.info("soup + %s: %.4f (%s; best %.4f)", c, s, "kept" if kept else "dropped", best_score)
        if kept:
            chosen.append(c)
            best_model, best_score = str(path), s
    return {"model": best_model, "score": best_score, "ingredients": chosen, "start": start and str(start),
            "candidates": {c: known[c] for c in candidates},
            "tried": tried}

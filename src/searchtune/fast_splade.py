"""SPLADE encoding without the [batch, tokens, vocabulary] tensor: an exact fast path for BERT-style MLM models.

sentence-transformers computes the MLM logits of every token over the whole vocabulary, then log(1 + relu)
and a max over tokens. The max commutes with the monotone log(1 + relu), and padded tokens (zeroed there,
so they only ever add a 0) can be left out of the max instead. So: run the encoder and the MLM head's
transform, then project onto the vocabulary in column chunks, taking each chunk's max over the real tokens
at once (a few MB of logits at a time), and apply log(1 + relu) to the pooled [batch, vocabulary] scores only. Texts are sorted by length
so batches carry little padding. The result equals sentence-transformers' (fp32: the same nonzero terms,
values within float rounding). Anything else (another architecture, prompts, a router, other pooling)
goes through sentence-transformers: :func:`supported` says which.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

logger = logging.getLogger(__name__)
# Logits computed at once: CHUNK_FLOATS (1 MB) or MIN_COLUMNS columns, whichever is more, so a chunk stays in
# cache for the max that reads it back. Measured on 3,000 Home Depot titles, batch 128 (AMD EPYC, AVX2,
# fp32): 32 MB chunks 186-218 docs/s, 1 MB 301-334, 4 MB 300-305.
CHUNK_FLOATS = 1 << 18
MIN_COLUMNS = 256  # narrower chunks make the matmul itself slow
_warned: set[str] = set()


def model_parts(model):
    """(transformer module, BertForMaskedLM) when the model's documents go through plain SPLADE over a
    BERT-style MLM (the document route of an inference-free model too), else None."""
    from .inference_free import document_modules

    modules = document_modules(model)
    if len(modules) != 2 or type(modules[1]).__name__ != "SpladePooling":
        return None
    pooling = modules[1]
    if pooling.pooling_strategy != "max" or pooling.activation_function != "relu":
        return None
    hf = getattr(modules[0], "model", None)
    predictions = getattr(getattr(hf, "cls", None), "predictions", None)
    if predictions is None or not hasattr(predictions, "transform") or not hasattr(predictions, "decoder"):
        return None
    if getattr(model, "prompts", None) and any(model.prompts.values()) or getattr(model, "default_prompt_name", None):
        return None
    return modules[0], hf


def supported(model) -> bool:
    """Whether ``model`` takes the fast path; the first model that does not is named once in the log."""
    ok = model_parts(model) is not None
    if not ok:
        from .inference_free import document_modules

        names = ", ".join(type(m).__name__ for m in document_modules(model))
        if names not in _warned:
            _warned.add(names)
            logger.info("SPLADE fast path: modules not recognised (%s); encoding through sentence-transformers",
                        names)
    return ok


def projection(hf):
    """The MLM head's vocabulary projection: weight [vocabulary, hidden] and bias [vocabulary]."""
    predictions = hf.cls.predictions
    bias = predictions.bias if getattr(predictions, "bias", None) is not None else predictions.decoder.bias
    return predictions.decoder.weight, bias


def hidden_states(hf, features: dict):
    """The MLM head's transformed hidden states, [batch, tokens, hidden]: what the vocabulary projection reads."""
    inputs = {k: v for k, v in features.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    return hf.cls.predictions.transform(hf.base_model(**inputs).last_hidden_state)


def max_logits(hidden, mask, weight, bias, *, chunk_floats: int = CHUNK_FLOATS, argmax: bool = False):
    """The max over each text's real tokens of ``hidden @ weight.T + bias``, [batch, vocabulary] in float32,
    computed in column chunks so the full logits never exist; with ``argmax`` also the token of each max
    (else None). Shared by encoding and by training (:mod:`searchtune.train.fused`)."""
    import torch

    batch, tokens, width = hidden.shape
    flat = hidden.reshape(batch * tokens, width)
    pad = torch.zeros(batch * tokens, 1, dtype=flat.dtype, device=flat.device)
    pad[~mask.reshape(-1)] = float("-inf")
    vocab = weight.shape[0]
    pooled = torch.empty(batch, vocab, dtype=torch.float32, device=flat.device)
    arg = torch.empty(batch, vocab, dtype=torch.long, device=flat.device) if argmax else None
    step = max(MIN_COLUMNS, min(vocab, chunk_floats // (batch * tokens)))
    for c in range(0, vocab, step):
        logits = torch.addmm(bias[c:c + step].to(flat.dtype), flat, weight[c:c + step].to(flat.dtype).T)
        logits += pad
        view = logits.view(batch, tokens, -1)
        if argmax:
            pooled[:, c:c + step], arg[:, c:c + step] = view.max(dim=1)
        else:
            pooled[:, c:c + step] = view.amax(dim=1)
    return pooled, arg


def encode(model, texts: list[str], *, batch_size: int = 128, columns: np.ndarray | None = None) -> sp.csr_matrix:
    """One CSR row per text, as ``SparseEncoder.encode_document`` would give it (see the module's docstring).

    ``columns``: compute only these vocabulary columns (sorted ids), the rest stay 0. For queries against an
    index that holds no other terms, rankings are unchanged and the projection costs that share of the work.
    """
    import torch

    transformer, hf = model_parts(model)
    weight, bias = projection(hf)
    full = weight.shape[0]
    if columns is not None:
        picked = torch.as_tensor(columns, dtype=torch.long, device=weight.device)
        weight, bias = weight[picked], bias[picked]
    order = np.argsort([-len(t) for t in texts], kind="stable")  # longest first, like sentence-transformers
    blocks: list[sp.csr_matrix] = []
    device = weight.device
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            batch_texts = [texts[i] for i in idx]
            features = transformer.preprocess(batch_texts)
            features = {k: v.to(device) for k, v in features.items() if isinstance(v, torch.Tensor)}
            pooled, _ = max_logits(hidden_states(hf, features), features["attention_mask"].bool(), weight, bias)
            blocks.append(sp.csr_matrix(torch.log1p(torch.relu(pooled)).cpu().numpy()))
    if not blocks:
        return sp.csr_matrix((0, full), dtype=np.float32)
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    matrix = sp.vstack(blocks, format="csr")[back]
    if columns is not None:  # back to vocabulary ids
        matrix = sp.csr_matrix((matrix.data, np.asarray(columns)[matrix.indices], matrix.indptr),
                               shape=(matrix.shape[0], full))
    return matrix

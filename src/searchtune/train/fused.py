"""SPLADE training without the [batch, tokens, vocabulary] logits: the projection and the max as one step.

sentence-transformers' SpladePooling receives the MLM logits of every token over the whole vocabulary,
applies log(1 + relu) and max-pools; autograd then keeps those tensors for the backward pass. The max
commutes with the monotone activation (see :mod:`searchtune.fast_splade`), so :class:`MaxProjection`
computes the vocabulary projection in column chunks with the max over real tokens fused in, keeps only
the arg-max token of each (text, term), and in the backward pass sends each term's gradient to that one
token: a sparse update, since log(1 + relu) passes no gradient where the pooled logit is not positive.

:func:`fused` swaps the forward methods of a SPLADE model's document modules in place for the length of
a ``with`` block (training); the modules, their weights and their saved form stay sentence-transformers'
own, so checkpoints, resume, soups and the saved model are unchanged.
"""

from __future__ import annotations

import contextlib

CHUNK_FLOATS = 1 << 22  # logits computed at once (16 MB)
ENABLED = True  # False: train through sentence-transformers' own modules (bench/train_speed.py compares)


def _max_projection():
    import torch

    from ..fast_splade import max_logits

    class MaxProjection(torch.autograd.Function):
        """max over real tokens of (hidden @ weight.T + bias): [batch, tokens, hidden] → [batch, vocabulary]."""

        @staticmethod
        def forward(ctx, hidden, mask, weight, bias):
            pooled, arg = max_logits(hidden, mask, weight, bias, chunk_floats=CHUNK_FLOATS, argmax=True)
            ctx.save_for_backward(hidden, weight, arg)
            return pooled

        @staticmethod
        def backward(ctx, grad):
            hidden, weight, arg = ctx.saved_tensors
            batch, tokens, width = hidden.shape
            row, term = grad.nonzero(as_tuple=True)  # only terms with a positive pooled logit carry a gradient
            g = grad[row, term].to(weight.dtype)[:, None]
            token = row * tokens + arg[row, term]
            grad_hidden = grad_weight = grad_bias = None
            if ctx.needs_input_grad[0]:
                grad_hidden = torch.zeros(batch * tokens, width, dtype=weight.dtype, device=weight.device)
                grad_hidden.index_add_(0, token, g * weight[term])
                grad_hidden = grad_hidden.view(batch, tokens, width).to(hidden.dtype)
            if ctx.needs_input_grad[2]:
                grad_weight = torch.zeros_like(weight)
                grad_weight.index_add_(0, term, g * hidden.reshape(batch * tokens, width)[token].to(weight.dtype))
            if ctx.needs_input_grad[3]:
                grad_bias = grad.sum(0).to(weight.dtype)
            return grad_hidden, None, grad_weight, grad_bias

    return MaxProjection


@contextlib.contextmanager
def fused(model):
    """Within the block, ``model``'s SPLADE document modules train through :class:`MaxProjection`; a model
    the fast path does not recognise (:func:`searchtune.fast_splade.supported`) is left as it is."""
    from ..fast_splade import hidden_states, model_parts, projection

    parts = model_parts(model) if ENABLED else None
    if parts is None:
        yield False
        return
    from ..inference_free import document_modules

    transformer, hf = parts
    pooling = document_modules(model)[1]
    weight, bias = projection(hf)
    projection = _max_projection()
    import torch

    def transformer_forward(features, **kwargs):
        # the hidden states stand in for the logits: the pooling below projects them
        features["token_embeddings"] = hidden_states(hf, features)
        return features

    def pooling_forward(features, **kwargs):
        pooled = projection.apply(features["token_embeddings"], features["attention_mask"].bool(), weight, bias)
        features["sentence_embedding"] = torch.log1p(torch.relu(pooled))
        return features

    transformer.forward, pooling.forward = transformer_forward, pooling_forward
    try:
        yield True
    finally:
        del transformer.forward, pooling.forward  # back to the classes' own methods

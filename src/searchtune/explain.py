"""What a sparse model reads in a query, and why a product scores what it does: untuned against tuned.

A SPLADE score is a dot product over vocabulary terms, score(q, d) = Σ_t w_q(t) · w_d(t), so it explains
itself: :func:`explain` gives each model's expansion terms of the query and, for a product, every shared
term's contribution w_q(t) · w_d(t), which sum to the score. Encoding is in float32 here, so the sum is the
score to rounding. A dense model has no terms: it is refused with a clear error.
"""

from __future__ import annotations

from .errors import SearchtuneError


def explain(query: str, models: dict[str, str], *, product: str | None = None, k: int = 15,
            max_length: int | None = None) -> dict:
    """For each model (``{label: model ref}``): the query's top ``k`` terms with their weights and, with
    ``product`` (a product text), the score and each shared term's contribution, largest first."""
    from .encode import encode, is_sparse, top_terms
    from .models import load_encoder

    out: dict[str, dict] = {}
    for label, ref in models.items():
        model = load_encoder(ref)
        if not is_sparse(model):
            raise SearchtuneError(f"explain needs a sparse (SPLADE) model; '{ref}' is dense, so its score is a cosine "
                                  "of two embeddings with no terms to show")
        if max_length:
            model.max_seq_length = max_length
        q = encode(model, [query], "query", precision="fp32").tocsr()
        entry: dict = {"model": str(ref), "terms": [{"term": t, "weight": round(w, 4)}
                                                     for t, w in top_terms(model, q, k)]}
        if product is not None:
            d = encode(model, [product], "document", precision="fp32").tocsr()
            both = q.multiply(d).tocsr()
            order = both.data.argsort()[::-1]
            ids = both.indices[order]
            tokens = model.tokenizer.convert_ids_to_tokens(ids.tolist())
            qd, dd = q.toarray()[0], d.toarray()[0]
            entry["score"] = float(q.dot(d.T).toarray()[0, 0])
            entry["contributions"] = [{"term": t, "query": round(float(qd[i]), 4), "product": round(float(dd[i]), 4),
                                       "contribution": round(float(qd[i] * dd[i]), 4)} for t, i in zip(tokens, ids)]
        out[label] = entry
    return out

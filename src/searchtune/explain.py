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


def what_changed(texts: list[str], brands: list[str], untuned: str, tuned: str, *, sample: int = 500, seed: int = 0,
                 max_length: int | None = None, top: int = 12) -> dict:
    """What fine-tuning changed in how the catalog is read, over a seeded sample of product texts: the terms
    whose share of the documents' weight rose and fell most, and each model's share of weight on brands (the
    word pieces the catalog's brand names are written with), generic words (in more than a fifth of the sampled
    products), numbers and units, and expansion terms (not among the product's own tokens)."""
    import numpy as np

    from .encode import encode, is_sparse
    from .models import load_encoder

    rng = np.random.default_rng(seed)
    picked = [texts[i] for i in sorted(rng.choice(len(texts), size=min(sample, len(texts)), replace=False))]
    names = sorted({b for b in brands if b})
    out: dict = {"products": len(picked), "models": {}}
    mass = {}
    for label, ref in (("untuned", untuned), ("tuned", tuned)):
        model = load_encoder(ref)
        if not is_sparse(model):
            raise SearchtuneError(f"what changed is read from a sparse model's terms; '{ref}' is dense")
        if max_length:
            model.max_seq_length = max_length
        docs = encode(model, picked, "document", precision="fp32").tocsr()
        tokens = np.array(model.tokenizer.convert_ids_to_tokens(list(range(docs.shape[1]))), dtype=object)
        own = [set(model.tokenizer(t, truncation=True, max_length=model.max_seq_length)["input_ids"]) for t in picked]
        total = float(docs.sum())
        df = np.asarray((docs > 0).sum(axis=0)).ravel() / docs.shape[0]
        weight = np.asarray(docs.sum(axis=0)).ravel()
        word = np.array([t.removeprefix("##").lower() for t in tokens], dtype=object)
        brand_ids = {i for ids in (model.tokenizer(names, add_special_tokens=False)["input_ids"] if names else [])
                     for i in ids}  # the word pieces brand names are written with
        classes = {"brands": np.isin(np.arange(len(tokens)), list(brand_ids)),
                   "numbers and units": np.array([any(c.isdigit() for c in w) for w in word]),
                   "generic words": df > 0.2}
        expansion = sum(float(docs[i].data[~np.isin(docs[i].indices, list(own[i]))].sum()) for i in range(docs.shape[0]))
        out["models"][label] = {**{k: round(float(weight[m].sum()) / total, 4) for k, m in classes.items()},
                                "expansion terms": round(expansion / total, 4),
                                "terms per product": round(docs.nnz / docs.shape[0], 1)}
        mass[label] = (weight / total, tokens)
    share_u, tokens = mass["untuned"]
    share_t, _ = mass["tuned"]
    delta = share_t - share_u
    out["gained"] = [{"term": tokens[i], "untuned": round(float(share_u[i]), 5), "tuned": round(float(share_t[i]), 5)}
                     for i in np.argsort(-delta)[:top]]
    out["lost"] = [{"term": tokens[i], "untuned": round(float(share_u[i]), 5), "tuned": round(float(share_t[i]), 5)}
                   for i in np.argsort(delta)[:top]]
    return out

"""Simulated shoppers on a live server: the loop from served searches back to training, nothing hand-copied.

Each simulated search picks a labelled query (Zipf frequencies, as :mod:`.simulate`), sends it to the
server's ``POST /search``, and a shopper reads the page the server returned with the click model of
:mod:`.simulate` (examined at position k with probability (1/k)^``position_bias``, clicked with an
attractiveness that grows with the query's judged gain for the product; add-to-cart and purchase by gain).
Each click, add-to-cart and purchase goes to ``POST /events`` with the search's ``search_id``. The server's
log (``serve --log``) then holds what it showed and what was done with it, which ``searchtune events import``
reads with no flags. Unlike :func:`.simulate.simulate`, the ranking is the served system's, not BM25's.
"""

from __future__ import annotations

import http.client
import json
import logging
from urllib.parse import urlparse

import numpy as np

from ..data import SearchData
from ..errors import SearchtuneError
from .simulate import SimulationConfig, attractiveness, examination, query_frequencies, top_gain

logger = logging.getLogger(__name__)


def replay(url: str, data: SearchData, qids: list[str], config: SimulationConfig, searches: int, *,
           api_key: str | None = None) -> dict:
    """``searches`` simulated searches of the labelled queries ``qids`` on the server at ``url``; returns the
    counts of searches, clicks, add-to-carts and purchases sent."""
    config.validate()
    qids = [q for q in sorted(qids) if data.qrels.get(q)]
    if not qids:
        raise SearchtuneError("no labelled query to replay")
    target = urlparse(url)
    if target.scheme != "http" or not target.hostname:
        raise SearchtuneError(f"--url must be http://HOST:PORT of a running `searchtune serve`, not '{url}'")
    conn = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=60)
    headers = {"Content-Type": "application/json", **({"X-API-Key": api_key} if api_key else {})}

    def post(path: str, body: dict) -> dict:
        conn.request("POST", path, json.dumps(body), headers)
        response = conn.getresponse()
        raw = response.read()
        if response.status != 200:
            raise SearchtuneError(f"{url}{path} answered {response.status}: {raw[:200].decode(errors='replace')}")
        return json.loads(raw)

    rng = np.random.default_rng(config.seed)
    max_gain = top_gain(data)
    weights = query_frequencies(len(qids), config, rng)
    counts = {"searches": 0, "click": 0, "add_to_cart": 0, "purchase": 0}
    for i in rng.choice(len(qids), size=searches, p=weights):
        q = qids[i]
        found = post("/search", {"query": data.queries[q], "k": config.page_size})
        if not found.get("search_id"):
            raise SearchtuneError(f"{url} keeps no log: start it with `searchtune serve ... --log FILE`")
        counts["searches"] += 1
        ids = [h["id"] for h in found["hits"]]
        gains = np.array([max(data.qrels[q].get(p, 0), 0) for p in ids], dtype=float)
        seen = rng.random(len(ids)) < examination(np.arange(1, len(ids) + 1), config.position_bias)
        clicked = seen & (rng.random(len(ids)) < attractiveness(gains, config.noise, max_gain))
        share = gains / max_gain
        carted = clicked & (rng.random(len(ids)) < config.cart_rate * share)
        bought = carted & (rng.random(len(ids)) < config.purchase_rate * share)
        for event, mask in (("click", clicked), ("add_to_cart", carted), ("purchase", bought)):
            for at in np.flatnonzero(mask):
                post("/events", {"search_id": found["search_id"], "product_id": ids[at], "event": event})
                counts[event] += 1
    conn.close()
    logger.info("replayed %s searches on %s: %s clicks, %s add-to-carts, %s purchases", f"{counts['searches']:,}",
                url, f"{counts['click']:,}", f"{counts['add_to_cart']:,}", f"{counts['purchase']:,}")
    return counts

"""How many products of the seeded sample order already have a cached LLM answer (for a stopped generation run).

Usage: python bench/cached_prefix.py DATA_FILE MODEL_NAME CACHE [--seed 42] [--per-product 4]
Prints N such that `generate-queries --max-products N` is answered entirely from the cache.
"""
import argparse

from searchtune.config import DataConfig
from searchtune.data import load_data
from searchtune.synthetic import sample_products
from searchtune.synthetic.cache import AnswerCache, cache_key

p = argparse.ArgumentParser()
p.add_argument("data"); p.add_argument("model"); p.add_argument("cache")
p.add_argument("--seed", type=int, default=42); p.add_argument("--per-product", type=int, default=4)
a = p.parse_args()
products = sample_products(load_data(DataConfig(data=a.data, duplicate_products="first")).products, None, a.seed)
cache = AnswerCache(a.cache)
n = 0
for pid, text in zip(products["product_id"], products["text"]):
    if cache.get(cache_key(a.model, pid, text, a.per_product)) is None:
        break
    n += 1
print(n)

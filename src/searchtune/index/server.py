"""A Qdrant server or cluster through ``qdrant-client`` (``--qdrant-url``).

Qdrant collections hold no free-form metadata, so searchtune's (model,
catalog, counts) is the payload of one reserved point with no vector, whose id
is derived from ``"__searchtune_meta__"``; searches never return it because it
has no sparse vector, and ``count`` counts only points that have one.
``--qdrant-url :memory:`` uses qdrant-client's local mode (a pure-Python scan,
for tests only).
"""

from __future__ import annotations

import warnings

from ..errors import SearchtuneError
from .base import (
    Hit,
    Index,
    check_vectors,
    fused_limit,
    point_id,
    row_vector,
    settle,
    stored,
    with_retry,
)

META_ID = point_id("__searchtune_meta__")


class ServerIndex(Index):
    def __init__(self, name: str, url: str | None = None, api_key: str | None = None, client=None,
                 batch_size: int = 256, timeout: int = 60, vectors: dict | None = None,
                 storage: dict | None = None) -> None:
        from qdrant_client import QdrantClient

        self.name = name
        self.storage = dict(storage or {})
        self.vector_layout = check_vectors(dict(vectors)) if vectors else None
        self.batch_size = batch_size
        if client is None:
            if url == ":memory:":
                client = QdrantClient(location=":memory:")
            else:
                client = QdrantClient(url=url, api_key=api_key, timeout=timeout)
        self.client = client

    def exists(self) -> bool:
        try:
            return self.client.collection_exists(self.name)
        except Exception as exc:  # connection refused, bad URL, auth
            raise SearchtuneError(f"cannot reach Qdrant for collection '{self.name}': {exc}") from exc

    def create(self, recreate: bool = False, metadata: dict | None = None) -> None:
        from qdrant_client import models

        if self.exists() and recreate:
            self.refuse_live()
            self.client.delete_collection(self.name)
        if not self.exists():
            store = self.storage
            datatype = {"float16": models.Datatype.FLOAT16, "uint8": models.Datatype.UINT8}.get(
                store.get("dense_datatype", "float32"))
            dense, sparse = {}, {}
            for name, v in self.layout().items():
                if v["kind"] == "dense":
                    dense[name] = models.VectorParams(size=int(v["size"]), distance=models.Distance.COSINE,
                                                      datatype=datatype)
                else:
                    sparse[name] = models.SparseVectorParams(
                        modifier=models.Modifier.IDF if v.get("idf") else None,
                        index=models.SparseIndexParams(on_disk=True) if store.get("sparse_on_disk") else None)
            self.client.create_collection(self.name, vectors_config=dense, sparse_vectors_config=sparse,
                                          on_disk_payload=store.get("payload_on_disk") or None,
                                          shard_number=store.get("shards"), replication_factor=store.get("replicas"))
            metadata = {**(metadata or {}), "vectors": self.layout(), "storage": store}
            with warnings.catch_warnings():  # qdrant-client's local mode warns that it ignores payload indexes
                warnings.simplefilter("ignore", UserWarning)
                self.client.create_payload_index(self.name, "product_id", models.PayloadSchemaType.KEYWORD)
        meta = {**self.metadata(), **(metadata or {}), "backend": "qdrant-server"}
        self.client.upsert(self.name, [models.PointStruct(id=META_ID, vector={}, payload={"__searchtune__": meta})])

    def layout(self) -> dict:
        return self.vector_layout or self.metadata().get("vectors") or {}

    def metadata(self) -> dict:
        if not self.exists():
            return {}
        found = self.client.retrieve(self.name, [META_ID], with_payload=True)
        return dict(found[0].payload.get("__searchtune__", {})) if found else {}

    def delete(self) -> None:
        if self.exists():
            self.refuse_live()
            self.client.delete_collection(self.name)

    def upsert(self, product_ids: list[str], vectors, payloads: list[dict]) -> None:
        from qdrant_client import models

        named = vectors
        batch = []

        def send(points):
            with_retry(lambda: self.client.upsert(self.name, points, wait=True), what=f"upsert into {self.name}")

        for i, (pid, payload) in enumerate(zip(product_ids, payloads)):
            vec = {}
            for name, matrix in named.items():
                v = row_vector(matrix, i)
                vec[name] = models.SparseVector(indices=v[0], values=v[1]) if isinstance(v, tuple) else v
            batch.append(models.PointStruct(id=point_id(pid), vector=vec, payload=payload))
            if len(batch) >= self.batch_size:
                send(batch)
                batch = []
        if batch:
            send(batch)

    def count(self) -> int:
        from qdrant_client import models

        flt = models.Filter(must=[models.HasVectorCondition(has_vector=next(iter(self.layout())))])
        return self.client.count(self.name, count_filter=flt, exact=True).count

    def hashes(self, batch_size: int = 2048) -> dict[str, str | None]:
        out, offset = {}, None
        while True:
            records, offset = with_retry(lambda offset=offset: self.client.scroll(
                self.name, limit=batch_size, offset=offset, with_payload=["product_id", "hash"], with_vectors=False),
                what=f"scroll {self.name}")
            out.update({r.payload["product_id"]: r.payload.get("hash") for r in records
                        if r.payload and "product_id" in r.payload})  # the metadata point has none
            if offset is None or not records:
                return out

    def delete_points(self, product_ids: list[str], batch_size: int = 1024) -> None:
        from qdrant_client import models

        for start in range(0, len(product_ids), batch_size):
            ids = [point_id(p) for p in product_ids[start:start + batch_size]]
            with_retry(lambda ids=ids: self.client.delete(self.name, models.PointIdsList(points=ids), wait=True),
                       what=f"delete from {self.name}")

    def vectors(self, product_ids: list[str], dim: int, name: str, batch_size: int = 256):
        dense = self.layout().get(name, {}).get("kind") == "dense"
        found = {}
        for start in range(0, len(product_ids), batch_size):
            ids = [point_id(p) for p in product_ids[start:start + batch_size]]
            records = with_retry(lambda ids=ids: self.client.retrieve(self.name, ids, with_payload=True,
                                                                      with_vectors=[name]),
                                 what=f"retrieve from {self.name}")
            for rec in records:
                vec = (rec.vector or {}).get(name)
                if vec is not None:
                    found[rec.payload["product_id"]] = vec if dense else (list(vec.indices), list(vec.values))
        return stored(found, product_ids, dim, dense)

    def query(self, named: dict, using: list[str], limit: int = 10, *, fusion: str = "rrf",
              weights: list[float] | None = None, prefetch_limit: int = 100, rrf_k: int = 60,
              exclude: list[set[str]] | None = None, batch_size: int = 64,
              where: list[dict[str, str] | None] | None = None) -> list[list[Hit]]:
        from qdrant_client import models

        self.check_query(using, fusion)
        params = {u: models.SearchParams(**p) if (p := self.dense_search(u)) else None for u in using}

        def q(v):
            return models.SparseVector(indices=v[0], values=v[1]) if isinstance(v, tuple) else v

        n = next(iter(named.values())).shape[0]
        requests = []
        for i in range(n):
            flt = None
            must = [models.FieldCondition(key=key, match=models.MatchValue(value=str(v)))
                    for key, v in ((where or [None] * n)[i] or {}).items()]
            if (exclude is not None and exclude[i]) or must:
                flt = models.Filter(must=must or None, must_not=[models.HasIdCondition(
                    has_id=[point_id(p) for p in exclude[i]])] if exclude is not None and exclude[i] else None)
            if len(using) == 1:
                requests.append(models.QueryRequest(query=q(row_vector(named[using[0]], i)), using=using[0],
                                                    limit=limit, filter=flt, with_payload=True,
                                                    params=params[using[0]]))
                continue
            fused = (models.RrfQuery(rrf=models.Rrf(k=rrf_k, weights=weights)) if fusion == "rrf"
                     else models.FusionQuery(fusion=models.Fusion.DBSF))
            pre = [models.Prefetch(query=q(row_vector(named[u], i)), using=u, limit=prefetch_limit, params=params[u],
                                   filter=flt) for u in using]
            requests.append(models.QueryRequest(prefetch=pre, query=fused, limit=fused_limit(limit),
                                                with_payload=True))
        return self._send(requests, batch_size, limit if len(using) > 1 else None)

    def _send(self, requests: list, batch_size: int, limit: int | None = None) -> list[list[Hit]]:
        """Send the queries in batches; ``limit``: fused queries, whose ties :func:`settle` breaks."""
        out: list[list[Hit]] = []
        for start in range(0, len(requests), batch_size):
            chunk = requests[start:start + batch_size]
            responses = with_retry(lambda chunk=chunk: self.client.query_batch_points(self.name, requests=chunk),
                                   what=f"query {self.name}")
            for resp in responses:
                hits = [Hit(p.payload["product_id"], float(p.score), dict(p.payload)) for p in resp.points]
                out.append(settle(hits, limit) if limit else hits)
        return out

    def close(self) -> None:
        self.client.close()

"""Qdrant Edge: Qdrant's Rust engine in-process, the embedded default.

A collection is an Edge shard in ``DATA_DIR/<name>/``; what searchtune needs to
know about it (model, point count, when) sits beside it in ``DATA_DIR/<name>.json``.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

from ..errors import SearchtuneError
from ..files import write_json
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


class EdgeIndex(Index):
    def __init__(self, name: str, data_dir: str | Path, batch_size: int = 256, vectors: dict | None = None,
                 storage: dict | None = None) -> None:
        _check_name(name)
        self.storage = dict(storage or {})
        self.vector_layout = check_vectors(dict(vectors)) if vectors else None  # None: the collection's own (or sparse)
        self.name = name
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / name
        self.meta_path = self.data_dir / f"{name}.json"
        self.batch_size = batch_size
        self._shard = None

    # -- lifecycle -----------------------------------------------------
    def exists(self) -> bool:
        return self.meta_path.exists() and self.path.exists()

    def layout(self) -> dict:
        return self.vector_layout or self.metadata().get("vectors") or {}

    def _config(self):
        from qdrant_edge import (
            Distance,
            EdgeConfig,
            EdgeSparseVectorParams,
            EdgeVectorParams,
            Modifier,
            VectorStorageDatatype,
        )

        store = self.storage
        datatype = {"float16": VectorStorageDatatype.Float16, "uint8": VectorStorageDatatype.Uint8}.get(
            store.get("dense_datatype", "float32"))
        dense, sparse = {}, {}
        for name, v in self.layout().items():
            if v["kind"] == "dense":
                dense[name] = EdgeVectorParams(size=int(v["size"]), distance=Distance.Cosine, datatype=datatype)
            else:
                sparse[name] = EdgeSparseVectorParams(modifier=Modifier.Idf if v.get("idf") else None,
                                                      on_disk=store.get("sparse_on_disk") or None)
        return EdgeConfig(vectors=dense, sparse_vectors=sparse, on_disk_payload=store.get("payload_on_disk") or None)

    @property
    def shard(self):
        if self._shard is None:
            from qdrant_edge import EdgeShard

            if not self.exists():
                raise SearchtuneError(f"collection '{self.name}' does not exist in {self.data_dir}; "
                                      "build it with `searchtune index`")
            self._shard = EdgeShard.load(str(self.path))
        return self._shard

    def create(self, recreate: bool = False, metadata: dict | None = None) -> None:
        from qdrant_edge import EdgeShard

        if self.exists() and not recreate:
            self._write_meta(metadata)
            return
        if self.exists():
            self.refuse_live()
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True, exist_ok=True)
        self._shard = EdgeShard.create(str(self.path), self._config())
        self._write_meta({**(metadata or {}), "vectors": self.layout(), "storage": self.storage}, fresh=True)

    def _write_meta(self, metadata: dict | None, fresh: bool = False) -> None:
        meta = {} if fresh or not self.meta_path.exists() else json.loads(self.meta_path.read_text())
        meta.update(metadata or {})
        meta.setdefault("backend", "qdrant-edge")
        write_json(self.meta_path, meta, indent=2)

    def metadata(self) -> dict:
        return json.loads(self.meta_path.read_text()) if self.meta_path.exists() else {}

    def delete(self) -> None:
        if self.exists():
            self.refuse_live()
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)
        self.meta_path.unlink(missing_ok=True)

    def close(self) -> None:
        if self._shard is not None:
            self._shard.flush()
            self._shard.close()
            self._shard = None

    # -- data ----------------------------------------------------------
    def upsert(self, product_ids: list[str], vectors, payloads: list[dict]) -> None:
        from qdrant_edge import Point, SparseVector, UpdateOperation

        shard = self.shard
        named = vectors

        def send(points):
            op = UpdateOperation.upsert_points(points)
            with_retry(lambda: shard.update(op), what=f"upsert into {self.name}")

        batch = []
        for i, (pid, payload) in enumerate(zip(product_ids, payloads)):
            vec = {}
            for name, matrix in named.items():
                v = row_vector(matrix, i)
                vec[name] = SparseVector(*v) if isinstance(v, tuple) else v
            batch.append(Point(uuid.UUID(point_id(pid)), vec, payload))
            if len(batch) >= self.batch_size:
                send(batch)
                batch = []
        if batch:
            send(batch)
        shard.flush()

    def query(self, named: dict, using: list[str], limit: int = 10, *, fusion: str = "rrf",
              weights: list[float] | None = None, prefetch_limit: int = 100, rrf_k: int = 60,
              exclude: list[set[str]] | None = None, batch_size: int = 256,
              where: list[dict[str, str] | None] | None = None) -> list[list[Hit]]:
        from qdrant_edge import (
            FieldCondition,
            Filter,
            Fusion,
            HasIdCondition,
            MatchValue,
            Prefetch,
            QueryBatchRequest,
            QueryRequest,
            SearchParams,
        )

        self.check_query(using, fusion)
        params = {u: SearchParams(**p) if (p := self.dense_search(u)) else None for u in using}
        n = next(iter(named.values())).shape[0]
        requests = []
        for i in range(n):
            flt = None
            wanted = (where or [None] * n)[i] or {}
            must = [FieldCondition(key, match=MatchValue(str(v))) for key, v in wanted.items()]
            drop = exclude[i] if exclude is not None else None
            if drop or must:
                flt = Filter(must=must or None,
                             must_not=[HasIdCondition({uuid.UUID(point_id(p)) for p in drop})] if drop else None)
            if len(using) == 1:
                requests.append(QueryRequest(limit=limit, query=_nearest(row_vector(named[using[0]], i), using[0]),
                                             filter=flt, with_payload=True, params=params[using[0]]))
            else:
                fused = Fusion.Rrf(k=rrf_k, weights=weights) if fusion == "rrf" else Fusion.Dbsf()
                pre = [Prefetch(limit=prefetch_limit, query=_nearest(row_vector(named[u], i), u), params=params[u],
                                filter=flt) for u in using]
                requests.append(QueryRequest(limit=fused_limit(limit), query=fused, prefetches=pre,
                                             with_payload=True))
        out: list[list[Hit]] = []
        for start in range(0, n, batch_size):
            for points in self.shard.query_batch(QueryBatchRequest(requests[start:start + batch_size])):
                hits = [Hit(p.payload["product_id"], float(p.score), dict(p.payload)) for p in points]
                out.append(settle(hits, limit) if len(using) > 1 else hits)
        return out

    def optimize(self) -> None:
        self.shard.optimize()

    def count(self) -> int:
        from qdrant_edge import CountRequest

        return self.shard.count(CountRequest(exact=True))

    def hashes(self, batch_size: int = 2048) -> dict[str, str | None]:
        from qdrant_edge import ScrollRequest

        out, offset = {}, None
        while True:
            records, offset = self.shard.scroll(ScrollRequest(offset=offset, limit=batch_size, with_payload=True,
                                                              with_vector=False))
            out.update({r.payload["product_id"]: r.payload.get("hash") for r in records if "product_id" in r.payload})
            if offset is None or not records:
                return out

    def delete_points(self, product_ids: list[str], batch_size: int = 1024) -> None:
        from qdrant_edge import UpdateOperation

        for start in range(0, len(product_ids), batch_size):
            ids = [uuid.UUID(point_id(p)) for p in product_ids[start:start + batch_size]]
            self.shard.update(UpdateOperation.delete_points(ids))
        self.shard.flush()

    def vectors(self, product_ids: list[str], dim: int, name: str, batch_size: int = 1024):
        dense = self.layout().get(name, {}).get("kind") == "dense"
        found = {}
        for start in range(0, len(product_ids), batch_size):
            ids = [uuid.UUID(point_id(p)) for p in product_ids[start:start + batch_size]]
            for rec in self.shard.retrieve(ids, True, True):
                vec = rec.vector.get(name)
                if vec is not None:
                    found[rec.payload["product_id"]] = vec if dense else (list(vec.indices), list(vec.values))
        return stored(found, product_ids, dim, dense)


def _nearest(v, name: str):
    from qdrant_edge import Query, SparseVector

    return Query.Nearest(SparseVector(*v) if isinstance(v, tuple) else v, using=name)


def _check_name(name: str) -> None:
    if not name or "/" in name or "\\" in name or name.startswith(".") or len(name) > 200:
        raise SearchtuneError(f"invalid collection name '{name}': use letters, digits, '-', '_' and '.'")

"""The Elasticsearch side of search: creating indices behind aliases, bulk writes, queries and
zero-downtime rebuilds."""
from __future__ import annotations

from typing import Callable, Iterable

from elasticsearch import Elasticsearch, RequestError, helpers

from . import indices


class SearchIndex:
    def __init__(self, es: Elasticsearch, prefix: str):
        self.es, self.prefix = es, prefix

    def alias(self, kind: str) -> str:
        return indices.alias(self.prefix, kind)

    def ensure(self) -> None:
        for kind in indices.KINDS:
            alias = self.alias(kind)
            if not self.es.indices.exists_alias(name=alias):
                name = indices.versioned(self.prefix, kind)
                try:
                    self.es.indices.create(index=name, body=indices.MAPPING)
                except RequestError as exc:
                    # Another worker or replica created it first: fine, the alias is idempotent.
                    if exc.error != "resource_already_exists_exception":
                        raise
                self.es.indices.put_alias(index=name, name=alias)

    def bulk(self, kind: str, upserts: dict[str, dict], deletes: list[str] = ()) -> None:
        actions = [{"_op_type": "index", "_index": self.alias(kind), "_id": doc_id, "_source": doc}
                   for doc_id, doc in upserts.items()]
        actions += [{"_op_type": "delete", "_index": self.alias(kind), "_id": doc_id}
                    for doc_id in deletes]
        if actions:
            # 404 on delete is fine: already gone.
            helpers.bulk(self.es, actions, raise_on_error=True, ignore_status=(404,),
                         refresh="wait_for")

    def search(self, body: dict, kinds=indices.KINDS) -> list[dict]:
        return self.query(body, kinds)[0]

    def query(self, body: dict, kinds=indices.KINDS) -> tuple[list[dict], int]:
        index = ",".join(self.alias(k) for k in kinds)
        # dfs: term statistics across both indices, so their scores are comparable.
        found = self.es.search(index=index, body=body, search_type="dfs_query_then_fetch",
                               request_timeout=2)["hits"]
        return found["hits"], found["total"]["value"] if found.get("total") else 0

    # ------------------------------------------------------------------ rebuilds

    def rebuild(self, kind: str, build: str, documents: Iterable[tuple[str, dict]],
                progress: Callable[[int], None] = lambda n: None, threads: int = 2,
                chunk_size: int = 5000) -> str:
        """Load ``documents`` into a fresh index, then move the alias to it in one atomic
        step: searches keep hitting the old index until the new one is complete."""
        name = indices.versioned(self.prefix, kind, build=build)
        self.es.indices.create(index=name, body=indices.MAPPING)
        self.es.indices.put_settings(index=name, body=indices.BUILD_SETTINGS)
        actions = ({"_index": name, "_id": doc_id, "_source": doc} for doc_id, doc in documents)
        for ok, item in helpers.parallel_bulk(self.es, actions, thread_count=threads,
                                              chunk_size=chunk_size, request_timeout=120):
            if not ok:
                raise RuntimeError(f"indexing failed: {item}")
            progress(1)
        self.es.indices.put_settings(index=name, body=indices.SERVING_SETTINGS)
        self.es.indices.refresh(index=name)
        self.switch_alias(kind, name)
        return name

    def switch_alias(self, kind: str, name: str) -> list[str]:
        """Point the alias at ``name`` only (one atomic request); returns the old indices."""
        alias = self.alias(kind)
        old = (list(self.es.indices.get_alias(name=alias))
               if self.es.indices.exists_alias(name=alias) else [])
        actions = [{"remove": {"index": o, "alias": alias}} for o in old if o != name]
        actions.append({"add": {"index": name, "alias": alias}})
        self.es.indices.update_aliases(body={"actions": actions})
        return [o for o in old if o != name]

    def drop(self, names: list[str]) -> None:
        for name in names:
            self.es.indices.delete(index=name, ignore=404)

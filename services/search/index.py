"""The Elasticsearch side of search: creating indices behind aliases, bulk writes, queries."""
from __future__ import annotations

from elasticsearch import Elasticsearch, helpers

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
                if not self.es.indices.exists(index=name):
                    self.es.indices.create(index=name, body=indices.MAPPING)
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
        index = ",".join(self.alias(k) for k in kinds)
        # dfs: term statistics across both indices, so their scores are comparable.
        return self.es.search(index=index, body=body, search_type="dfs_query_then_fetch",
                              request_timeout=2)["hits"]["hits"]

from elasticsearch import Elasticsearch
from nameko.extensions import DependencyProvider

from services.common.nameko_support import ServiceDatabase

from .index import SearchIndex
from .retrieval import Neighbours
from .repository import SearchRepository


class SearchStore(ServiceDatabase):
    repository = SearchRepository


class Index(DependencyProvider):
    """One Elasticsearch client per process; indices are created lazily so the service starts
    (and keeps answering from Mongo-backed RPCs) while Elasticsearch is still down."""

    def setup(self):
        config = self.container.config
        self.index = SearchIndex(Elasticsearch(config["ES_URL"], timeout=5, max_retries=1),
                                 config.get("ES_INDEX_PREFIX", "helpdesk"))

    def get_dependency(self, worker_ctx):
        return self.index


class VectorsInMemory(DependencyProvider):
    """The process's sentence vectors (retrieval.Neighbours), refreshed by the sweep."""

    def setup(self):
        self.neighbours = Neighbours()

    def get_dependency(self, worker_ctx):
        return self.neighbours

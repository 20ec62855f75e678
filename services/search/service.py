"""Search: knowledge articles and solved tickets in Elasticsearch, answers as people type."""
from __future__ import annotations

import logging

from elasticsearch import ElasticsearchException
from marshmallow import ValidationError
from nameko.rpc import rpc
from nameko.timer import timer

from services.common import events as ev
from services.common.nameko_support import ClockProvider, OutboxRelay, on_event
from services.common.results import fail, not_found, ok

from . import domain
from .dependencies import Index, SearchStore
from .schemas import ArticleSchema, SuggestQuerySchema

log = logging.getLogger(__name__)
SYNC_BATCH = 500


class SearchService(OutboxRelay):
    name = "search"

    store = SearchStore("search")
    index = Index()
    clock = ClockProvider()

    # ------------------------------------------------------------------ articles

    @rpc
    def upsert_article(self, payload: dict) -> dict:
        try:
            article = ArticleSchema().load(payload)
        except ValidationError as exc:
            return fail(400, exc.messages)
        if article["translation_of"] and not self.store.article(article["translation_of"]):
            return fail(400, {"translation_of": ["no such article"]})
        doc = {"_id": article.pop("id"), **article, "updated_at": self.clock.now()}
        self.store.save_article(doc)
        self._sync()  # best effort now; the sweep retries if Elasticsearch is away
        return ok(article=self._article_view(doc))

    @rpc
    def get_article(self, article_id: str) -> dict:
        found = self.store.article(article_id)
        return ok(article=self._article_view(found)) if found else not_found("article")

    @rpc
    def list_articles(self, language: str | None = None) -> dict:
        return ok(articles=[self._article_view(a) for a in self.store.articles(language)])

    # ------------------------------------------------------------------ queries

    @rpc
    def suggest(self, query: dict) -> dict:
        try:
            q = SuggestQuerySchema().load(query)
        except ValidationError as exc:
            return fail(400, exc.messages)
        try:
            hits = self.index.search(domain.suggest_query(q["q"], q["language"], q["limit"]))
        except ElasticsearchException as exc:
            log.warning("suggest degraded, Elasticsearch unavailable: %s", exc)
            return ok(results=[], degraded=True)
        return ok(results=[domain.present_hit(h) for h in domain.confident_hits(hits)],
                  degraded=False)

    # ------------------------------------------------------------------ events

    @on_event(ev.TICKET_SOLVED)
    def keep_resolution(self, event):
        d = event.data
        doc = {"_id": d["ticket_id"], **domain.ticket_document(d)}
        self.store.handle_once("keep_resolution", event.event_id,
                               lambda s: self.store.save_solved_ticket(doc, s))
        self._sync()

    @on_event(ev.TICKET_REOPENED)
    def withdraw_resolution(self, event):
        self.store.handle_once("withdraw_resolution", event.event_id,
                               lambda s: self.store.withdraw_ticket(event.data["ticket_id"], s))
        self._sync()

    @timer(interval=2.0)
    def sync_index(self):
        self._sync()

    # ------------------------------------------------------------------ internals

    def _sync(self) -> None:
        """Copy whatever Mongo has that Elasticsearch lacks; safe to repeat."""
        try:
            self.index.ensure()
            for collection, kind, to_doc in (
                    ("articles", "articles", domain.article_document),
                    ("solved_tickets", "tickets", lambda d: {k: v for k, v in d.items()
                                                             if k not in ("_id", "indexed")})):
                pending = self.store.unindexed(collection, SYNC_BATCH)
                withdrawn = [d["_id"] for d in pending if d.get("withdrawn")]
                upserts = {d["_id"]: to_doc(d) for d in pending if not d.get("withdrawn")}
                self.index.bulk(kind, upserts, withdrawn)
                self.store.mark_indexed(collection, list(upserts), withdrawn)
        except ElasticsearchException as exc:
            log.warning("index sync postponed, Elasticsearch unavailable: %s", exc)

    @staticmethod
    def _article_view(article: dict) -> dict:
        return {"id": article["_id"], "title": article["title"], "body": article["body"],
                "language": article["language"], "category": article.get("category"),
                "tags": article.get("tags", []), "published": article["published"],
                "translation_of": article.get("translation_of"),
                "updated_at": article["updated_at"].isoformat()}

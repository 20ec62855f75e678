"""The search service's knowledge loop (mixed into SearchService): suggest visits recorded for
the deflection funnel and gap detection, gap groups listed for supervisors, draft articles made
from a group's solved tickets, and those tickets linked to the article once it is published.
The rules live in funnel.py and gaps.py; this is the thin part that reads and writes."""
from __future__ import annotations

import logging
from datetime import timedelta

import numpy as np
from marshmallow import ValidationError
from nameko.timer import timer
from pymongo.errors import PyMongoError

from services.common.nameko_support import command
from services.common.results import Refusal, fail, ok, parsed
from services.intake.schemas import ActorSchema

from . import domain, funnel, gaps, semantic
from .gap_store import GapStore
from .redact import redact
from .schemas import (FunnelQuerySchema, GapDraftSchema, GapQuerySchema, SuggestFiledSchema,
                      SuggestOpenedSchema)

log = logging.getLogger(__name__)
RESULTS_SHOWN = 50   # suggested answers listed in a funnel report
LINK_INTERVAL = 5.0  # seconds between looks for published drafts to link


def _staff(actor: dict | None) -> dict | None:
    try:
        caller = ActorSchema().load(actor or {})
    except ValidationError:
        return None
    return caller if domain.is_staff(caller) else None


class KnowledgeLoop:
    gap_store = GapStore("search")

    # ------------------------------------------------------------------ the funnel

    def record_question(self, query: dict, results: list[dict], actor: dict | None) -> None:
        """One suggest call of a visit (best effort: suggestions never fail for this).  The
        question is kept redacted (the customer's own name too, when signed in); an unanswered
        one with its vector, for grouping."""
        session = query.get("session")
        if not session:
            return
        names = [actor["name"]] if actor and actor.get("name") else []
        question = redact(query["q"], names).text[:500]
        shown = [funnel.result_key(r["kind"], r["id"]) for r in results]
        vector = None if shown else semantic.pack(semantic.encode([question]))
        try:
            self.gap_store.record_question(session, query.get("language"), question, shown,
                                           vector, self.clock.now())
        except PyMongoError as exc:
            log.warning("suggest visit not recorded: %s", exc)

    def record_feedback_step(self, entry: dict) -> None:
        if entry.get("session"):
            self.gap_store.record_step(entry["session"],
                                       "solved" if entry["solved"] else "not_helped",
                                       funnel.result_key(entry["result_kind"], entry["result_id"]))

    @command
    def record_suggest_opened(self, payload: dict) -> dict:
        step = parsed(SuggestOpenedSchema(), payload)
        return ok(recorded=self.gap_store.record_step(
            step["session"], "opened", funnel.result_key(step["result_kind"], step["result_id"])))

    @command
    def record_suggest_filed(self, payload: dict) -> dict:
        filed = parsed(SuggestFiledSchema(), payload)
        return ok(recorded=self.gap_store.record_filed(filed["session"], filed["number"],
                                                       self.clock.now()))

    @command
    def deflection_funnel(self, query: dict) -> dict:
        q = parsed(FunnelQuerySchema(), query)
        report = self.gap_store.funnel(q["since"], q["until"], q["language"])
        report["results"] = [dict(r, title=self._result_title(r["result"]))
                             for r in report["results"][:RESULTS_SHOWN]]
        return ok(funnel=report)

    def _result_title(self, key: str) -> str | None:
        kind, _, result_id = key.partition(":")
        found = {"article": self.store.article, "answer": self.store.answer,
                 "ticket": self.store.ticket}[kind](result_id) if kind in (
                     "article", "answer", "ticket") else None
        return found["title"] if found else None

    # ------------------------------------------------------------------ gaps

    @command
    def knowledge_gaps(self, query: dict) -> dict:
        q = parsed(GapQuerySchema(), query)
        self.link_published_drafts()
        since = self.clock.now() - timedelta(days=q["days"])
        items, numbers = [], {}
        for visit in self.gap_store.unanswered_questions(since, gaps.MAX_ITEMS):
            items.append(gaps.GapItem("question", visit["_id"], visit["question"],
                                      visit.get("language"), visit["last_at"],
                                      semantic.unpack(visit["vector"])[0]))
        for ticket in self.gap_store.uncovered_tickets(since, gaps.MAX_ITEMS):
            numbers[ticket["_id"]] = ticket["number"]
            items.append(gaps.GapItem("ticket", ticket["_id"], redact(ticket["title"]).text,
                                      ticket.get("language"), ticket["solved_at"],
                                      semantic.unpack(ticket["vectors"])[0]))
        return ok(gaps=[{"key": g.key, "size": g.size, "questions": g.questions,
                         "tickets": [numbers[t] for t in g.tickets],
                         "languages": g.languages, "examples": g.examples,
                         "last_at": g.last_at.isoformat()}
                        for g in gaps.find_gaps(items, q["limit"])])

    @command
    def draft_from_gap(self, payload: dict, actor: dict) -> dict:
        """Unpublished articles (one per language of the group's tickets, linked as
        translations) from the group's solved tickets; an editor reviews, edits and publishes
        them with the article API.  The same group again gives the same drafts."""
        d = parsed(GapDraftSchema(), payload)
        caller = _staff(actor)
        if caller is None:
            return fail(403, {"_schema": ["staff only"]})
        names = {t["number"]: t["names"] for t in d["tickets"]}
        tickets = self.gap_store.tickets(sorted(names))
        missing = set(names) - {t["number"] for t in tickets}
        if missing:
            raise Refusal(404, {"tickets": [f"ticket not found: {n}" for n in sorted(missing)]})
        if any(t["status"] not in domain.ANSWERED or not t.get("resolution") for t in tickets):
            raise Refusal(409, {"tickets": ["only solved tickets with a public answer"]})
        ids = [t["_id"] for t in tickets]
        if self.gap_store.linked_tickets(ids):
            raise Refusal(409, {"tickets": ["an article covers some of these tickets already"]})
        approved = self.gap_store.approved_answers(ids)
        sources = [gaps.source(t, approved.get(t["_id"]), names[t["number"]],
                               semantic.unpack(t["vectors"])[0] if t.get("vectors")
                               else np.zeros(semantic.DIMENSIONS, np.float32))
                   for t in tickets]
        asked: dict[str, list[str]] = {}
        for visit in self.gap_store.questions(d["questions"]):
            asked.setdefault(visit.get("language"), []).append(visit["question"])
        key = gaps.gap_key(ids + d["questions"])
        now = self.clock.now()
        drafts = gaps.draft_articles(key, sources, asked)
        for draft in drafts:
            article = self._valid_article(draft)
            self.store.insert_article(dict(article, created_at=now, updated_at=now), now)
        self.gap_store.save_draft(key, [a["id"] for a in drafts], ids, d["questions"],
                                  caller["id"], now)
        self._sync(kinds=("articles",))
        return ok(draft={"key": key, "articles": [
            self._article_view(self.store.article(a["id"])) for a in drafts]})

    @timer(interval=LINK_INTERVAL)
    def link_published_drafts(self) -> None:
        """A draft made from a gap group, once any of its articles is published, covers the
        group: its tickets are linked to that article (and no longer count as a gap)."""
        now = self.clock.now()
        for draft in self.gap_store.drafts_to_link():
            published = self.gap_store.published(draft["articles"])
            if published:
                self.gap_store.link(draft, published[0], now)

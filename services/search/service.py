"""Search: knowledge articles and tickets in Elasticsearch, answers as people type."""
from __future__ import annotations

import logging
import re

from elasticsearch import ConnectionError as ElasticsearchConnectionError
from elasticsearch import ElasticsearchException
from marshmallow import ValidationError
from nameko.rpc import rpc
from nameko.timer import timer

from services.common import events as ev
from services.common.nameko_support import ClockProvider, OutboxRelay, command, on_events
from services.common.observability import Observability
from services.common.results import Refusal, fail, not_found, ok, parsed
from services.common.validation import SLUG
from services.intake.schemas import ActorSchema

from . import domain, versions
from .dependencies import Index, SearchStore, VectorsInMemory
from .index import ASSIGNMENT_SYNC_LINGER
from .knowledge_loop import KnowledgeLoop
from .retrieval import Retrieval, embed_records, present
from .schemas import (AnswerApprovalSchema, AnswerDraftSchema, AnswerPromotionSchema,
                      ArticleEditSchema, ArticleListSchema, ArticleSchema, SuggestionFeedbackSchema,
                      SearchQuerySchema, SimilarQuerySchema, SuggestQuerySchema,
                      VersionDiffSchema, VersionPublishSchema, VersionRejectSchema,
                      VersionRestoreSchema)

log = logging.getLogger(__name__)
SYNC_BATCH = 500
SYNC_ROUNDS = 20
ARTICLE_ID = re.compile(SLUG.regex.pattern)

# Built once: asked at every keystroke (a schema costs ~0.1 ms to construct).
SUGGEST_QUERY = SuggestQuerySchema()


def _actor(actor: dict | None) -> dict | None:
    """Unknown or malformed callers are treated as anonymous: the narrowest visibility."""
    if actor is None:
        return None
    try:
        return ActorSchema().load(actor)
    except ValidationError:
        return None


def _indexes_state(event_type: str):
    """An event handler that keeps the ticket states intake events carry (the newest by
    ``updated_at`` wins), so redelivery and reordering are harmless, and intake is never
    called back; the events waiting together are saved together."""
    def keep(self, events):
        # An internal note changes nothing searchable.
        self._save_tickets([e.data for e in events if e.data.get("public", True)],
                           first_sight=event_type == ev.TICKET_CREATED)
    keep.__name__ = f"index_on_{event_type}"
    return on_events(event_type)(keep)


class SearchService(KnowledgeLoop, OutboxRelay):
    name = "search"

    store = SearchStore("search")
    index = Index()
    neighbours = VectorsInMemory()
    clock = ClockProvider()
    observe = Observability(elasticsearch=True)

    # ------------------------------------------------------------------ articles

    @command
    def upsert_article(self, payload: dict) -> dict:
        """Create or replace in one call (demo data loading); a new version only when the
        text changed."""
        article = self._valid_article(payload)
        now = self.clock.now()
        existing = self.store.article(article["_id"])
        article["created_at"] = existing.get("created_at", now) if existing else now
        if existing and versions.content_of(existing) == versions.content_of(article) \
                and existing.get("version"):
            article["version"] = existing["version"]
        else:
            article["version"] = self._add_version(
                article["_id"], article, versions.SYSTEM, now, versions.ACCEPTED)["number"]
        self.store.save_article(dict(article, updated_at=now), now)
        return self._after_article_write(article["_id"])

    @command
    def create_article(self, payload: dict, actor: dict | None = None) -> dict:
        """Version 1 of a new article.  An agent cannot publish: an article they send as
        published is kept as a draft whose version 1 waits for an editor."""
        article = self._valid_article(payload)
        author = self._author(actor)
        now = self.clock.now()
        status = versions.ACCEPTED
        if article["published"] and not versions.is_editor(author):
            article["published"], status = False, versions.PENDING
        return self._insert_article(article, author, now, status)

    def _insert_article(self, article: dict, author: dict, now, status: str) -> dict:
        """A new article and its version 1 (there is no deleting articles, so no versions
        are left from an earlier one of the same id)."""
        if not self.store.insert_article(dict(article, version=1, created_at=now,
                                              updated_at=now), now):
            return fail(409, {"id": ["an article with this id exists"]})
        self._add_version(article["_id"], article, author, now, status)
        return self._after_article_write(article["_id"], created=True)

    @command
    def update_article(self, article_id: str, changes: dict, actor: dict | None = None
                       ) -> dict:
        """Every edit is a new version: an editor's is the article's text at once (or at
        ``publish_at``), an agent's waits for an editor."""
        edit = parsed(ArticleEditSchema(), changes)
        publish_at = edit.pop("publish_at", None)
        current = self._versioned_article(article_id)
        author = self._author(actor)
        if "translation_of" in edit and edit["translation_of"] != current.get("translation_of"):
            if not versions.is_editor(author):
                raise Refusal(403, {"translation_of": [
                    "Only an editor can change the translation link."]})
            # The link is the article's, not a version's: it changes at once.
            current = self._check_translation(dict(current, translation_of=edit["translation_of"]))
            self.store.save_article(dict(current, updated_at=self.clock.now()), self.clock.now())
        content = dict(versions.content_of(current), **{k: v for k, v in edit.items()
                                                        if k in versions.CONTENT})
        if content["language"] != current["language"]:
            self._check_translation(dict(current, language=content["language"]))
        return self._new_text(current, content, author, publish_at)

    @command
    def publish_article(self, article_id: str, actor: dict | None = None) -> dict:
        return self._set_published(article_id, True, actor)

    @command
    def unpublish_article(self, article_id: str, actor: dict | None = None) -> dict:
        return self._set_published(article_id, False, actor)

    @rpc
    def get_article(self, article_id: str) -> dict:
        found = self._stored_article(article_id)
        return ok(article=self._article_view(found)) if found else not_found("article")

    @command
    def list_articles(self, query: dict | str | None = None) -> dict:
        if query is None or isinstance(query, str):  # older callers pass just a language
            query = {"language": query} if query else {}
        q = parsed(ArticleListSchema(), query)
        filters = {k: v for k, v in q.items() if k != "tag"}
        if q.get("tag"):
            filters["tags"] = q["tag"]
        return ok(articles=[self._article_view(a, with_translations=False)
                            for a in self.store.articles(filters)])

    # ------------------------------------------------------------------ article versions

    @command
    def list_versions(self, article_id: str) -> dict:
        article = self._versioned_article(article_id)
        return ok(article=self._article_view(article),
                  versions=[versions.version_view(v, article.get("version"), summary=True)
                            for v in self.store.versions(article["_id"])])

    @command
    def get_version(self, article_id: str, number: int) -> dict:
        article = self._versioned_article(article_id)
        return ok(version=versions.version_view(self._version(article, number),
                                                article.get("version")))

    @command
    def diff_versions(self, article_id: str, number: int, query: dict | None = None) -> dict:
        """What version ``number`` changed compared with ``against`` (default: the one before;
        version 1 against nothing)."""
        q = parsed(VersionDiffSchema(), query)
        article = self._versioned_article(article_id)
        newer = self._version(article, number)
        against = q["against"] if q["against"] is not None else number - 1
        older = self._version(article, against, field="against") if against >= 1 else {}
        return ok(number=number, against=against or None,
                  diff=versions.diff(versions.content_of(older) if older else {},
                                     versions.content_of(newer)))

    @command
    def restore_version(self, article_id: str, number: int, payload: dict | None = None,
                        actor: dict | None = None) -> dict:
        """A new version equal to an old one (reviewed like any edit)."""
        publish_at = parsed(VersionRestoreSchema(), payload)["publish_at"]
        article = self._versioned_article(article_id)
        old = self._version(article, number)
        return self._new_text(article, versions.content_of(old), self._author(actor),
                              publish_at, restored_from=number)

    @command
    def publish_version(self, article_id: str, number: int, payload: dict | None = None,
                        actor: dict | None = None) -> dict:
        """An editor approves a version: the article's published text now, or at
        ``publish_at``."""
        publish_at = parsed(VersionPublishSchema(), payload)["publish_at"]
        article = self._versioned_article(article_id)
        version = self._version(article, number)
        author, now = self._author(actor), self.clock.now()
        outcome = versions.publish_outcome(author, version, article.get("version"),
                                           publish_at, now)
        if outcome.apply:
            self._apply_version(article, version, outcome, now)
        self.store.decide_version(article["_id"], number, (version["status"],),
                                  versions.decided(outcome, author, now, publish_at))
        return self._after_version_write(article["_id"], number)

    @command
    def reject_version(self, article_id: str, number: int, payload: dict | None = None,
                       actor: dict | None = None) -> dict:
        note = parsed(VersionRejectSchema(), payload)["note"]
        article = self._versioned_article(article_id)
        version = self._version(article, number)
        author = self._author(actor)
        versions.reject_check(author, version)
        if not self.store.decide_version(article["_id"], number, versions.REVIEWABLE, {
                "status": versions.REJECTED, "decided_by": author["id"],
                "decided_at": self.clock.now(), "publish_at": None, "note": note}):
            return fail(409, {"_schema": ["Someone decided on this version meanwhile."]})
        return self._after_version_write(article["_id"], number)

    @timer(interval=2.0)
    def publish_due_versions(self):
        """Scheduled versions whose time has come become the published text.  The article is
        written first, then the version marked: a crash in between publishes it again (the
        same text), never loses it; two replicas write the same text."""
        now = self.clock.now()
        due = self.store.due_versions(now)
        for version in due:
            article = self.store.article(version["article_id"])
            if article is None:
                continue
            outcome = versions.Outcome(versions.ACCEPTED, apply=True, publish=True)
            self._apply_version(article, version, outcome, now, sync=False)
            self.store.decide_version(version["article_id"], version["number"],
                                      (versions.SCHEDULED,), {"status": versions.ACCEPTED})
        if due:
            self._sync(kinds=("articles",))

    @command
    def promote_answer(self, payload: dict, actor: dict) -> dict:
        """A draft article from an approved answer (its redacted text), for an editor to
        finish and publish."""
        request = parsed(AnswerPromotionSchema(), payload)
        author = _actor(actor)
        if not domain.is_staff(author):
            return fail(403, {"_schema": ["staff only"]})
        answer = self.store.answer(request["answer_id"])
        if answer is None or not answer.get("published"):
            return fail(404, {"answer_id": ["No such approved answer."]})
        made = self.store.article_from_answer(answer["_id"])
        if made is not None:
            return fail(409, {"answer_id": [f"Already an article: {made['_id']}."]})
        article_id = request["id"] or versions.promoted_article_id(answer["_id"])
        return self._insert_article(versions.article_from_answer(answer, article_id), author,
                                    self.clock.now(), versions.ACCEPTED)

    def _author(self, actor: dict | None) -> dict:
        """Who edits: the caller, or (internal callers with no actor) the system editor.
        A malformed actor is refused rather than mistaken for the system."""
        if actor is None:
            return versions.SYSTEM
        author = _actor(actor)
        if not domain.is_staff(author):
            raise Refusal(403, {"_schema": ["staff only"]})
        return author

    def _versioned_article(self, article_id) -> dict:
        """The article, with a version 1 made of its text if it predates versions."""
        article = self._stored_article(article_id)
        if article is None:
            raise Refusal(404, {"_schema": ["article not found"]})
        if not article.get("version"):
            now = self.clock.now()
            first = self._add_version(article["_id"], article, versions.SYSTEM,
                                      article.get("updated_at") or now, versions.ACCEPTED)
            article["version"] = first["number"]
            self.store.save_article(article, now)
        return article

    def _version(self, article: dict, number, field: str = "number") -> dict:
        found = self.store.version(article["_id"], number) \
            if isinstance(number, int) and not isinstance(number, bool) else None
        if found is None:
            raise Refusal(404, {field: ["No such version."]})
        return found

    def _add_version(self, article_id: str, content: dict, author: dict, now,
                     status: str, **extra) -> dict:
        return self.store.add_version(article_id, lambda number: versions.new_version(
            article_id, number, content, author, now, status, **extra))

    def _new_text(self, article: dict, content: dict, author: dict, publish_at,
                  restored_from: int | None = None) -> dict:
        now = self.clock.now()
        outcome = versions.edit_outcome(author, publish_at, now)
        version = self._add_version(article["_id"], content, author, now, outcome.status,
                                    publish_at=publish_at if outcome.status ==
                                    versions.SCHEDULED else None,
                                    restored_from=restored_from)
        if outcome.apply:
            self._apply_version(article, version, outcome, now)
        return self._after_version_write(article["_id"], version["number"])

    def _apply_version(self, article: dict, version: dict, outcome, now,
                       sync: bool = True) -> None:
        self.store.save_article(dict(versions.applied(article, version, outcome),
                                     updated_at=now), now)
        if sync:
            self._sync(kinds=("articles",))

    def _set_published(self, article_id: str, published: bool, actor: dict | None) -> dict:
        author = self._author(actor)
        if not versions.is_editor(author):
            return fail(403, {"_schema": ["Only an editor can publish or unpublish."]})
        article = self._versioned_article(article_id)
        now = self.clock.now()
        if published:  # the article's own text, if it was waiting for review, is approved
            self.store.decide_version(article["_id"], article["version"], versions.REVIEWABLE,
                                      versions.decided(versions.Outcome(versions.ACCEPTED,
                                                                        apply=True),
                                                       author, now, None))
        self.store.save_article(dict(article, published=published, updated_at=now), now)
        return self._after_article_write(article["_id"])

    def _after_version_write(self, article_id: str, number: int) -> dict:
        article = self.store.article(article_id)
        return ok(article=self._article_view(article),
                  version=versions.version_view(self.store.version(article_id, number),
                                                article.get("version")))

    # ------------------------------------------------------------------ queries

    @command
    def suggest(self, query: dict, actor: dict | None = None) -> dict:
        """Published articles and approved answers; solved tickets too, but only the
        reader's own (all of them for staff): another customer's ticket, never."""
        q = parsed(SUGGEST_QUERY, query)
        retrieval = Retrieval(self.index, self.neighbours)
        reader = _actor(actor)

        def run():
            results = [present(c) for c in retrieval.suggest(
                q["q"], q["language"], q["limit"], reader)[0]]
            self.record_question(q, results, reader)  # the funnel and gaps (knowledge_loop)
            return ok(results=results)
        return self._answer(run, results=[])

    @command
    def search(self, query: dict, actor: dict | None = None) -> dict:
        q = parsed(SearchQuerySchema(), query)

        def run():
            reader = _actor(actor)
            hits, total = self.index.query(domain.search_query(q, reader))
            return ok(results=[domain.present_hit(h) for h in hits], total=total,
                      page=q["page"], per_page=q["per_page"])
        return self._answer(run, results=[], total=0, page=q["page"], per_page=q["per_page"])

    @command
    def similar_tickets(self, query: dict, actor: dict | None = None) -> dict:
        """For agents: solved tickets worded like a text or an indexed ticket, with resolutions.
        Given both, the text is what is compared (the ticket may not be indexed yet) and the
        ticket itself is left out of the answer."""
        q = parsed(SimilarQuerySchema(), query)
        text = q["text"] or self._ticket_text(q["ticket_id"])
        if not text:
            return ok(results=[], degraded=False)
        retrieval = Retrieval(self.index, self.neighbours)
        reader = _actor(actor) or domain.STAFF_READER
        return self._answer(lambda: ok(results=[present(c) for c in retrieval.similar(
            text, q["ticket_id"], q["limit"], reader)]), results=[])

    @command
    def record_feedback(self, payload: dict, actor: dict | None = None) -> dict:
        entry = parsed(SuggestionFeedbackSchema(), payload)
        # Only suggestions that exist are counted (an article, or a ticket under its id or,
        # as others see it, its answer reference): made-up ids would skew the figures.
        result_id = self.store.suggested_id(entry["result_kind"], entry["result_id"])
        if result_id is None:
            return fail(404, {"result_id": ["No such suggestion."]})
        entry["result_id"] = result_id
        actor = _actor(actor)
        self.store.record_feedback(dict(entry, actor_id=actor["id"] if actor else None,
                                        at=self.clock.now()))
        self.record_feedback_step(entry)
        return ok(recorded=True)

    @rpc
    def feedback_summary(self) -> dict:
        return ok(results=[{"kind": r["_id"]["kind"], "id": r["_id"]["id"],
                            "solved": r["solved"], "not_solved": r["not_solved"]}
                           for r in self.store.feedback_summary()])

    # ------------------------------------------------------------------ approved answers

    @command
    def answer_draft(self, query: dict) -> dict:
        """A solved ticket as a reusable answer, personal data removed, for the agent to read
        (and edit) before approving it (staff only: the portal checks the role)."""
        q = parsed(AnswerDraftSchema(), query)
        ticket = self._answered_ticket(q["number"])
        return ok(answer=domain.answer_draft(ticket, q["names"]))

    @command
    def approve_answer(self, payload: dict, actor: dict) -> dict:
        """Publish the agent's approved text as an answer anyone may be suggested: the only way
        another customer's solved ticket reaches the public."""
        approval = parsed(AnswerApprovalSchema(), payload)
        actor = _actor(actor)
        if not domain.is_staff(actor):
            return fail(403, {"_schema": ["staff only"]})
        ticket = self._answered_ticket(approval["number"])
        now = self.clock.now()
        record = domain.answer_record(ticket, approval, approval["names"], actor, now)
        self.store.save_answer(record, now)
        self._sync()
        return ok(answer=domain.answer_view(self.store.answer(record["_id"])))

    @command
    def withdraw_answer(self, number: int) -> dict:
        ticket = self.store.ticket_by_number(number) if isinstance(number, int) else None
        answer = ticket and self.store.answer(domain.answer_ref(ticket["_id"]))
        if not answer:
            return not_found("answer")
        now = self.clock.now()
        self.store.save_answer(dict(answer, published=False, updated_at=now), now)
        self._sync()
        return ok(answer=domain.answer_view(self.store.answer(answer["_id"])))

    @rpc
    def get_answer(self, answer_id: str) -> dict:
        """A published approved answer, as anyone may read it (its page)."""
        found = (self.store.answer(answer_id) if isinstance(answer_id, str)
                 and domain.ANSWER_REF.fullmatch(answer_id) else None)
        if not found or not found.get("published"):
            return not_found("answer")
        return ok(answer=domain.public_answer_view(found))

    def _answered_ticket(self, number: int) -> dict:
        ticket = self.store.ticket_by_number(number)
        if ticket is None:
            raise Refusal(404, {"number": ["ticket not found"]})
        if ticket["status"] not in domain.ANSWERED or not ticket.get("resolution"):
            raise Refusal(409, {"number": ["only a solved ticket with a public answer"]})
        return ticket

    # ------------------------------------------------------------------ events

    # Any change to a ticket: index the state its event carries (see _indexes_state).
    on_ticket_created = _indexes_state(ev.TICKET_CREATED)
    on_message_added = _indexes_state(ev.MESSAGE_ADDED)
    on_status_changed = _indexes_state(ev.STATUS_CHANGED)
    on_ticket_updated = _indexes_state(ev.TICKET_UPDATED)
    on_attachment_added = _indexes_state(ev.ATTACHMENT_ADDED)  # updated_at moves
    on_ticket_solved = _indexes_state(ev.TICKET_SOLVED)
    on_ticket_closed = _indexes_state(ev.TICKET_CLOSED)
    on_ticket_reopened = _indexes_state(ev.TICKET_REOPENED)
    on_ticket_merged = _indexes_state(ev.TICKET_MERGED)  # the survivor's combined thread

    @on_events(ev.TICKET_ASSIGNED)
    def on_ticket_assigned(self, events):
        """Routing's assignments reach search before intake's next event about their tickets;
        those waiting together are written together (repository.save_assignments)."""
        self.store.save_assignments([e.data for e in events], self.clock.now())
        self._sync_tickets(within=ASSIGNMENT_SYNC_LINGER)

    @timer(interval=2.0)
    def sync_index(self):
        self.index.syncs.run(lambda: self._sync(sweep=True), covers_all=True)

    @rpc
    def index_status(self) -> dict:
        """Per kind: revisions waiting for the index, and those Elasticsearch refused (set
        aside until their next save) with the latest reasons; plus whether it is reachable."""
        return ok(reachable=not self.index.outage.suspected,
                  kinds={kind: self.store.index_status(kind) for kind in domain.TO_DOCUMENT})

    # ------------------------------------------------------------------ internals

    def _save_tickets(self, changes: list[dict], first_sight: bool) -> None:
        if not changes:
            return
        self.store.save_tickets([
            {"_id": c["ticket_id"], "answer_ref": domain.answer_ref(c["ticket_id"]),
             **domain.ticket_document(c["number"], c["ticket"])} for c in changes],
            self.clock.now(), first_sight)
        self._sync_tickets()

    def _sync_tickets(self, within: float | None = None) -> None:
        """From an event: the copy is saved (the sweep indexes it if all else fails); the
        process's one running ticket sync takes it in its next batch, or this handler runs it
        (lingering for company at most ``within`` seconds, by default TICKET_SYNC_LINGER)."""
        self.index.syncs.run(lambda: self._sync(kinds=("tickets",)), within=within)

    def _sync(self, sweep: bool = False, kinds: tuple[str, ...] = tuple(domain.TO_DOCUMENT)
              ) -> None:
        """Copy whatever Mongo has of ``kinds`` that Elasticsearch lacks; safe to repeat.
        Outside the sweep this is best effort: with Elasticsearch known to be away it is left to
        the sweep, and the indices are checked (two requests) only until that succeeded once in
        this process; the sweep checks them every time, so a lost alias is back within 2 s."""
        outage = self.index.outage
        if outage.suspected and not sweep:
            return
        try:
            if sweep or not self.index.ensured:
                self.index.ensure()
            for kind in kinds:
                to_doc = domain.TO_DOCUMENT[kind]
                # A backlog after an outage drains in batches; the next sweep takes the rest.
                for _ in range(SYNC_ROUNDS):
                    pending = self.store.unindexed(kind, SYNC_BATCH)
                    self.store.set_vectors(kind, embed_records(kind, pending))
                    outcome = self.index.bulk(kind, [(d["_id"], domain.revision(d), to_doc(d))
                                                     for d in pending])
                    self.store.mark_indexed(kind, outcome.indexed)
                    if not sweep:
                        indexed = set(outcome.indexed)
                        self.neighbours.take(kind, [d for d in pending
                                                    if (d["_id"], domain.revision(d)) in indexed])
                    self.store.mark_rejected(kind, outcome.rejected)
                    for doc_id, rev, why in outcome.rejected:
                        log.error("Elasticsearch refused %s %s revision %s (set aside until "
                                  "its next save): %s", kind, doc_id, rev, why)
                    if len(pending) < SYNC_BATCH:
                        break
            outage.ended()
            if sweep:  # what any replica indexed, findable by meaning
                self.neighbours.refresh(self.store)
        except ElasticsearchConnectionError as exc:
            outage.began()
            log.warning("index sync postponed, Elasticsearch unreachable: %s", exc)
        except ElasticsearchException as exc:
            log.warning("index sync postponed, Elasticsearch failed: %s", exc)

    def _ticket_text(self, ticket_id: str) -> str | None:
        ticket = self.store.ticket(ticket_id)
        return f"{ticket['title']}\n{ticket['body']}" if ticket else None

    def _answer(self, run, **degraded_body) -> dict:
        """Elasticsearch down: an empty answer flagged as degraded, never an error page.  Once
        it is known to be unreachable, without waiting for another timeout."""
        if self.index.outage.suspected:
            return ok(degraded=True, **degraded_body)
        try:
            return dict(run(), degraded=False)
        except ElasticsearchConnectionError as exc:
            self.index.outage.began()
            log.warning("search degraded, Elasticsearch unreachable: %s", exc)
        except ElasticsearchException as exc:
            log.warning("search degraded, Elasticsearch failed: %s", exc)
        return ok(degraded=True, **degraded_body)

    def _valid_article(self, payload: dict) -> dict:
        article = parsed(ArticleSchema(), payload)
        article["_id"] = article.pop("id")
        return self._check_translation(article)

    def _check_translation(self, article: dict) -> dict:
        original_id = article.get("translation_of")
        if not original_id:
            return article
        original = self.store.article(original_id)
        if original is None or original_id == article.get("_id"):
            raise Refusal(400, {"translation_of": ["no such article"]})
        if original["language"] == article["language"]:
            raise Refusal(400, {"translation_of": ["a translation is in another language"]})
        return article

    def _stored_article(self, article_id) -> dict | None:
        """Ids from callers are looked up only if they are plain slugs (never a query)."""
        if not isinstance(article_id, str) or not ARTICLE_ID.match(article_id):
            return None
        return self.store.article(article_id)

    def _after_article_write(self, article_id: str, **extra) -> dict:
        self._sync(kinds=("articles",))  # best effort now; the sweep retries if it is away
        return ok(article=self._article_view(self.store.article(article_id)), **extra)

    def _article_view(self, article: dict, with_translations: bool = True) -> dict:
        view = {"id": article["_id"], "title": article["title"], "body": article["body"],
                "language": article["language"], "category": article.get("category"),
                "tags": article.get("tags", []), "published": article["published"],
                "translation_of": article.get("translation_of"),
                "version": article.get("version"), "from_answer": article.get("from_answer"),
                "updated_at": article["updated_at"].isoformat()}
        if with_translations:
            view["translations"] = [{"id": t["_id"], "language": t["language"],
                                     "published": t.get("published", False)}
                                    for t in self.store.translations(article["_id"])]
        return view


"""The Elasticsearch side of search: creating indices behind aliases, bulk writes, queries and
zero-downtime rebuilds."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import eventlet
from elasticsearch import Elasticsearch, RequestError, TransportError, helpers

from . import indices

REBUILD_TIMEOUT = 600  # seconds a rebuild's bulk, settings and refresh requests may take
TICKET_SYNC_LINGER = 0.25  # seconds a ticket sync waits for more copies to send with it
# ... and at most this long for an assignment: the last step of routing a new ticket, whose
# indexed state is what the pipeline's latency is judged by (filed -> assigned, clocked and
# indexed).  Under a burst of new tickets, which mostly wait in a queue unassigned, the syncs
# still linger the full 0.25 s: 0.05 s for every sync cost ~1 CPU-ms per ticket at c=32.
ASSIGNMENT_SYNC_LINGER = 0.05
HURRIED_CHECK = 0.01  # seconds between looks at whether a lingering round was hurried


@dataclass
class BulkOutcome:
    indexed: list[tuple[str, int]] = field(default_factory=list)        # (id, revision)
    rejected: list[tuple[str, int, str]] = field(default_factory=list)  # (id, revision, why)


def _versioned_action(index: str, doc_id: str, rev: int, doc: dict) -> dict:
    # external_gte: the same revision may be sent twice (a sweep retried after a crash).
    return {"_op_type": "index", "_index": index, "_id": doc_id, "_source": doc,
            "version": rev, "version_type": "external_gte"}


def _done(result: dict) -> bool:
    """Written, or refused for an older revision (409): a newer one is there already."""
    return result.get("status", 500) < 300 or result.get("status") == 409


def _reason(error) -> str:
    if isinstance(error, dict):
        return f"{error.get('type')}: {error.get('reason')}"
    return str(error)


class Outage:
    """Remembers that Elasticsearch could not be reached, so requests answer "degraded" at
    once and writes leave the work to the sweep, instead of each waiting out a timeout against
    a node that is down or hung.  Only the sweep (every 2 s) tries again and clears it."""

    def __init__(self):
        self.suspected = False

    def began(self) -> None:
        self.suspected = True

    def ended(self) -> None:
        self.suspected = False


class SingleFlight:
    """One run at a time per process, and none wasted: a caller that finds a run in progress
    leaves its work as a note and returns at once; the running caller goes round again with
    the noted work while notes come in (at most ``rounds`` times, then the sweep takes the
    rest).  Under a burst of ticket events this turns one bulk (and one refresh wait) per
    event into one per batch: each concurrent handler used to send every pending document
    again.  A note of work that ``covers_all`` (the sweep) is not replaced by a narrower one,
    and the sweep never runs beside another sync: two runs at once would read the same
    pending documents and index each twice.  Each round first waits for company, ``linger``
    seconds or less when a caller asks for its work ``within`` less: the work reads what is
    pending when it starts, so notes left meanwhile are served by it.  Greenthreads switch
    only on I/O, so the flags need no lock."""

    def __init__(self, rounds: int = 50, linger: float = 0.0):
        self.rounds, self.linger = rounds, linger
        self.running = False
        self.wanted: Callable[[], None] | None = None
        self._wanted_covers_all = False
        self._wanted_within = linger
        self._due = 0.0  # when the lingering round starts its work (time.monotonic)

    def run(self, work: Callable[[], None], covers_all: bool = False,
            within: float | None = None) -> bool:
        """Run ``work`` now (True), or note that it is wanted next (False).  ``within``: the
        longest its round may linger (default ``linger``); a caller in more of a hurry cuts
        short the round lingering now, which serves it, or the next one."""
        within = self.linger if within is None else within
        if self.running:
            if covers_all or not self._wanted_covers_all:
                self.wanted, self._wanted_covers_all = work, covers_all
            self._wanted_within = min(self._wanted_within, within)
            self._due = min(self._due, time.monotonic() + within)
            return False
        self.running = True
        try:
            for _ in range(self.rounds):
                self._linger(within)
                self.wanted, self._wanted_covers_all = None, False
                self._wanted_within = self.linger
                work()
                if self.wanted is None:
                    break
                work, within = self.wanted, self._wanted_within
        finally:
            self.running = False
        return True

    def _linger(self, within: float) -> None:
        self._due = time.monotonic() + within
        while (left := self._due - time.monotonic()) > 0:
            eventlet.sleep(min(left, HURRIED_CHECK))


class SearchIndex:
    def __init__(self, es: Elasticsearch, prefix: str):
        self.es, self.prefix = es, prefix
        self.outage = Outage()
        # The event path's syncs of ticket copies and the sweep.  A ticket's copy no longer
        # waits for a refresh, so a bulk takes milliseconds: without a linger, at 30 tickets/s
        # each bulk carried about one document and Elasticsearch's CPU per ticket doubled;
        # 0.25 s keeps it where waiting for the refresh had it (BENCHMARKS.md, fourteenth
        # round), and the copy is still searchable at the next refresh.
        self.syncs = SingleFlight(linger=TICKET_SYNC_LINGER)
        self.ensured = False  # ensure() succeeded once in this process

    def alias(self, kind: str) -> str:
        return indices.alias(self.prefix, kind)

    def ensure(self) -> None:
        """Each kind's index exists behind its alias, with its serving settings (an index made
        by an older release gets them too)."""
        for kind in indices.KINDS:
            alias = self.alias(kind)
            if not self.es.indices.exists_alias(name=alias):
                name = indices.versioned(self.prefix, kind)
                try:
                    self.es.indices.create(index=name, body=indices.mapping(kind))
                except RequestError as exc:
                    # Another worker or replica created it first: fine, the alias is idempotent.
                    if exc.error != "resource_already_exists_exception":
                        raise
                self.es.indices.put_alias(index=name, name=alias)
            else:
                self.es.indices.put_settings(index=alias, body=indices.serving_settings(kind))
        self.ensured = True

    def bulk(self, kind: str, revisions: Iterable[tuple[str, int, dict]]) -> BulkOutcome:
        """Write ``(id, revision, document)`` triples, the revision as the document's external
        version: Elasticsearch keeps whichever revision is highest, whatever order writes land
        in.  An item refused for an older revision (409) is done (a newer one is there); any
        other refused item is reported, never blocks the rest.  Connection trouble raises.
        Articles and answers are searchable when it returns; tickets at the next refresh."""
        actions = [_versioned_action(self.alias(kind), doc_id, rev, doc)
                   for doc_id, rev, doc in revisions]
        sent = {a["_id"]: a["version"] for a in actions}
        outcome = BulkOutcome()
        if not actions:
            return outcome
        refresh = "wait_for" if kind in indices.WAITS_FOR_REFRESH else False
        for _, item in helpers.streaming_bulk(self.es, actions, raise_on_error=False,
                                              chunk_size=500, refresh=refresh):
            result = item["index"]
            key = (result["_id"], sent[result["_id"]])
            if _done(result):
                outcome.indexed.append(key)
            else:
                outcome.rejected.append((*key, _reason(result.get("error"))))
        return outcome

    def search(self, body: dict, kinds=indices.KINDS) -> list[dict]:
        return self.query(body, kinds)[0]

    def query(self, body: dict, kinds=indices.KINDS) -> tuple[list[dict], int]:
        index = ",".join(self.alias(k) for k in kinds)
        # dfs: term statistics across both indices, so their scores are comparable.
        found = self.es.search(index=index, body=body, search_type="dfs_query_then_fetch",
                               request_timeout=2)["hits"]
        return found["hits"], found["total"]["value"] if found.get("total") else 0

    def msearch(self, bodies: list[dict], kinds=indices.KINDS) -> list[list[dict]]:
        """Several searches in one round trip; each answer's hits, in order."""
        index = ",".join(self.alias(k) for k in kinds)
        lines: list[dict] = []
        for body in bodies:
            # Term statistics across shards matter for scores only: a search by filters alone
            # (semantic candidates by id) skips that extra round.
            scored = body["query"].get("bool", {}).keys() - {"filter"}
            lines += [{"index": index, "search_type": "dfs_query_then_fetch" if scored
                       else "query_then_fetch"}, body]
        answers = self.es.msearch(body=lines, request_timeout=2)["responses"]
        for answer in answers:
            if "error" in answer:
                raise TransportError(answer.get("status", 500), "msearch", answer["error"])
        return [answer["hits"]["hits"] for answer in answers]

    # ------------------------------------------------------------------ rebuilds

    def rebuild(self, kind: str, build: str, documents: Iterable[tuple[str, int, dict]],
                progress: Callable[[int], None] = lambda n: None, threads: int = 2,
                chunk_size: int = 5000, rejected: list | None = None) -> str:
        """Load ``(id, revision, document)`` triples into a fresh index, then move the alias to
        it in one atomic step: searches keep hitting the old index until the new one is
        complete.  Documents Elasticsearch refuses are appended to ``rejected`` as
        ``(id, reason)``."""
        rejected = [] if rejected is None else rejected
        name = indices.versioned(self.prefix, kind, build=build)
        self.es.indices.create(index=name, body=indices.MAPPING)
        self.es.indices.put_settings(index=name, body=indices.BUILD_SETTINGS)
        actions = (_versioned_action(name, doc_id, rev, doc) for doc_id, rev, doc in documents)
        for ok, item in helpers.parallel_bulk(self.es, actions, thread_count=threads,
                                              chunk_size=chunk_size, raise_on_error=False,
                                              request_timeout=REBUILD_TIMEOUT):
            result = item["index"]
            if not ok and not _done(result):
                # One refused document must not abort the rebuild; it is reported instead.
                rejected.append((result["_id"], _reason(result.get("error"))))
            progress(1)
        # Making 100,000 unrefreshed documents searchable can outlast the client's default
        # timeout on a busy node (measured: over 60 s at load 37): wait for it.
        self.es.indices.put_settings(index=name, body=indices.serving_settings(kind),
                                     request_timeout=REBUILD_TIMEOUT)
        self.es.indices.refresh(index=name, request_timeout=REBUILD_TIMEOUT)
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

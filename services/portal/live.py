"""Server push for the agent console: the services' events, as they arrive at this portal
process, fanned out to the browsers that hold an event stream open (Server-Sent Events).

The feed keeps the last ``RECENT`` items in a ring buffer so a browser that lost its
connection (or rendered its page a moment before connecting) catches up from the id it last
saw; an id the buffer no longer holds -- or one from another portal process or an earlier
start -- gets a ``resync`` item, and the page reloads its data.  Items carry no content, only
"ticket N of department D changed": the page fetches what changed through the ordinary,
access-checked pages, so the stream cannot show a person more than those pages do.  An item's
department (when its event or an earlier one named it) also keeps it from people outside it.

Pure Python plus eventlet queues; the AMQP side is ``live_amqp``, the HTTP side
``routes/agent_pages``."""
from __future__ import annotations

import json
import uuid
from collections import OrderedDict, deque
from typing import Iterator, TypedDict

import eventlet.queue

RECENT = 1000            # items kept for catching up
KNOWN_TICKETS = 50_000   # ticket number -> department remembered from earlier events
KEEPALIVE_SECONDS = 15   # a comment line this often: proxies keep the stream, dead ones fail
RESYNC = "resync"
PRESENCE = "presence"
MENTION = "mention"  # a colleague named these people in an internal note


class LiveItem(TypedDict):
    id: str                 # "<process>-<sequence>": the SSE event id
    type: str               # the event type, "presence" or "resync"
    number: int | None      # the ticket, when the event is about one
    department: str | None  # its department, when known
    people: list[str] | None  # only for these people (a mention); None: by department


def item_from_envelope(envelope: dict) -> tuple[str, int | None, str | None] | None:
    """(type, ticket number, department) of a service event envelope; None if it is not one."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("data"), dict):
        return None
    data, kind = envelope["data"], envelope.get("event_type")
    if not isinstance(kind, str):
        return None
    number = data.get("number")
    if not isinstance(number, int) or isinstance(number, bool):
        number = None
    ticket = data.get("ticket")  # intake's events carry the ticket's state (TicketState)
    department = data.get("department") or (ticket.get("department")
                                            if isinstance(ticket, dict) else None)
    return kind, number, department if isinstance(department, str) else None


def visible(item: LiveItem, departments: frozenset[str] | None,
            person: str | None = None) -> bool:
    """Whether a person who sees ``departments`` (None: all of them) is told about ``item``.
    An item of unknown department passes: it carries nothing but a ticket number, and the
    page then asks the access-checked pages what changed.  An item for some people (a
    mention) reaches only them."""
    if item.get("people") is not None and person not in item["people"]:
        return False
    if departments is None or item["department"] is None:
        return True
    return item["department"] in departments


def sse(item: LiveItem) -> str:
    payload = {"type": item["type"], "number": item["number"]}
    return f"id: {item['id']}\nevent: change\ndata: {json.dumps(payload)}\n\n"


class LiveFeed:
    def __init__(self, size: int = RECENT):
        self.process = uuid.uuid4().hex[:10]
        self._sequence = 0
        self._recent: deque[tuple[int, LiveItem]] = deque(maxlen=size)
        self._listeners: set[eventlet.queue.LightQueue] = set()
        self._departments: OrderedDict[int, str] = OrderedDict()

    @property
    def last_id(self) -> str:
        """The id a page rendered now passes to its stream to miss nothing after it."""
        return f"{self.process}-{self._sequence}"

    def publish(self, kind: str, number: int | None = None,
                department: str | None = None, people: list[str] | None = None) -> LiveItem:
        if number is not None:
            if department:
                self._departments[number] = department
                self._departments.move_to_end(number)
                while len(self._departments) > KNOWN_TICKETS:
                    self._departments.popitem(last=False)
            else:
                department = self._departments.get(number)
        self._sequence += 1
        item = LiveItem(id=f"{self.process}-{self._sequence}", type=kind, number=number,
                        department=department, people=people)
        self._recent.append((self._sequence, item))
        for listener in list(self._listeners):
            listener.put(item)
        return item

    def publish_event(self, envelope: dict) -> LiveItem | None:
        found = item_from_envelope(envelope)
        if not found:
            return None
        item = self.publish(*found)
        mentioned = envelope["data"].get("mentioned_ids")
        if found[0] == "message_added" and isinstance(mentioned, list) and mentioned:
            self.publish(MENTION, found[1], found[2],
                         people=[p for p in mentioned if isinstance(p, str)])
        return item

    def since(self, last_id: str | None) -> list[LiveItem] | None:
        """What followed ``last_id``; None when that cannot be told (resync)."""
        if not last_id:
            return []
        process, _, sequence = last_id.rpartition("-")
        if process != self.process or not sequence.isdigit():
            return None
        sequence_ = int(sequence)
        if sequence_ > self._sequence:
            return None
        if sequence_ < self._sequence and (not self._recent or self._recent[0][0] > sequence_ + 1):
            return None
        return [item for seq, item in self._recent if seq > sequence_]

    def stream(self, departments: frozenset[str] | None, last_id: str | None,
               keepalive: float = KEEPALIVE_SECONDS, person: str | None = None
               ) -> Iterator[str]:
        """The text of one SSE response, for as long as the browser listens."""
        listener: eventlet.queue.LightQueue = eventlet.queue.LightQueue()
        self._listeners.add(listener)  # before the catch-up, so nothing falls in between
        try:
            yield "retry: 1000\n\n"
            sent = _sequence_of(self.last_id)
            backlog = self.since(last_id)
            if backlog is None:
                yield sse(LiveItem(id=self.last_id, type=RESYNC, number=None, department=None,
                                   people=None))
            else:
                sent = _sequence_of(last_id) if last_id else sent
                for item in backlog:
                    sent = _sequence_of(item["id"])
                    if visible(item, departments, person):
                        yield sse(item)
            while True:
                try:
                    item = listener.get(timeout=keepalive)
                except eventlet.queue.Empty:
                    yield ": keepalive\n\n"
                    continue
                if _sequence_of(item["id"]) <= sent:
                    continue  # already sent from the catch-up
                sent = _sequence_of(item["id"])
                if visible(item, departments, person):
                    yield sse(item)
        finally:
            self._listeners.discard(listener)

    @property
    def listeners(self) -> int:
        return len(self._listeners)


def _sequence_of(item_id: str) -> int:
    return int(item_id.rpartition("-")[2])

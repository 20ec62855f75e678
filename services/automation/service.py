"""Automation (docs/automation.md): time rules evaluated on a schedule over only the tickets
whose rule can have come due (time_rules.py), triggers run on ticket events (triggers.py),
and signed webhook deliveries with retries and dead letters (webhooks.py).  It changes
tickets only through intake's (and routing's) RPC, as the system actor "automation"."""
from __future__ import annotations

import logging
from datetime import timedelta

import eventlet
import requests
from nameko.dependency_providers import Config
from nameko.rpc import RpcProxy
from nameko.timer import timer

from services.common import events as ev
from services.common.batches import BACKGROUND
from services.common.nameko_support import (ClockProvider, OutboxRelay, command, on_event,
                                             on_events, ticket_turn)
from services.common.observability import Observability
from services.common.retired_queues import RetiredQueues, handler_queue
from services.common.results import Refusal, fail, not_found, ok, parsed

from . import time_rules as tr
from . import triggers as tg
from . import webhooks as wh
from .schemas import (DeadLetterView, DeliveryView, DryRunSchema, DryRunView, TimeRulesSchema,
                       TriggerSchema, WebhookSchema)
from .repository import AutomationStore, StateChanged

log = logging.getLogger(__name__)

SWEEP_BATCH = 500
CONFLICT_RETRIES = 5
AUTOMATION_ACTOR = {"id": "automation", "role": "system", "name": "Automation"}
DELIVERY_BATCH = 50
PARALLEL_DELIVERIES = 10
DELIVERY_TIMEOUT_S = 10
ASSIGN_TRIES = 10
CLAIM_HOLD = timedelta(seconds=60)  # a worker that dies mid-attempt: due again after this


def _admin_only(actor: dict | None, what: str) -> None:
    if (actor or {}).get("role") != "admin":
        raise Refusal(403, {"_schema": [f"only an admin changes {what}"]})


# Handlers of earlier versions, one per part of an event's work, and the handler of the same
# event that does every part now.
RETIRED_HANDLERS = {
    (ev.TICKET_CREATED, "webhook_created"): "follow_creation",
    (ev.TICKET_CREATED, "triggers_on_created"): "follow_creation",
    (ev.STATUS_CHANGED, "webhook_status"): "follow_status",
    (ev.STATUS_CHANGED, "triggers_on_status"): "follow_status",
    (ev.TICKET_ASSIGNED, "webhook_assigned"): "follow_assignment",
    (ev.MESSAGE_ADDED, "webhook_message"): "triggers_on_reply",
    (ev.TICKET_UPDATED, "webhook_updated"): "triggers_on_updated",
    (ev.TICKET_RATED, "webhook_rated"): "triggers_on_rating",
}


class AutomationService(OutboxRelay):
    name = "automation"

    store = AutomationStore("automation")
    clock = ClockProvider()
    intake = RpcProxy("intake")
    routing = RpcProxy("routing")
    config = Config()
    observe = Observability()
    retired = RetiredQueues({
        handler_queue("automation", event_type, old): handler_queue("automation", event_type, now)
        for (event_type, old), now in RETIRED_HANDLERS.items()})

    # ------------------------------------------------------------------ admin

    @command
    def get_time_rules(self) -> dict:
        return ok(rules=tr.rules_to_payload(self._rules()))

    @command
    def update_time_rules(self, payload: dict, actor: dict) -> dict:
        """Admins only; the whole document is validated and replaced.  A new delay applies
        from the next sweep: nothing is re-indexed (the sweep subtracts the delay)."""
        _admin_only(actor, "the time rules")
        rules = parsed(TimeRulesSchema(), payload)
        self.store.save_rules(rules)
        return ok(rules=tr.rules_to_payload(self._rules()))

    def _rules(self) -> tr.TimeRules:
        saved = self.store.saved_rules()
        return tr.TimeRules() if saved is None else tr.rules_from_payload(saved)

    # ------------------------------------------------------------------ following tickets

    # One consumer per event type does every part (time-rule state, webhook deliveries,
    # triggers): one delivery and one worker per event instead of one per part.  Each part
    # is idempotent on its own (markers per part, trigger firings claimed per event), so a
    # redelivery after a part failed repeats nothing already done.  The method names are those
    # of the handlers whose queues carried on (RETIRED_QUEUES lists the others).

    @on_events(ev.TICKET_CREATED)
    def follow_creation(self, events):
        # Nearly always each ticket's first event here: one insert for the tickets filed
        # together, no marker needed.  Where a later event (or this one, redelivered) came
        # first, the creation is applied to the state it left.
        refused = self.store.start_states([
            tr.status_changed(tr.blank(e.data["ticket_id"], e.data["number"]), "new",
                              e.data["created_at"]) for e in events])
        for position, event in enumerate(events):
            d = event.data
            with ticket_turn(self.name, d["ticket_id"]):
                if position in refused:
                    self._evolve(("follow_creation", event.event_id), d["ticket_id"],
                                 d["number"],
                                 lambda s, at=d["created_at"]: tr.status_changed(s, "new", at)
                                 if s["status"] is None else s)
                self._enqueue(event)
                self._run_triggers(event)

    @on_event(ev.STATUS_CHANGED)
    def follow_status(self, event):
        d = event.data
        self._evolve(("follow_status", event.event_id), d["ticket_id"], d["number"],
                     lambda s: tr.status_changed(s, d["new_status"], d["changed_at"]))
        self._enqueue(event)
        self._run_triggers(event)

    @on_events(ev.TICKET_ASSIGNED, **BACKGROUND)
    def follow_assignment(self, events):
        # No marker: the state keeps when its assignment was made, and an older or repeated
        # one changes nothing (tr.assigned), in whatever order they come.  No turns either:
        # the compare-and-set on the state's version keeps this and the ticket's other events
        # from losing each other's changes, and the batch would otherwise wait for the
        # triggers those run in their turns.  One read and one write for the assignments
        # waiting together.
        self._evolve_together([
            (e.data["ticket_id"], e.data["number"],
             lambda s, d=e.data: tr.assigned(s, d["agent_id"], d["assigned_at"]))
            for e in events])
        for event in events:
            self._enqueue(event)

    def _evolve_together(self, changes: list[tr.Change]) -> None:
        """``_evolve(None, ...)`` for many changes at once: one read of their tickets' states,
        each ticket's rules applied in order to its state, one write of the states that
        changed (compare-and-set on each one's version).  Should another writer have stored
        or changed one of those states meanwhile, the rules of every state that write saved
        are applied again one at a time, to the state as it is now (where the write applied,
        they find their change made)."""
        changed = tr.evolved(self.store.states(list({t for t, _, _ in changes})), changes)
        if self.store.save_states(changed):
            return
        written = {state["_id"] for state in changed}
        for ticket_id, number, rule in changes:
            if ticket_id in written:
                self._evolve(None, ticket_id, number, rule)

    def _evolve(self, once: tuple[str, str] | None, ticket_id: str, number: int,
                rule) -> None:
        """Apply ``rule(state) -> state``; a concurrent writer makes it read again
        (compare-and-set on the state's version).  ``once`` (consumer, event id): in one
        transaction with that event's marker.  None: the rule itself leaves a state that has
        seen its event unchanged, and an unchanged state is not written."""
        def work(session=None):
            stored = {ticket_id: self.store.state(ticket_id, session)}
            for updated in tr.evolved(stored, [(ticket_id, number, rule)]):
                self.store.save_state(updated, session)

        for attempt in range(CONFLICT_RETRIES):
            try:
                if once is None:
                    work()
                else:
                    self.store.handle_once(*once, work)
                return
            except StateChanged:
                if attempt == CONFLICT_RETRIES - 1:
                    raise

    # ------------------------------------------------------------------ the sweep

    @timer(interval=1.0)
    def apply_time_rules(self):
        """Per rule, an index range scan for tickets waiting since before now - delay."""
        now = self.clock.now()
        rules = self._rules()
        for rule in tr.RULES:
            delay = rules.delay(rule)
            if delay is not None:
                for state in self.store.due(rule, now - delay, SWEEP_BATCH):
                    self._fire(state, rule, now)

    def _fire(self, state: tr.TicketState, rule: tr.Rule, now) -> None:
        # Claim first (compare-and-set): of two replicas, one acts.
        try:
            self.store.save_state(tr.acted(state, rule, now))
        except StateChanged:
            return
        try:
            result = self._act(state, rule)
        except Exception:  # noqa: BLE001 - intake unreachable: give the claim back, retry later
            log.exception("time rule %s on ticket #%s failed; retried", rule, state["number"])
            try:
                self.store.save_state(tr.TicketState(state, version=state["version"] + 1))
            except StateChanged:
                pass  # an event moved the ticket on meanwhile; it decides the next rule
            return
        if not result["ok"]:
            # The ticket moved on (reopened, assigned, closed by hand): its event re-decides.
            log.info("time rule %s on #%s not applied: %s", rule, state["number"],
                     result["errors"])

    def _act(self, state: tr.TicketState, rule: tr.Rule) -> dict:
        number = state["number"]
        if rule in ("close", "solve"):
            target = "closed" if rule == "close" else "solved"
            return self.intake.change_status(number, {"status": target}, AUTOMATION_ACTOR)
        if rule == "remind":
            return self.intake.remind_requester(
                number, f"{state['_id']}:{state['status_at'].isoformat()}")
        found = self.intake.get_ticket(number, AUTOMATION_ACTOR)
        if not found["ok"]:
            return found
        ticket = found["ticket"]
        if ticket["status"] != "new" or ticket["assignee_id"]:
            return fail(409, {"status": ["taken meanwhile"]})
        return self.intake.update_ticket(number, tr.escalation(ticket), AUTOMATION_ACTOR)

    # ------------------------------------------------------------------ webhooks: admin

    @command
    def list_webhooks(self) -> dict:
        return ok(webhooks=[_view(WebhookSchema, w) for w in self.store.webhooks()])

    @command
    def upsert_webhook(self, payload: dict, actor: dict) -> dict:
        _admin_only(actor, "webhooks")
        hook = parsed(WebhookSchema(), payload)
        doc = {"_id": hook.pop("id"), **hook}
        if "secret" not in doc:  # an edit that leaves the secret out keeps it
            current = self.store.webhook(doc["_id"])
            if current is None:
                return fail(400, {"secret": ["Required for a new webhook."]})
            doc["secret"] = current["secret"]
        self.store.upsert_webhook(doc)
        return ok(webhook=_view(WebhookSchema, doc))

    @command
    def delete_webhook(self, webhook_id: str, actor: dict) -> dict:
        _admin_only(actor, "webhooks")
        return ok() if self.store.delete_webhook(str(webhook_id)) else not_found("webhook")

    @command
    def dead_letters(self, actor: dict) -> dict:
        """Deliveries that kept failing, oldest first (the body is not listed)."""
        _admin_only(actor, "webhooks")
        return ok(deliveries=DeliveryView(many=True).dump(
            self.store.deliveries("dead", limit=500)))

    @command
    def dead_letter(self, delivery_id: str, actor: dict) -> dict:
        """One dead letter with its body, to inspect before replaying it."""
        _admin_only(actor, "webhooks")
        found = self.store.dead_letter(str(delivery_id))
        return ok(delivery=DeadLetterView().dump(found)) if found else not_found("dead letter")

    @command
    def replay_dead_letter(self, delivery_id: str, actor: dict) -> dict:
        _admin_only(actor, "webhooks")
        if not self.store.replay(str(delivery_id), wh.replayed(self.clock.now())):
            return not_found("dead letter")
        return ok()

    # ------------------------------------------------------------------ webhooks: events

    def _enqueue(self, event) -> None:
        """Every active webhook subscribed to this event gets one delivery (the event's id
        keys it, so a redelivered event enqueues nothing twice)."""
        hooks = self.store.subscribed(event.event_type)
        if not hooks:
            return
        envelope = ev.new_event(event.event_type, event.data, event.occurred_at, event.event_id)
        now = self.clock.now()
        deliveries = [wh.new_delivery(h, event.event_type, envelope, event.event_id, now)
                      for h in hooks]
        self.store.handle_once("webhooks", event.event_id,
                               lambda session: self.store.enqueue(deliveries, session))

    @on_event(ev.TICKET_SOLVED)
    def webhook_solved(self, event):
        self._enqueue(event)

    @on_event(ev.TICKET_CLOSED)
    def webhook_closed(self, event):
        self._enqueue(event)

    @on_event(ev.TICKET_REOPENED)
    def webhook_reopened(self, event):
        self._enqueue(event)

    # ------------------------------------------------------------------ webhooks: sending

    @timer(interval=1.0)
    def deliver_webhooks(self):
        """Attempt the due deliveries, several at once (a slow receiver holds only its own
        green thread, at most DELIVERY_TIMEOUT_S)."""
        now = self.clock.now()
        pool = eventlet.GreenPool(PARALLEL_DELIVERIES)
        for delivery in self.store.due_deliveries(now, DELIVERY_BATCH):
            if self.store.claim_delivery(delivery, now + CLAIM_HOLD):
                pool.spawn_n(self._attempt, delivery, now)
        pool.waitall()

    def _attempt(self, delivery: wh.Delivery, now) -> None:
        hook = self.store.webhook(delivery["webhook_id"])
        if hook is None:
            error = "the webhook was deleted"
        else:
            try:
                answer = requests.post(delivery["url"], data=delivery["body"].encode(),
                                       headers=wh.request_headers(delivery, hook["secret"], now),
                                       timeout=DELIVERY_TIMEOUT_S, allow_redirects=False)
                error = None if 200 <= answer.status_code < 300 else f"HTTP {answer.status_code}"
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"
        max_attempts = 1 if hook is None else int(
            self.config.get("WEBHOOK_MAX_ATTEMPTS") or wh.DEFAULT_MAX_ATTEMPTS)
        self.store.record_attempt(delivery["_id"],
                                  wh.after_attempt(delivery, error, now, max_attempts))

    # ------------------------------------------------------------------ triggers: admin

    @command
    def list_triggers(self) -> dict:
        return ok(triggers=[_view(TriggerSchema, t) for t in self.store.triggers()])

    @command
    def upsert_trigger(self, payload: dict, actor: dict) -> dict:
        _admin_only(actor, "triggers")
        trigger = parsed(TriggerSchema(), payload)
        doc = {"_id": trigger.pop("id"), **trigger}
        self.store.upsert_trigger(doc)
        return ok(trigger=_view(TriggerSchema, doc))

    @command
    def delete_trigger(self, trigger_id: str, actor: dict) -> dict:
        _admin_only(actor, "triggers")
        return ok() if self.store.delete_trigger(str(trigger_id)) else not_found("trigger")

    @command
    def dry_run_trigger(self, payload: dict, actor: dict) -> dict:
        """What the trigger would do to a sample ticket now; nothing is changed or sent."""
        _admin_only(actor, "triggers")
        run = parsed(DryRunSchema(), payload)
        found = self.intake.get_ticket(run["number"], AUTOMATION_ACTOR)
        if not found["ok"]:
            return found
        trigger, ticket = run["trigger"], found["ticket"]
        verdict = tg.evaluate(trigger, ticket, self.clock.now())
        return ok(result=DryRunView().dump({
            "matches": verdict.matches, "conditions": verdict.conditions,
            "business_hours": verdict.business_hours,
            "edit": tg.planned_edit(trigger, ticket) if verdict.matches else {},
            "actions": [a["type"] for a in trigger["actions"]] if verdict.matches else []}))

    # ------------------------------------------------------------------ triggers: events

    @on_event(ev.TICKET_UPDATED)
    def triggers_on_updated(self, event):
        self._enqueue(event)
        self._run_triggers(event)

    @on_event(ev.MESSAGE_ADDED)
    def triggers_on_reply(self, event):
        self._enqueue(event)
        if event.data["author_role"] != "system":  # the triggers' own notes start nothing
            self._run_triggers(event)

    @on_event(ev.TICKET_RATED)
    def triggers_on_rating(self, event):
        self._enqueue(event)
        self._run_triggers(event)

    def _run_triggers(self, event) -> None:
        """The active triggers listening to this moment, in order, each on the ticket as the
        previous ones left it."""
        moment = tg.MOMENTS[event.event_type]
        triggers = [t for t in tg.ordered(self.store.recent_triggers()) if moment in t["on"]]
        if not triggers:
            return
        d = event.data
        found = self.intake.get_ticket(d["number"], AUTOMATION_ACTOR)
        if not found["ok"]:
            return
        ticket = found["ticket"]
        for trigger in triggers:
            if event.event_type == ev.TICKET_UPDATED and d["actor_role"] == "system" and \
                    tg.own_change(self.store.mark(d["ticket_id"], trigger["_id"]), d["changes"]):
                continue  # loop guard: not on its own change
            if tg.evaluate(trigger, ticket, event.occurred_at).matches and \
                    self.store.claim_firing(trigger["_id"], event.event_id):
                ticket = self._fire_trigger(trigger, ticket, event)

    def _fire_trigger(self, trigger: dict, ticket: dict, event) -> dict:
        number, now = ticket["number"], self.clock.now()
        edit = tg.planned_edit(trigger, ticket)
        if edit:
            self.store.save_mark(ticket["id"], trigger["_id"], edit, now)
            result = self.intake.update_ticket(number, edit, AUTOMATION_ACTOR)
            ticket = result["ticket"] if result["ok"] else ticket
        for index, action in enumerate(trigger["actions"]):
            if action["type"] == "add_note":
                self.intake.add_message(number, {"body": action["body"], "public": False},
                                        AUTOMATION_ACTOR)
            elif action["type"] == "assign":
                self._assign(trigger, ticket, action["agent_id"])
            elif action["type"] == "email":
                sent = self.intake.send_trigger_mail(number, action["email"],
                                                     f"{trigger['_id']}:{event.event_id}:{index}")
                if not sent["ok"]:
                    log.warning("trigger %s email not sent: %s", trigger["_id"], sent["errors"])
            elif action["type"] == "webhook":
                self._trigger_delivery(action["webhook_id"], trigger, ticket, event, now)
        log.info("trigger %s fired on #%s (%s)", trigger["_id"], number, event.event_type)
        return ticket

    def _assign(self, trigger: dict, ticket: dict, agent_id: str) -> None:
        """Routing hands the ticket to the agent (within capacity).  On a ticket just created,
        routing may not have taken it in yet (404): ask again for a few seconds."""
        for _ in range(ASSIGN_TRIES):
            given = self.routing.reassign(ticket["id"], {"agent_id": agent_id,
                                                         "actor": AUTOMATION_ACTOR})
            if given["ok"] or given["status"] != 404 or "_schema" not in given["errors"]:
                break
            eventlet.sleep(0.5)
        if not given["ok"]:
            log.warning("trigger %s could not assign #%s: %s", trigger["_id"],
                        ticket["number"], given["errors"])

    def _trigger_delivery(self, webhook_id: str, trigger: dict, ticket: dict, event,
                          now) -> None:
        hook = self.store.webhook(webhook_id)
        if hook is None or not hook["active"]:
            log.warning("trigger %s names webhook %s, which is missing or off",
                        trigger["_id"], webhook_id)
            return
        payload = {"trigger_id": trigger["_id"], "event_type": event.event_type,
                   "event_id": event.event_id, "fired_at": now.isoformat(),
                   "ticket": {k: ticket.get(k) for k in tg.SNAPSHOT}}
        delivery = wh.new_delivery(hook, "trigger_fired", payload,
                                   f"{trigger['_id']}:{event.event_id}", now)
        self.store.transaction(lambda session: self.store.enqueue([delivery], session))


def _view(schema, doc: dict) -> dict:
    return schema().dump({"id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}})

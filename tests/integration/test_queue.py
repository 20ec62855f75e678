"""Intake's ``queue`` RPC against the real Mongo wire server: filters, search, SLA states, sorts
and paging of a seeded set with known answers, one RPC per page."""
from datetime import datetime, timedelta, timezone

import pytest

from services.intake import queue as rules
from services.intake.repository import DUE_INDEX, TicketRepository
from services.intake.service import IntakeService
from tests.support import running

NOW = datetime.now(timezone.utc).replace(microsecond=0)
AGENT = {"id": "agent-q", "role": "agent", "name": "Q"}


def ticket(n, *, department="technical", status="open", priority="normal", assignee=None,
           tags=(), subject="Printer jams", first_due=None, resolution_due=None,
           answered=False):
    return {
        "_id": f"q-{n}", "number": 70_000 + n, "subject": subject, "description": "d",
        "department": department, "category": None, "priority": priority, "language": "en",
        "tags": list(tags), "channel": "api", "requester_id": "c", "requester_name": "Rita Q",
        "requester_email": f"rita{n}@example.com", "status": status,
        "assignee_id": assignee, "assignee_name": None, "created_at": NOW - timedelta(hours=n),
        "updated_at": NOW, "first_response_at": NOW if answered else None,
        "solved_at": None, "closed_at": None, "reopened_at": None, "messages": [],
        "csat": None, "sla": {"policy_id": "p", "first_response_due": first_due,
                              "resolution_due": resolution_due, "breached": []}}


SEED = [
    ticket(1, first_due=NOW - timedelta(minutes=5), tags=["vpn"]),             # breached
    ticket(2, first_due=NOW + timedelta(minutes=30), priority="urgent"),       # soon
    ticket(3, first_due=NOW + timedelta(hours=5), assignee="agent-q"),         # ok
    ticket(4, answered=True, first_due=NOW - timedelta(hours=1),               # answered: races
           resolution_due=NOW + timedelta(hours=3), tags=["vpn", "mac"]),      # resolution, ok
    ticket(5, status="pending", first_due=NOW - timedelta(hours=1)),           # no clock
    ticket(6, department="billing", subject="Invoice copy", priority="high"),  # no clock
    ticket(7, status="solved", first_due=NOW - timedelta(hours=1)),            # not open
]


@pytest.fixture(scope="module")
def queue(config, rpc, db):
    with running(config, IntakeService):
        db("intake").tickets.insert_many(SEED)
        # Written straight into the database, as by a version before the stored fields: the
        # start-up fill gives them (the service started before these were written).
        assert TicketRepository(db("intake")).fill_queue_fields() == len(SEED)

        def ask(**query):
            result = rpc.intake.queue(query, AGENT)
            assert result["ok"], result
            return [t["number"] - 70_000 for t in result["tickets"]], result["total"]
        yield ask


def test_open_tickets_soonest_deadline_first(queue):
    assert queue() == ([1, 2, 4, 3, 6, 5], 6)


def test_filters(queue):
    assert queue(departments=["billing"]) == ([6], 1)
    assert queue(departments=[]) == ([], 0)
    assert queue(statuses=["pending"]) == ([5], 1)
    assert queue(priorities=["urgent", "high"], sort="number")[0] == [2, 6]
    assert queue(assignee="agent-q") == ([3], 1)
    assert queue(assignee="none", sort="number")[0] == [1, 2, 4, 5, 6]
    assert queue(tags=["VPN"], sort="number")[0] == [1, 4]
    assert queue(tags=["vpn", "mac"]) == ([4], 1)


def test_sla_states(queue):
    assert queue(sla_states=["breached"]) == ([1], 1)
    assert queue(sla_states=["soon", "breached"]) == ([1, 2], 2)
    assert queue(sla_states=["ok"], sort="number")[0] == [3, 4]
    assert queue(sla_states=["none"], sort="number")[0] == [5, 6]


def test_search_box(queue):
    assert queue(text="invoice") == ([6], 1)
    assert queue(text="#70003") == ([3], 1)
    assert queue(text="rita4@") == ([4], 1)
    assert queue(text="printer nothing-like-it") == ([], 0)
    assert queue(text="PRINTER jams", sort="number")[0] == [1, 2, 3, 4, 5]


def test_sorts_and_paging(queue):
    assert queue(sort="number")[0] == [1, 2, 3, 4, 5, 6]
    assert queue(sort="-number")[0] == [6, 5, 4, 3, 2, 1]
    assert queue(sort="priority")[0][:2] == [2, 6]
    assert queue(sort="-due")[0] == [3, 4, 2, 1, 6, 5]  # no clock stays last
    assert queue(per_page=2, page=2) == ([4, 3], None)  # more follow: not counted
    assert queue(per_page=2, page=3) == ([6, 5], 6)  # the end: the total is known
    assert queue(per_page=5, page=2) == ([5], 6)


def full_sort(tickets: list[dict], descending: bool) -> list[int]:
    """Every ticket by next due (no running clock last, by number), ties newest first."""
    racing = sorted((t for t in tickets if rules.next_due(t) is not None),
                    key=lambda t: (rules.next_due(t), t["number"] if descending else -t["number"]),
                    reverse=descending)
    idle = sorted((t for t in tickets if rules.next_due(t) is None), key=lambda t: -t["number"])
    return [t["number"] for t in racing + idle]


def test_pages_by_deadline_read_in_index_order_match_a_full_sort(queue, rpc, db):
    """The "due" sort reads the stored next due in index order and then the idle tickets,
    never sorting every ticket: page after page it gives exactly what sorting all of them by
    next due (computed here from the SLA deadlines) gives, both directions."""
    import random
    rng = random.Random(14)
    many = [ticket(100 + n, department="billing", status=rng.choice(
                ["new", "open", "pending", "on_hold"]), answered=rng.random() < 0.4,
                   first_due=rng.choice([None, NOW + timedelta(minutes=rng.randrange(-90, 300))]),
                   resolution_due=rng.choice([None, NOW + timedelta(minutes=rng.randrange(0, 900))]))
            for n in range(137)]
    db("intake").tickets.insert_many(many)
    TicketRepository(db("intake")).fill_queue_fields()
    billing = [t for t in SEED + many if t["department"] == "billing"
               and t["status"] in rules.OPEN_STATUSES]
    for sort in ("due", "-due"):
        everything = full_sort(billing, sort.startswith("-"))
        paged, page = [], 1
        while True:
            found = rpc.intake.queue({"departments": ["billing"], "sort": sort,
                                      "page": page, "per_page": 20}, AGENT)
            paged += [t["number"] for t in found["tickets"]]
            if not found["has_more"]:
                assert found["total"] == len(paged)
                break
            assert found["total"] is None
            page += 1
        assert paged == everything and len(paged) == 138, sort  # and the seed's one


def plan_stages(plan: dict) -> list[dict]:
    stages = [plan]
    for key in ("inputStage", "inputStages"):
        found = plan.get(key)
        for child in ([found] if isinstance(found, dict) else found or []):
            stages += plan_stages(child)
    return stages


def test_the_default_view_walks_the_next_due_index(queue, db):
    """Soonest deadline first is one walk of the next-due index in its order (no sort of every
    ticket, no scan of the tickets without a clock); "breached" bounds the walk at now."""
    now = datetime.now(timezone.utc)
    query = {"departments": ["billing", "technical"], "sort": "due", "page": 1, "per_page": 50}
    for sla in (None, "breached"):
        found, order = rules.racing_read(dict(query, sla_states=[sla] if sla else []), now)
        plan = db("intake").tickets.find(found).sort(order).hint(DUE_INDEX).limit(51).explain()
        stages = plan_stages(plan["queryPlanner"]["winningPlan"])
        scans = [s for s in stages if s["stage"] == "IXSCAN"]
        assert [s["indexName"] for s in scans] == ["next_due_1_number_-1"], plan
        assert not {"SORT", "COLLSCAN"} & {s["stage"] for s in stages}, plan
        walked = scans[0]["indexBounds"]["next_due"]
        assert "null]" not in " ".join(walked) and "[null" not in " ".join(walked), walked
        if sla:
            assert "MaxKey" not in " ".join(walked), walked


def test_changes_keep_the_stored_fields(db):
    """Intake's writes recompute next due and the search text from what they change: the
    first response moves the clock to resolution, pending stops it, SLA's new deadlines and a
    new subject are seen at once."""
    repo = TicketRepository(db("intake"))
    fresh = ticket(9, department="stored", subject="Old words",
                   first_due=NOW + timedelta(hours=1), resolution_due=NOW + timedelta(hours=8))
    repo.insert(fresh, [], NOW)

    def stored():
        return db("intake").tickets.find_one({"_id": "q-9"}, {"next_due": 1, "search_text": 1})

    assert stored()["next_due"] == NOW + timedelta(hours=1)
    assert "old words" in stored()["search_text"] and "rita9@example.com" in stored()["search_text"]
    repo.update("q-9", {"first_response_at": NOW, "subject": "Новые Слова"}, None)
    assert stored()["next_due"] == NOW + timedelta(hours=8)
    assert "новые слова" in stored()["search_text"] and "old" not in stored()["search_text"]
    repo.record_sla_deadlines([("q-9", {"policy_id": "p", "first_response_due": None,
                                        "resolution_due": NOW + timedelta(hours=2)}, 5)])
    assert stored()["next_due"] == NOW + timedelta(hours=2)
    repo.update("q-9", {"status": "pending"}, None)
    assert stored()["next_due"] is None
    repo.update("q-9", {"updated_at": NOW}, None)  # not an input: left as it was
    assert stored()["next_due"] is None and "новые" in stored()["search_text"]


def test_deadlines_are_kept_by_version_with_their_breaches(db):
    """SLA's announcements: the newest version wins, a redelivery or a late older one changes
    nothing, a recorded breach stays, and the queue's next due follows in the same write."""
    repo = TicketRepository(db("intake"))
    repo.insert(dict(ticket(10, department="versions"), sla=None), [], NOW)  # none announced yet
    stored = lambda: db("intake").tickets.find_one({"_id": "q-10"}, {"sla": 1, "next_due": 1})

    def announce(version, hours):
        repo.record_sla_deadlines([("q-10", {"policy_id": "p", "first_response_due": None,
                                             "resolution_due": NOW + timedelta(hours=hours)},
                                    version)])

    announce(5, 2)
    repo.add_breach("q-10", "resolution", None)
    announce(5, 9)  # the same announcement again
    announce(4, 9)  # an older one, late
    assert stored()["next_due"] == NOW + timedelta(hours=2)
    assert stored()["sla"]["version"] == 5
    announce(6, 3)
    assert stored()["next_due"] == NOW + timedelta(hours=3)
    assert stored()["sla"]["resolution_due"] == NOW + timedelta(hours=3)
    assert stored()["sla"]["breached"] == ["resolution"]


def test_first_deadlines_follow_what_the_ticket_became_before_they_arrived(db):
    """A ticket's first deadlines are written without a read when it is still as filed; one
    answered or put on hold before they arrived races its resolution, or nothing."""
    repo = TicketRepository(db("intake"))
    for n, changes in ((11, None), (12, {"first_response_at": NOW}), (13, {"status": "pending"})):
        repo.insert(dict(ticket(n, department="first", status="new"), sla=None), [], NOW)
        if changes:
            repo.update(f"q-{n}", changes, None)
    deadlines = {"policy_id": "p", "first_response_due": NOW + timedelta(hours=1),
                 "resolution_due": NOW + timedelta(hours=8)}
    repo.record_sla_deadlines([(f"q-{n}", deadlines, 1) for n in (11, 12, 13)])
    stored = {t["_id"]: t for t in db("intake").tickets.find({"department": "first"})}
    assert [stored[f"q-{n}"]["next_due"] for n in (11, 12, 13)] == [
        NOW + timedelta(hours=1), NOW + timedelta(hours=8), None]
    assert all(t["sla"] == dict(deadlines, version=1, breached=[]) for t in stored.values())


def test_refusals(rpc, queue):
    refused = rpc.intake.queue({"sort": "price", "statuses": ["gone"]}, AGENT)
    assert refused["status"] == 400 and {"sort", "statuses"} <= set(refused["errors"])
    assert rpc.intake.queue({}, {"id": "c", "role": "customer", "name": "C"})["status"] == 403


def test_search_box_in_russian_any_common_case(queue, db):
    """Last: its ticket is in a department of its own but every view without one sees it."""
    db("intake").tickets.insert_one(ticket(8, department="ru-desk", subject="Не работает ПРИНТЕР"))
    TicketRepository(db("intake")).fill_queue_fields()
    for typed in ("принтер", "Принтер", "ПРИНТЕР", "не работает"):
        assert queue(departments=["ru-desk"], text=typed) == ([8], 1), typed
    assert queue(departments=["ru-desk"], text="сканер") == ([], 0)

"""The report rollups' pure rules: buckets and percentiles against exact values, what one
ticket contributes, and that the increments of any history add up to the final state."""
import math
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake import rollups

T0 = datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc)


def exact_nearest_rank(values, p):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p * len(ordered))) - 1]


def histogram_of(values):
    hist = {}
    for v in values:
        hist[str(rollups.bucket(v))] = hist.get(str(rollups.bucket(v)), 0) + 1
    return hist


durations_ms = st.integers(min_value=0, max_value=400 * 24 * 3600 * 1000)


@settings(max_examples=300, deadline=None)
@given(st.lists(durations_ms, min_size=1, max_size=60), st.sampled_from([0.5, 0.9, 0.1, 1.0]))
def test_percentile_from_buckets_is_within_the_documented_precision(values, p):
    exact = exact_nearest_rank(values, p)
    estimate = rollups.percentile_ms(histogram_of(values), p)
    if exact < 1000:
        assert abs(estimate - exact) <= 1000
    else:
        assert abs(estimate - exact) <= rollups.PRECISION * exact


@given(durations_ms)
def test_a_duration_lies_inside_its_bucket(ms):
    index = rollups.bucket(ms)
    if index == 0:
        assert ms < 1000
    else:
        low = 1000 * 2 ** ((index - 1) / rollups.BUCKETS_PER_DOUBLING)
        high = 1000 * 2 ** (index / rollups.BUCKETS_PER_DOUBLING)
        assert low * (1 - 1e-9) <= ms < high * (1 + 1e-9)


def test_no_durations_no_percentile():
    assert rollups.percentile_ms({}, 0.5) is None
    assert rollups.percentile_ms({"12": 0}, 0.5) is None


def reply(role, public=True):
    return {"author_role": role, "public": public}


def ticket(**fields):
    base = {"created_at": T0, "department": "billing", "channel": "email", "status": "new",
            "assignee_id": None, "first_response_at": None, "solved_at": None,
            "reopened_at": None, "csat": None, "messages": []}
    return dict(base, **fields)


def test_a_new_ticket_counts_once_on_its_utc_creation_day():
    got = rollups.contribution(ticket())
    assert got == {("daily", "2026-03-01", "billing", "email"): {"created": 1},
                   ("current", "billing"): {"backlog": 1, "unassigned": 1}}
    # 23:30 in UTC is already 2 March in Moscow: days are UTC days.
    assert rollups.day_of(T0.astimezone(timezone(timedelta(hours=3)))) == "2026-03-01"


def test_a_solved_ticket_with_one_public_reply_is_a_first_contact_resolution():
    solved = ticket(status="solved", assignee_id="a1",
                    first_response_at=T0 + timedelta(minutes=30),
                    solved_at=T0 + timedelta(hours=2), csat={"score": 4},
                    messages=[reply("customer"), reply("agent"), reply("agent", public=False)])
    got = rollups.contribution(solved)
    daily = got[("daily", "2026-03-01", "billing", "email")]
    assert daily["first_contact"] == 1 and daily["solved"] == 1
    assert (daily["csat_n"], daily["csat_sum"], daily["csat_4"]) == (1, 4, 1)
    assert daily["fr_sum_ms"] == 30 * 60_000 and daily["res_sum_ms"] == 2 * 3_600_000
    assert daily[f"hist.fr_{rollups.bucket(30 * 60_000)}"] == 1
    agent = got[("agents", "2026-03-01", "billing", "a1")]
    assert agent["assigned"] == 1 and agent["solved"] == 1 and agent["res_n"] == 1
    assert (agent["csat_n"], agent["csat_sum"], agent["csat_4"]) == (1, 4, 1)
    assert ("current", "billing") not in got  # solved: out of the backlog


def test_csat_counts_each_score_with_its_sum_and_ignores_ratings_without_one():
    for score in range(1, 6):
        daily = rollups.contribution(ticket(status="solved", csat={"score": score}))[
            ("daily", "2026-03-01", "billing", "email")]
        assert {k: v for k, v in daily.items() if k.startswith("csat_")} == {
            "csat_n": 1, "csat_sum": score, f"csat_{score}": 1}
    # Ratings stored before scores (good/bad), or none yet, add nothing.
    for csat in (None, {"rating": "good"}, {"score": 0}, {"score": 5.0}, {"score": True}):
        daily = rollups.contribution(ticket(status="solved", csat=csat))[
            ("daily", "2026-03-01", "billing", "email")]
        assert not any(k.startswith("csat_") for k in daily)


def test_reopened_or_two_replies_is_not_first_contact():
    two = ticket(status="closed", messages=[reply("agent"), reply("agent")])
    reopened = ticket(status="solved", reopened_at=T0, messages=[reply("agent")])
    for t in (two, reopened):
        assert "first_contact" not in rollups.contribution(t)[
            ("daily", "2026-03-01", "billing", "email")]
    assert rollups.contribution(reopened)[("daily", "2026-03-01", "billing", "email")][
        "reopened"] == 1


def test_reassignment_moves_the_ticket_between_agents():
    before = ticket(assignee_id="a1", first_response_at=T0 + timedelta(minutes=5))
    after = rollups.applied(before, {"assignee_id": "a2"}, None)
    delta = rollups.difference(before, after)
    bucket = f"hist.fr_{rollups.bucket(5 * 60_000)}"
    assert delta == {("agents", "2026-03-01", "billing", "a1"): {"assigned": -1, "fr_n": -1,
                                                                 bucket: -1},
                     ("agents", "2026-03-01", "billing", "a2"): {"assigned": 1, "fr_n": 1,
                                                                 bucket: 1}}
    assert rollups.difference(before, dict(before, tags=["x"])) == {}


def test_backlog_counters_follow_status_assignee_and_breaches():
    new = ticket()
    assigned = rollups.applied(new, {"assignee_id": "a1"}, None)
    assert rollups.difference(new, assigned)[("current", "billing")] == {"unassigned": -1}
    breached = rollups.with_breach(dict(assigned, sla={"breached": []}), "resolution")
    assert rollups.with_breach(breached, "resolution") == breached  # $addToSet: once
    assert rollups.difference(assigned, breached) == {("current", "billing"): {"overdue": 1}}
    solved = rollups.applied(breached, {"status": "solved"}, None)
    assert rollups.difference(breached, solved)[("current", "billing")] == {
        "backlog": -1, "overdue": -1}


def test_applied_pushes_one_item_or_each():
    t = ticket(messages=[reply("agent")])
    after = rollups.applied(t, {"status": "open"}, {"messages": reply("customer"),
                                                    "email_message_ids": {"$each": ["<a>"]}})
    assert after["status"] == "open" and len(after["messages"]) == 2
    assert after["email_message_ids"] == ["<a>"] and len(t["messages"]) == 1


STATUSES = ["new", "open", "pending", "solved", "closed"]
changes = st.one_of(
    st.fixed_dictionaries({"status": st.sampled_from(STATUSES)}),
    st.fixed_dictionaries({"assignee_id": st.sampled_from([None, "a1", "a2"])}),
    st.fixed_dictionaries({"department": st.sampled_from(["billing", "technical"])}),
    st.fixed_dictionaries({"csat": st.one_of(st.none(), st.builds(
        lambda score: {"score": score}, st.integers(min_value=1, max_value=5)))}),
    st.fixed_dictionaries({"solved_at": st.sampled_from([None, T0 + timedelta(hours=5)]),
                           "reopened_at": st.sampled_from([None, T0])}),
    st.fixed_dictionaries({"first_response_at": st.just(T0 + timedelta(seconds=90))}),
)
changes = st.one_of(changes, st.sampled_from(["first_response", "resolution"]))  # breaches
pushes = st.one_of(st.none(), st.builds(lambda r, p: {"messages": reply(r, p)},
                                        st.sampled_from(["agent", "customer"]), st.booleans()))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(changes, pushes), max_size=12))
def test_increments_of_any_history_add_up_to_the_final_contribution(history):
    state, total = ticket(), {}
    rollups.add_into(total, rollups.difference(None, state))
    for change, push in history:
        after = (rollups.with_breach(state, change) if isinstance(change, str)
                 else rollups.applied(state, change, push))
        rollups.add_into(total, rollups.difference(state, after))
        state = after
    nonzero = {key: figures for key, v in total.items()
               if (figures := {n: x for n, x in v.items() if x})}
    assert nonzero == rollups.contribution(state)


def test_rollup_documents_nest_buckets_and_drop_zeros_for_comparison():
    key = ("daily", "2026-03-01", "billing", "email")
    doc = rollups.as_document(key, {"created": 2, "hist.fr_7": 1, "hist.res_9": 0})
    assert doc == {"_id": "2026-03-01|billing|email", "day": "2026-03-01",
                   "department": "billing", "channel": "email", "created": 2,
                   "hist": {"fr_7": 1, "res_9": 0}}
    assert rollups.without_zeros(doc)["hist"] == {"fr_7": 1}
    assert rollups.without_zeros(dict(doc, created=0, hist={"fr_7": 0})) is None


def test_periods_widen_to_whole_utc_days():
    start, end = rollups.day_range(datetime(2026, 3, 1, 9, tzinfo=timezone.utc),
                                   datetime(2026, 3, 8, 9, tzinfo=timezone.utc))
    assert (start, end) == (datetime(2026, 3, 1, tzinfo=timezone.utc),
                            datetime(2026, 3, 9, tzinfo=timezone.utc))
    midnight = datetime(2026, 3, 8, tzinfo=timezone.utc)
    assert rollups.day_range(midnight - timedelta(days=1), midnight)[1] == midnight


def test_shards_of_a_rollup_sum_into_the_document_the_rebuild_writes():
    key = (rollups.DAILY, "2026-11-23", "technical", "portal")
    assert rollups.document_id(key) == "2026-11-23|technical|portal"
    shards = [
        {"_id": rollups.document_id(key, 3), "day": "2026-11-23", "department": "technical",
         "channel": "portal", "created": 2, "hist": {"first_response_3": 1}},
        {"_id": rollups.document_id(key, 5), "day": "2026-11-23", "department": "technical",
         "channel": "portal", "created": 1, "solved": 1,
         "hist": {"first_response_3": 2, "resolution_9": 1}},
    ]
    assert rollups.merged_shards(reversed(shards)) == [
        {"_id": "2026-11-23|technical|portal", "day": "2026-11-23", "department": "technical",
         "channel": "portal", "created": 3, "solved": 1,
         "hist": {"first_response_3": 3, "resolution_9": 1}}]


def test_a_new_tickets_owed_contribution_survives_being_kept_on_a_document():
    """A new ticket keeps its contribution until it is settled: what is kept (lists, no dotted
    field names) gives back exactly what it contributes, and settling after a change has
    rolled up its difference leaves the rollups at the ticket's current contribution."""
    solved = ticket(status="solved", first_response_at=T0 + timedelta(minutes=30),
                    solved_at=T0 + timedelta(hours=2), messages=[reply("agent")])
    kept = rollups.owed(solved)
    assert any("." in name for part in kept for name, _ in part["add"])  # hist.fr_..
    assert all(set(part) == {"key", "add"} and isinstance(part["key"], list) for part in kept)
    assert rollups.from_owed(kept) == rollups.contribution(solved)
    new = ticket()
    assigned = rollups.applied(new, {"assignee_id": "a1"}, None)
    total = {}
    rollups.add_into(total, rollups.difference(new, assigned))  # the change comes first
    rollups.add_into(total, rollups.from_owed(rollups.owed(new)))  # then the settling
    assert {k: {n: v for n, v in f.items() if v} for k, f in total.items()} == \
        rollups.contribution(assigned)

"""The agent console's and dashboard's pure rules (services/portal/console.py)."""
from datetime import datetime, timedelta, timezone

from services.portal import console

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def ticket(**changes) -> dict:
    base = {"number": 1, "status": "open", "assignee_id": None, "first_response_at": None,
            "created_at": (NOW - timedelta(hours=1)).isoformat(),
            "sla": {"first_response_due": (NOW + timedelta(minutes=90)).isoformat(),
                    "resolution_due": (NOW + timedelta(hours=8)).isoformat()}}
    return {**base, **changes}


def test_countdown_races_the_first_response_then_the_resolution():
    assert console.countdown(ticket(), NOW) == {
        "target": "first_response", "due": (NOW + timedelta(minutes=90)).isoformat(),
        "state": "ok", "minutes_left": 90}
    answered = console.countdown(ticket(first_response_at=NOW.isoformat()), NOW)
    assert (answered["target"], answered["minutes_left"]) == ("resolution", 480)


def test_countdown_states_soon_within_an_hour_and_breached_after():
    soon = ticket(sla={"first_response_due": (NOW + timedelta(minutes=59)).isoformat()})
    late = ticket(sla={"first_response_due": (NOW - timedelta(minutes=5)).isoformat()})
    assert console.countdown(soon, NOW)["state"] == "soon"
    assert console.countdown(late, NOW) | {"due": None} == {
        "target": "first_response", "due": None, "state": "breached", "minutes_left": -5}


def test_no_countdown_while_waiting_on_the_customer_or_when_done_or_without_sla():
    for changes in ({"status": "pending"}, {"status": "solved"}, {"sla": None},
                    {"sla": {"first_response_due": None, "resolution_due": None}}):
        assert console.countdown(ticket(**changes), NOW) is None


def test_queue_views_become_one_queue_query():
    assert console.queue_query("mine", {}, "a1", ["technical"]) == {
        "assignee": "a1", "statuses": ["new", "open", "on_hold"], "departments": ["technical"],
        "per_page": console.PER_PAGE}
    assert console.queue_query("unassigned", {}, "a1", None) == {
        "assignee": "none", "per_page": console.PER_PAGE}
    narrowed = console.queue_query("all", {
        "status": ["open", ""], "priority": ["high"], "sla": ["breached"], "tag": [" vpn "],
        "department": ["billing", "technical"], "assignee": ["me"], "q": ["printer"],
        "sort": ["-number"], "page": ["2"]}, "a1", ["technical"])
    assert narrowed == {"statuses": ["open"], "priorities": ["high"], "sla_states": ["breached"],
                        "tags": ["vpn"], "departments": ["technical"], "assignee": "a1",
                        "text": "printer", "sort": "-number", "page": "2",
                        "per_page": console.PER_PAGE}
    # a department outside one's own gives nothing, not everything
    assert console.queue_query("all", {"department": ["billing"]}, "a1",
                               ["technical"])["departments"] == []
    # the view's own lists are copies: a request cannot change the view for the next one
    console.queue_query("breaching", {}, "a1", None)["sla_states"].append("ok")
    assert console.VIEW_QUERIES["breaching"]["sla_states"] == ["soon", "breached"]


def test_sort_links_toggle():
    assert console.sort_link("due", "due") == "-due"
    assert console.sort_link("-due", "due") == "due"
    assert console.sort_link("due", "number") == "number"


def test_other_viewers_leaves_me_out_and_prefers_replying():
    records = [{"user_id": "me", "name": "Me", "mode": "replying"},
               {"user_id": "b", "name": "Boris", "mode": "viewing"},
               {"user_id": "b", "name": "Boris", "mode": "replying"},
               {"user_id": "a", "name": "Anna", "mode": "viewing"}]
    assert console.other_viewers(records, "me") == [
        {"user_id": "a", "name": "Anna", "mode": "viewing"},
        {"user_id": "b", "name": "Boris", "mode": "replying"}]


def test_chart_data_fills_missing_day_channel_pairs_with_zero():
    report = {"volume": [{"day": "2026-03-01", "channel": "email", "tickets": 2},
                         {"day": "2026-03-02", "channel": "portal", "tickets": 3}],
              "volume_by_department": [
                  {"day": "2026-03-01", "department": "billing", "tickets": 1},
                  {"day": "2026-03-01", "department": "technical", "tickets": 1},
                  {"day": "2026-03-02", "department": "technical", "tickets": 3}],
              "by_department": {"billing": 1, "technical": 4},
              "csat": {"by_score": {"1": 1, "2": 0, "3": 0, "4": 2, "5": 7}}}
    compliance = [{"key": "billing", "target": "first_response", "met_rate": 0.75}]
    assert console.chart_data(report, compliance) == {
        "volume": {"labels": ["2026-03-01", "2026-03-02"], "series": [
            {"label": "email", "data": [2, 0]}, {"label": "portal", "data": [0, 3]}]},
        "volume_by_department": {"labels": ["2026-03-01", "2026-03-02"], "series": [
            {"label": "billing", "data": [1, 0]}, {"label": "technical", "data": [1, 3]}]},
        "departments": {"labels": ["billing", "technical"], "data": [1, 4]},
        "compliance": {"labels": ["billing · first_response"], "data": [75.0]},
        "csat": {"labels": ["1", "2", "3", "4", "5"], "data": [1, 0, 0, 2, 7]}}


def test_deflection_and_sla_rates():
    assert console.deflection([{"solved": 3, "not_solved": 1}, {"solved": 0, "not_solved": 4}]) \
        == {"solved": 3, "answered": 8, "rate": 0.375}
    assert console.deflection([])["rate"] is None
    assert console.sla_compliance_rate([{"met": 3, "total": 4}, {"met": 1, "total": 4}]) == 0.5
    assert console.sla_compliance_rate([]) is None


FUNNEL = {"languages": {"ru": {"typed": 1, "shown": 0, "opened": 0, "solved": 0,
                               "not_helped": 0, "filed": 1},
                        "en": {"typed": 4, "shown": 3, "opened": 2, "solved": 1,
                               "not_helped": 1, "filed": 1}},
          "results": [{"result": "article:a", "title": "Reset, then sign in", "shown": 3,
                       "opened": 2, "solved": 1, "not_helped": 1, "filed": 1}]}
STEPS = ["typed", "shown", "opened", "solved", "not_helped", "filed"]


def test_funnel_csv_has_a_row_per_language_then_per_answer():
    lines = console.funnel_csv(FUNNEL, STEPS).splitlines()
    assert lines[0] == "language,result,title,typed,shown,opened,solved,not_helped,filed"
    assert lines[1:3] == ["en,,,4,3,2,1,1,1", "ru,,,1,0,0,0,0,1"]
    assert lines[3] == ',article:a,"Reset, then sign in",,3,2,1,1,1'


def test_funnel_chart_has_a_series_per_language_in_step_order():
    chart = console.funnel_chart(FUNNEL, {s: s.upper() for s in STEPS})
    assert chart["labels"] == [s.upper() for s in STEPS]
    assert chart["series"] == [{"label": "en", "data": [4, 3, 2, 1, 1, 1]},
                               {"label": "ru", "data": [1, 0, 0, 0, 0, 1]}]

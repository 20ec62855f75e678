from services.intake import rollups
from services.intake.reports import shape

EMPTY_PERIOD = {"volume": [], "volume_by_department": [], "by_department": [], "totals": [],
                "histograms": []}
NO_AGENTS = {"counts": [], "histograms": []}


def test_nothing_to_measure_gives_none_not_zero():
    out = shape(EMPTY_PERIOD, NO_AGENTS, [])
    assert out["created"] == 0 and out["backlog"] == 0 and out["reopened"] == 0
    assert out["first_contact_resolution_rate"] is None
    assert out["csat"] == {"rated": 0, "satisfied": 0, "score": None, "average": None,
                           "by_score": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}}
    assert out["first_response"] == {"count": 0, "avg_minutes": None, "median_minutes": None,
                                     "p90_minutes": None}
    assert out["volume_by_department"] == [] and out["agents"] == []


def test_units_are_minutes_and_rates():
    one_minute, two_minutes = rollups.bucket(60_000), rollups.bucket(120_000)
    period = dict(EMPTY_PERIOD,
                  totals=[{"created": 4, "solved": 3, "first_contact": 2,
                           # ratings 5, 5, 4, 2, 1: three of five are 4 or 5
                           "csat_n": 5, "csat_sum": 17, "csat_5": 2, "csat_4": 1, "csat_2": 1,
                           "csat_1": 1, "fr_n": 2, "fr_sum_ms": 180_000}],
                  histograms=[{"_id": {"key": f"fr_{one_minute}"}, "n": 1},
                              {"_id": {"key": f"fr_{two_minutes}"}, "n": 1}],
                  volume_by_department=[{"_id": {"day": "2026-01-05", "department": "billing"},
                                         "n": 4}])
    agents = dict(NO_AGENTS, counts=[
        {"_id": "a", "assigned": 2, "solved": 1, "csat_n": 0, "csat_sum": 0},
        {"_id": "b", "assigned": 3, "solved": 3, "csat_n": 3, "csat_sum": 10, "csat_1": 1,
         "csat_2": 0, "csat_4": 1, "csat_5": 1}])
    out = shape(period, agents, [{"backlog": 5, "unassigned": 1, "overdue": 2}])
    figures = out["first_response"]
    assert figures["count"] == 2 and figures["avg_minutes"] == 1.5
    assert abs(figures["median_minutes"] - 1.0) <= rollups.PRECISION
    assert abs(figures["p90_minutes"] - 2.0) <= 2 * rollups.PRECISION
    assert out["first_contact_resolution_rate"] == round(2 / 3, 4)
    assert out["csat"] == {"rated": 5, "satisfied": 3, "score": 0.6, "average": 3.4,
                           "by_score": {"1": 1, "2": 1, "3": 0, "4": 1, "5": 2}}
    assert (out["backlog"], out["unassigned"], out["overdue"]) == (5, 1, 2)
    assert out["volume_by_department"] == [{"day": "2026-01-05", "department": "billing",
                                            "tickets": 4}]
    assert out["agents"] == [
        {"agent_id": "a", "assigned": 2, "solved": 1, "median_first_response_minutes": None,
         "median_resolution_minutes": None, "csat_score": None, "csat_average": None,
         "csat_rated": 0},
        {"agent_id": "b", "assigned": 3, "solved": 3, "median_first_response_minutes": None,
         "median_resolution_minutes": None, "csat_score": round(2 / 3, 4),
         "csat_average": 3.33, "csat_rated": 3}]

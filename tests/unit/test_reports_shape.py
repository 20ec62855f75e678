from services.intake.reports import shape

EMPTY_PERIOD = {"volume": [], "by_department": [], "totals": [], "first_response": [],
                "resolution": [], "per_agent": []}


def test_nothing_to_measure_gives_none_not_zero():
    out = shape(EMPTY_PERIOD, [])
    assert out["created"] == 0 and out["backlog"] == 0
    assert out["first_contact_resolution_rate"] is None
    assert out["csat"] == {"good": 0, "bad": 0, "score": None}
    assert out["first_response"] == {"count": 0, "avg_minutes": None, "median_minutes": None,
                                     "p90_minutes": None}


def test_units_are_minutes_and_rates():
    period = dict(EMPTY_PERIOD,
                  totals=[{"created": 4, "solved": 3, "first_contact": 2, "csat_good": 3,
                           "csat_bad": 1}],
                  first_response=[{"n": 2, "avg_ms": 90_000, "pct_ms": [60_000, 120_000]}],
                  per_agent=[{"_id": "a", "assigned": 2, "solved": 1, "csat_good": 0,
                              "csat_bad": 0, "first_response": [None], "resolution": None}])
    out = shape(period, [{"backlog": 5, "unassigned": 1, "overdue": 2}])
    assert out["first_response"] == {"count": 2, "avg_minutes": 1.5, "median_minutes": 1.0,
                                     "p90_minutes": 2.0}
    assert out["first_contact_resolution_rate"] == round(2 / 3, 4)
    assert out["csat"]["score"] == 0.75
    assert (out["backlog"], out["unassigned"], out["overdue"]) == (5, 1, 2)
    assert out["agents"] == [{"agent_id": "a", "assigned": 2, "solved": 1,
                              "median_first_response_minutes": None,
                              "median_resolution_minutes": None, "csat_score": None}]

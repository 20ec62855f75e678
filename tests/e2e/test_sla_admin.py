"""SLA administration over HTTP: supervisors manage calendars and policies; bad ones get 400
with field messages; agents cannot."""
import pytest
import requests

CALENDAR = {"name": "Moscow office", "time_zone": "Europe/Moscow",
            "hours": {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
            "yearly_holidays": ["01-01", "01-02"]}
POLICY = {"name": "Gold, high", "priority": "high", "plan": "gold", "calendar_id": "e2e-office",
          "targets": {"first_response": 60, "next_response": 120, "resolution": 960},
          "escalation": {"resolution": {"breach": ["notify_supervisor"]}}}


@pytest.fixture(scope="module")
def supervisor(portal):
    reply = requests.post(f"{portal}/api/auth/token", json={
        "email": "supervisor@example.com", "password": "demo-pass-1"}, timeout=10)
    assert reply.status_code == 201, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def test_supervisor_manages_calendars_policies_and_reads_compliance(portal, supervisor):
    put = requests.put(f"{portal}/api/sla/calendars/e2e-office", json=CALENDAR,
                       headers=supervisor, timeout=10)
    assert put.status_code == 200, put.text
    put = requests.put(f"{portal}/api/sla/policies/e2e-gold-high", json=POLICY,
                       headers=supervisor, timeout=10)
    assert put.status_code == 200, put.text
    policies = requests.get(f"{portal}/api/sla/policies", headers=supervisor, timeout=10).json()
    assert "e2e-gold-high" in [p["id"] for p in policies["policies"]]
    busy = requests.delete(f"{portal}/api/sla/calendars/e2e-office", headers=supervisor,
                           timeout=10)
    assert busy.status_code == 409 and "e2e-gold-high" in busy.json()["errors"]["calendar_id"][0]
    report = requests.get(f"{portal}/api/sla/compliance", params={"by": "department"},
                          headers=supervisor, timeout=10)
    assert report.status_code == 200 and report.json()["by"] == "department"


@pytest.mark.parametrize("path, body, field, message", [
    ("calendars/bad", dict(CALENDAR, time_zone="Moscow/Kremlin"), "time_zone",
     "Unknown time zone"),
    ("calendars/bad", dict(CALENDAR, hours={"tue": [["09:00", "14:00"], ["13:00", "18:00"]]}),
     "hours", "overlaps"),
    ("policies/bad", dict(POLICY, targets={"first_response": -30, "resolution": 60}), "targets",
     "whole number of minutes"),
    ("policies/bad", dict(POLICY, warning_threshold=2), "warning_threshold", "between 0 and 1"),
    ("policies/bad", dict(POLICY, calendar_id="nowhere"), "calendar_id", "Unknown calendar"),
    ("policies/bad", ["not", "an", "object"], "_schema", "JSON object"),
])
def test_bad_calendars_and_policies_get_400_with_field_messages(portal, supervisor, path, body,
                                                                field, message):
    reply = requests.put(f"{portal}/api/sla/{path}", json=body, headers=supervisor, timeout=10)
    assert reply.status_code == 400, reply.text
    assert message in str(reply.json()["errors"][field])


def test_agents_cannot_change_policies(portal, agent_token):
    reply = requests.put(f"{portal}/api/sla/policies/sneaky", json=POLICY, timeout=10,
                         headers={"Authorization": f"Bearer {agent_token}"})
    assert reply.status_code == 403

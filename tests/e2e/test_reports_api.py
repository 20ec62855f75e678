import requests

from tests.support import eventually


def token(portal, email):
    reply = requests.post(f"{portal}/api/auth/token", timeout=10,
                          json={"email": email, "password": "demo-pass-1"})
    assert reply.status_code == 201, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def test_supervisor_sees_reports_and_csv(portal):
    auth = token(portal, "supervisor@example.com")
    filed = requests.post(f"{portal}/api/tickets", timeout=10, json={
        "subject": "Report me", "description": "d", "requester_email": "r@example.com"}).json()

    def counted():
        # A new ticket is rolled up a moment after its filing is answered (intake settles
        # the tickets filed together in one batch).
        body = requests.get(f"{portal}/api/reports", headers=auth, timeout=10).json()
        return body if body["report"]["created"] >= 1 and body["report"]["backlog"] >= 1 \
            else None

    body = eventually(counted, timeout=5)
    # Whole UTC days, and the new ticket in the volume per department of its day.
    assert body["since"].endswith("T00:00:00+00:00") and body["until"].endswith("T00:00:00+00:00")
    # Routing may have moved it to another department.  (Filed without signing in, the
    # answer is only what was sent and the number: the staff view has the time.)
    day = requests.get(f"{portal}/api/tickets/{filed['number']}", headers=auth,
                       timeout=10).json()["created_at"][:10]
    assert sum(v["tickets"] for v in body["report"]["volume_by_department"]
               if v["day"] == day) >= 1
    csv = requests.get(f"{portal}/api/reports.csv", headers=auth, timeout=10)
    assert csv.status_code == 200 and csv.text.startswith("agent_id,agent_name,assigned,solved")
    assert "\r\nfigure,value\r\n" in csv.text and "\r\nbacklog," in csv.text


def test_reports_are_for_supervisors_only(portal):
    agent = token(portal, "agent.anna@example.com")
    assert requests.get(f"{portal}/api/reports", headers=agent, timeout=10).status_code == 403
    assert requests.get(f"{portal}/api/reports", timeout=10).status_code == 401


def test_bad_report_period_is_a_400(portal):
    auth = token(portal, "supervisor@example.com")
    reply = requests.get(f"{portal}/api/reports", headers=auth, timeout=10,
                         params={"since": "2026-02-01T00:00:00+00:00",
                                 "until": "2026-01-01T00:00:00+00:00"})
    assert reply.status_code == 400 and "until" in reply.json()["errors"]
    reply = requests.get(f"{portal}/api/reports", headers=auth, timeout=10,
                         params={"since": "not a date"})
    assert reply.status_code == 400 and "since" in reply.json()["errors"]

"""Automation administration over HTTP on the whole stack (the automation service runs as its
own process): admins read and change the time rules, manage webhooks and see dead letters;
bad payloads get 400 with field messages; nobody else gets in."""
import pytest
import requests

from tests.e2e.conftest import api_token, bearer


@pytest.fixture(scope="module")
def admin(portal):
    return bearer(api_token(portal, "admin@example.com"))


def test_admin_reads_changes_and_restores_the_time_rules(portal, admin, agent_token):
    url = f"{portal}/api/admin/time-rules"
    rules = requests.get(url, headers=admin, timeout=10)
    assert rules.status_code == 200 and rules.json()["close_solved_after_days"] == 4
    bad = requests.put(url, json=dict(rules.json(), close_solved_after_days=0,
                                      remind_pending_after_days="3"), headers=admin, timeout=10)
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"close_solved_after_days", "remind_pending_after_days"}
    changed = requests.put(url, json=dict(rules.json(), escalate_unassigned_after_minutes=None),
                           headers=admin, timeout=10)
    assert changed.status_code == 200 and changed.json()["escalate_unassigned_after_minutes"] \
        is None
    assert requests.put(url, json=rules.json(), headers=admin, timeout=10).status_code == 200
    assert requests.get(url, headers=bearer(agent_token), timeout=10).status_code == 403


def test_admin_manages_webhooks_and_reads_dead_letters(portal, admin, agent_token):
    url = f"{portal}/api/admin/webhooks/e2e-crm"
    bad = requests.put(url, json={"url": "not a url", "secret": "x"}, headers=admin, timeout=10)
    assert bad.status_code == 400 and {"url", "secret"} <= set(bad.json()["errors"])
    put = requests.put(url, json={"url": "http://127.0.0.1:9/hook", "secret": "e2e-secret-0123456",
                                  "events": ["ticket_solved"]}, headers=admin, timeout=10)
    assert put.status_code == 200, put.text
    assert put.json() == {"id": "e2e-crm", "url": "http://127.0.0.1:9/hook",
                          "events": ["ticket_solved"], "active": True}
    listed = requests.get(f"{portal}/api/admin/webhooks", headers=admin, timeout=10).json()
    assert "e2e-crm" in [w["id"] for w in listed["webhooks"]]
    dead = requests.get(f"{portal}/api/admin/webhooks/dead-letters", headers=admin, timeout=10)
    assert dead.status_code == 200 and isinstance(dead.json()["deliveries"], list)
    missing = requests.post(f"{portal}/api/admin/webhooks/dead-letters/nope/replay",
                            headers=admin, timeout=10)
    assert missing.status_code == 404
    assert requests.delete(url, headers=bearer(agent_token), timeout=10).status_code == 403
    assert requests.delete(url, headers=admin, timeout=10).status_code == 204
    assert requests.delete(url, headers=admin, timeout=10).status_code == 404


def test_admin_manages_triggers_and_dry_runs_one_on_a_sample_ticket(portal, admin, agent_token):
    filed = requests.post(f"{portal}/api/tickets", timeout=10, json={
        "subject": "Invoice wrong", "description": "Twice charged",
        "requester_email": "dry-run@example.com"})
    assert filed.status_code == 201, filed.text
    trigger = {"name": "Invoices to billing", "on": ["created"],
               "conditions": [{"field": "subject", "op": "contains", "value": "invoice"}],
               "actions": [{"type": "set_field", "field": "department", "value": "billing"},
                           {"type": "add_tags", "tags": ["invoice"]}]}
    url = f"{portal}/api/admin/triggers/e2e-invoices"
    bad = requests.put(url, json=dict(trigger, on=[], actions=[{"type": "explode"}]),
                       headers=admin, timeout=10)
    assert bad.status_code == 400 and {"on", "actions"} <= set(bad.json()["errors"])
    dry = requests.post(f"{portal}/api/admin/triggers/dry-run", headers=admin, timeout=10,
                        json={"trigger": dict(trigger, id="e2e-invoices"),
                              "number": filed.json()["number"]})
    assert dry.status_code == 200, dry.text
    assert dry.json()["matches"] is True and dry.json()["edit"]["tags"][-1] == "invoice"
    assert requests.put(url, json=dict(trigger, active=False), headers=admin,
                        timeout=10).status_code == 200
    listed = requests.get(f"{portal}/api/admin/triggers", headers=admin, timeout=10).json()
    assert "e2e-invoices" in [t["id"] for t in listed["triggers"]]
    assert requests.put(url, json=trigger, headers=bearer(agent_token),
                        timeout=10).status_code == 403
    assert requests.delete(url, headers=admin, timeout=10).status_code == 204

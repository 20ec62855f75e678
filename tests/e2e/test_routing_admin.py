"""Routing administration over HTTP: rules are validated when saved, dry runs explain, roles
are enforced, agents set their availability."""
import requests

RULE = {"name": "Invoices to billing", "position": 50,
        "conditions": [{"field": "text", "op": "contains_any", "value": ["e2e-invoice-zz"]}],
        "actions": {"department": "billing", "category": "invoices"}}


def token(portal, email):
    reply = requests.post(f"{portal}/api/auth/token", json={
        "email": email, "password": "demo-pass-1"}, timeout=10)
    assert reply.status_code == 201, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def test_rules_are_validated_at_save_and_explained_by_dry_run(portal, agent_token):
    admin = token(portal, "admin@example.com")
    url = f"{portal}/api/routing/rules/e2e-invoices"

    bad = requests.put(url, json=dict(RULE, conditions=[
        {"field": "subject", "op": "matches", "value": "(["}]), headers=admin, timeout=10)
    assert bad.status_code == 400
    assert "Invalid regular expression" in bad.json()["errors"]["conditions.0"][0]
    missing = requests.put(url, json=dict(RULE, actions={"department": "mars"}), headers=admin,
                           timeout=10)
    assert missing.status_code == 400
    assert missing.json()["errors"]["actions.department"] == ["Unknown department 'mars'."]
    unknown = requests.put(url, json=dict(RULE, conditions=[
        {"field": "zodiac", "op": "equals", "value": "leo"}]), headers=admin, timeout=10)
    assert unknown.status_code == 400 and "Unknown field 'zodiac'" in str(unknown.json())
    agent = {"Authorization": f"Bearer {agent_token}"}
    assert requests.put(url, json=RULE, headers=agent, timeout=10).status_code == 403

    try:
        saved = requests.put(url, json=RULE, headers=admin, timeout=10)
        assert saved.status_code == 200, saved.text
        dry = requests.post(f"{portal}/api/routing/dry-run", headers=agent, timeout=10, json={
            "subject": "Question about E2E-INVOICE-ZZ", "department": "general"})
        assert dry.status_code == 200, dry.text
        assert dry.json()["fired"] == ["e2e-invoices"]
        assert dry.json()["ticket"]["department"] == "billing"
        assert requests.post(f"{portal}/api/routing/dry-run", headers=agent, timeout=10,
                             json={"subjec": "typo"}).status_code == 400
    finally:
        assert requests.delete(url, headers=admin, timeout=10).status_code == 204


def test_availability_queue_and_alerts(portal, agent_token):
    agent = {"Authorization": f"Bearer {agent_token}"}
    own = f"{portal}/api/routing/agents/agent-anna/availability"
    assert requests.put(own, json={"status": "away"}, headers=agent, timeout=10).status_code == 200
    back = requests.put(own, json={"status": "online"}, headers=agent, timeout=10)
    assert back.status_code == 200 and back.json()["agent"]["status"] == "online"
    other = f"{portal}/api/routing/agents/agent-boris/availability"
    assert requests.put(other, json={"status": "away"}, headers=agent, timeout=10).status_code == 403
    queue = requests.get(f"{portal}/api/routing/queues/technical", headers=agent, timeout=10)
    assert queue.status_code == 200 and queue.json()["mode"] in ("fifo", "differentiated")
    # Not one of the agent's departments (department-scoped agents): refused before any lookup.
    assert requests.get(f"{portal}/api/routing/queues/nowhere", headers=agent,
                        timeout=10).status_code == 403
    assert requests.get(f"{portal}/api/routing/alerts", headers=agent, timeout=10).status_code == 403
    supervisor = token(portal, "supervisor@example.com")
    assert requests.get(f"{portal}/api/routing/queues/nowhere", headers=supervisor,
                        timeout=10).status_code == 404
    assert requests.get(f"{portal}/api/routing/alerts", headers=supervisor,
                        timeout=10).status_code == 200

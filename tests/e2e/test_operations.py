"""Operating the running stack: every process's /metrics has the named series with counts
after real traffic, /livez and /readyz answer, and one ticket's correlation id is found in the
portal, intake, routing, SLA and search logs and on the mail it caused."""
import json
import os
import re
import uuid
from collections import defaultdict

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from deploy.local import stack
from tests.e2e.conftest import mails_to
from tests.support import eventually

LOGGED = ("portal", "intake", "routing", "sla", "search")
DASHBOARD = stack.ROOT / "deploy" / "grafana" / "helpdesk-dashboard.json"


def _ticket(email: str) -> dict:
    return {"subject": "VPN drops every ten minutes", "description": "Since this morning",
            "department": "technical", "priority": "high", "language": "en",
            "requester_email": email}


@pytest.fixture(scope="module")
def settings(portal):
    return stack.Settings.from_env("test")


@pytest.fixture(scope="module")
def traced(portal, agent_token):
    """One ticket filed with a client-chosen X-Request-ID, routed and clocked."""
    request_id = f"e2e-{uuid.uuid4().hex}"
    email = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    filed = requests.post(f"{portal}/api/tickets", json=_ticket(email), timeout=10,
                          headers={"X-Request-ID": request_id})
    assert filed.status_code == 201, filed.text
    number = filed.json()["number"]
    auth = {"Authorization": f"Bearer {agent_token}"}

    def routed_and_clocked():
        """Assigned, or waiting in its department's queue when earlier suites left the
        technical agents away or full: either way routing handled it."""
        ticket = requests.get(f"{portal}/api/tickets/{number}", timeout=10, headers=auth).json()
        waiting = requests.get(f"{portal}/api/routing/queues/technical", timeout=10,
                               headers=auth).json()["tickets"]
        return (ticket["assignee_id"] or number in [w["number"] for w in waiting]) \
            and ticket["sla"]

    eventually(routed_and_clocked, timeout=30)
    return {"request_id": request_id, "number": number, "email": email,
            "echoed": filed.headers.get("X-Request-ID")}


def _samples(text: str) -> dict[str, list]:
    found = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name].append(sample)
    return found


def _total(samples: dict, name: str, **labels) -> float:
    return sum(s.value for s in samples.get(name, [])
               if all(s.labels.get(k) == v for k, v in labels.items()))


def test_every_process_exposes_metrics_with_counts(portal, settings, traced):
    ports = stack.metrics_ports(settings)
    assert set(ports) == {"intake-1", "routing-1", "sla-1", "search-1", "automation-1"}
    scraped = {}

    def all_counted():
        for name, port in ports.items():
            scraped[name] = _samples(requests.get(f"http://127.0.0.1:{port}/metrics",
                                                  timeout=10).text)
        return all(_total(scraped[n], "helpdesk_event_lag_seconds_count", service=n[:-2]) > 0
                   for n in ("routing-1", "sla-1", "search-1"))

    eventually(all_counted, timeout=20)
    for name in ports:
        service = name.rsplit("-", 1)[0]
        samples = scraped[name]
        assert _total(samples, "helpdesk_entrypoint_calls_total", service=service) > 0, name
        assert _total(samples, "helpdesk_entrypoint_seconds_count", service=service) > 0, name
        # Its RPC queue exists and this process consumes it.
        assert _total(samples, "helpdesk_queue_consumers", service=service,
                      queue=f"rpc-{service}") >= 1, name
        assert any(s.labels["service"] == service
                   for s in samples["helpdesk_outbox_backlog"]), name
        assert samples["helpdesk_queue_depth"], name
    intake, routing = scraped["intake-1"], scraped["routing-1"]
    assert _total(intake, "helpdesk_entrypoint_calls_total", service="intake",
                  entrypoint="create_tickets", kind="rpc", outcome="ok") > 0
    assert _total(routing, "helpdesk_entrypoint_calls_total", service="routing",
                  entrypoint="route_new_ticket", kind="event", outcome="ok") > 0
    assert _total(routing, "helpdesk_event_lag_seconds_count", event_type="ticket_created") > 0
    assert _total(intake, "helpdesk_open_tickets") >= 1  # the traced ticket is still open
    assert "helpdesk_unsettled_new_tickets" in intake  # its ticket was settled long ago
    assert _total(intake, "helpdesk_unsettled_new_tickets") == 0
    assert {s.labels["target"] for s in scraped["sla-1"]["helpdesk_sla_at_risk"]} == {
        "first_response", "next_response", "resolution"}

    web = _samples(requests.get(f"{portal}/metrics", timeout=10).text)
    assert _total(web, "helpdesk_http_requests_total", route="/api/tickets", method="POST",
                  status="201") > 0
    assert _total(web, "helpdesk_http_request_seconds_count",
                  route="/api/tickets/<int:number>", method="GET") > 0
    assert _total(web, "helpdesk_rpc_client_calls_total", target="intake",
                  method="create_tickets", outcome="ok") > 0

    # Every series the Grafana dashboard plots is one the processes really expose.
    exposed = set(web).union(*scraped.values())
    plotted = set(re.findall(r"helpdesk_[a-z_]+", DASHBOARD.read_text()))
    assert plotted and plotted <= exposed, sorted(plotted - exposed)


def test_every_process_is_live_and_ready(settings, traced):
    for name, url in stack.health_urls(settings).items():
        ready = requests.get(url, timeout=10)
        assert ready.status_code == 200, (name, ready.text)
        assert set(ready.json()["checks"]) >= {"broker", "mongo"}, name
        assert all(v == "ok" for v in ready.json()["checks"].values()), name
        assert requests.get(url.replace("/readyz", "/livez"), timeout=10).json() == {
            "status": "ok"}, name
    search = requests.get(stack.health_urls(settings)["search-1"], timeout=10).json()
    assert search["checks"]["elasticsearch"] == "ok"


def _log_lines(settings, process: str) -> list[dict]:
    lines = []
    path = settings.state_dir / "logs" / f"{process}.log"
    for raw in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue  # e.g. a line a library printed itself
        if isinstance(entry, dict):
            lines.append(entry)
    return lines


def test_one_tickets_correlation_id_is_in_every_services_log(settings, traced, mail_sink):
    request_id = traced["request_id"]
    assert traced["echoed"] == request_id

    def logged_everywhere():
        found = {}
        for service in LOGGED:
            found[service] = [e for e in _log_lines(settings, f"{service}-1")
                              if e.get("correlation_id") == request_id]
        return all(found.values()) and found

    found = eventually(logged_everywhere, timeout=20)
    for service, entries in found.items():
        assert all(e["service"] == service for e in entries), (service, entries)
        assert {"ts", "level", "logger", "message"} <= set(entries[0]), entries[0]
    # Where the ticket is known, its number is on the line.
    for service in ("intake", "routing", "sla"):
        assert any(e.get("ticket") == traced["number"] for e in found[service]), service
    # The acknowledgement mail intake sent carries the same id.
    mail = eventually(lambda: mails_to(mail_sink, traced["email"]), timeout=20)
    assert mail[0]["X-Request-ID"] == request_id


def test_a_request_without_an_id_gets_one(portal):
    answer = requests.get(f"{portal}/api/suggest", params={"q": "vpn", "language": "en"},
                          timeout=10)
    assert answer.status_code == 200
    assert len(answer.headers["X-Request-ID"]) == 32
    bad = requests.get(f"{portal}/api/suggest", params={"q": "vpn", "language": "en"},
                       headers={"X-Request-ID": "not an id: spaces"}, timeout=10)
    assert bad.headers["X-Request-ID"] != "not an id: spaces"


def test_services_are_started_with_their_own_metrics_port(settings):
    """The stack hands each nameko process its own port and the process listens there."""
    ports = stack.metrics_ports(settings)
    assert len(set(ports.values())) == len(ports)
    assert os.environ["HELPDESK_METRICS_PORT"] == str(settings.metrics_port)
    for name, port in ports.items():
        pid = stack.read_pid(settings, name)
        assert pid and stack.held_by(port, pid), name

"""The portal's side of operations: the correlation id of each request (``X-Request-ID``,
accepted or made, returned, and sent on with every RPC), HTTP metrics by route pattern,
a log line per request, and ``/metrics``, ``/livez``, ``/readyz``."""
from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time

from flask import Flask, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from services.common import correlation, health
from services.common.metrics import HTTP_REQUESTS, HTTP_SECONDS

from .web import Portal

log = logging.getLogger("services.portal.access")
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def _loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False


def metrics_allowed() -> bool:
    """From the machine itself, or with ``Authorization: Bearer $HELPDESK_METRICS_TOKEN``."""
    if _loopback(request.remote_addr):
        return True
    token = os.environ.get("HELPDESK_METRICS_TOKEN")
    offered = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(offered.encode(), f"Bearer {token}".encode())


def install(app: Flask, portal: Portal) -> None:
    every_request = os.environ.get("HELPDESK_ACCESS_LOG") == "1"

    def begin():
        g.request_started = time.perf_counter()
        correlation.bind(correlation.accept(request.headers.get(correlation.HEADER)),
                         service="portal")
        correlation.note_ticket((request.view_args or {}).get("number"))

    # First of all before-request hooks, so everything after it logs with the id.
    app.before_request_funcs.setdefault(None, []).insert(0, begin)

    @app.after_request
    def finish(response):
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        elapsed = time.perf_counter() - g.get("request_started", time.perf_counter())
        HTTP_REQUESTS.labels(route, request.method, str(response.status_code)).inc()
        HTTP_SECONDS.labels(route, request.method).observe(elapsed)
        if correlation.current():
            response.headers[correlation.HEADER] = correlation.current()
        if response.is_json and request.method in WRITES:
            body = response.get_json(silent=True)
            if isinstance(body, dict):
                correlation.note_ticket(body.get("number"))
        if every_request or request.method in WRITES or response.status_code >= 500:
            log.info("%s %s %s in %.1f ms", request.method, route, response.status_code,
                     elapsed * 1000)
        return response

    @app.get("/metrics")
    def metrics():
        if not metrics_allowed():
            return jsonify({"errors": {"_schema": ["Metrics are for the machine itself or a "
                                                   "bearer of HELPDESK_METRICS_TOKEN."]}}), 403
        return generate_latest(REGISTRY), 200, {"Content-Type": CONTENT_TYPE_LATEST}

    @app.get("/livez")
    def livez():
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz():
        ok, checks = health.report({"broker": health.broker(portal.rpc.amqp_uri),
                                    "mongo": health.mongo(portal.users.db)})
        return jsonify({"status": "ready" if ok else "not ready", "checks": checks}), \
            200 if ok else 503

from flask import jsonify

from ..openapi import build_spec, docs_page

OPERATIONS: list = []
SERVICES = ("intake", "routing", "sla", "search", "automation")


def register(app, portal):
    from . import operations  # the package imports this module: resolve at call time

    spec = build_spec(operations())

    @app.get("/healthz")
    def healthz():
        problems = {}
        for service in SERVICES:
            try:
                portal.rpc.call(service, "ping")
            except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
                problems[service] = [type(exc).__name__]
        try:
            portal.users.db.command("ping")
        except Exception as exc:  # noqa: BLE001
            problems["mongo"] = [type(exc).__name__]
        if problems:
            return jsonify({"status": "degraded", "errors": problems}), 503
        return jsonify({"status": "ok"})

    @app.get("/api/openapi.json")
    def openapi():
        return jsonify(spec)

    @app.get("/api/docs")
    def api_docs():
        return docs_page(spec)

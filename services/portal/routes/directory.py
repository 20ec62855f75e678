from ..schemas import DepartmentsView
from ..web import reply

OPERATIONS = [
    ("/api/departments", "get", "Departments a ticket can go to", None, DepartmentsView, False),
    ("/api/agents", "get", "Agents with their load (staff only)", None, None, True),
]


def register(app, portal):
    rpc = portal.rpc

    @app.get("/api/departments")
    def departments():
        # The public view only: queue modes and incident thresholds are staff configuration.
        result = rpc.call("routing", "list_departments")
        if result["ok"]:
            result = {"ok": True, **DepartmentsView().dump(result)}
        return reply(result)

    @app.get("/api/agents")
    @portal.requires("agent", "supervisor", "admin")
    def agents():
        return reply(rpc.call("routing", "list_agents"))

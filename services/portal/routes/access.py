"""Who may see what beyond roles: the desk's access settings (admins, by the API and on the
/admin/access page), and confirming the sender of a ticket filed without signing in (the link
mailed to them, see verification)."""
from flask import jsonify, render_template, request

from services.common.results import ok

from ..schemas import AccessSettingsSchema
from ..verification import confirmed_sender
from ..web import ApiError, json_body, load
from .admin_pages import AdminSection

OPERATIONS = [
    ("/api/admin/access-settings", "get", "Admin: access settings in effect", None,
     AccessSettingsSchema, True),
    ("/api/admin/access-settings", "put", "Admin: change the access settings (department-scoped "
     "agents)", AccessSettingsSchema, AccessSettingsSchema, True),
]


def register(app, portal):
    @app.get("/api/admin/access-settings")
    @portal.requires("admin")
    def access_settings():
        return jsonify(AccessSettingsSchema().dump(portal.users.access_settings()))

    @app.put("/api/admin/access-settings")
    @portal.requires("admin")
    def update_access_settings():
        wanted = load(AccessSettingsSchema(), json_body())
        return jsonify(AccessSettingsSchema().dump(portal.users.save_access_settings(wanted)))

    section = AdminSection(app, portal, "admin_access", "/admin/access", "admin/access.html",
                           lambda form_id, form: {"settings": portal.users.access_settings()})

    @section.action("/admin/access", "access")
    def admin_save_access():
        portal.users.save_access_settings({"department_scoped_agents": bool(
            request.form.get("department_scoped_agents"))})
        return ok()

    # A mail scanner may open any link it sees: opening shows a button, the button confirms.
    @app.route("/tickets/confirm/<token>", methods=["GET", "POST"])
    def confirm_sender(token: str):
        def invalid():
            return render_template("message.html", status=400, reason="confirm_invalid"), 400

        try:
            number, requester_id = confirmed_sender(portal.rpc, token)
        except ApiError:
            return invalid()
        if request.method == "GET":
            return render_template("confirm_sender.html", number=number, token=token)
        account = portal.users.by_id(requester_id) or {}
        result = portal.rpc.call("intake", "verify_requester", number, {
            "requester_id": requester_id, "organization": account.get("organization"),
            "plan": account.get("plan")})
        if not result["ok"]:
            return invalid()
        return render_template("message.html", reason="confirmed", number=number)

"""Administration: SLA policies (targets, warning threshold, selectors by priority,
organization and department) and business calendars (time zone, weekday hours, holidays or
24/7).  The SLA service validates; its messages (negative targets, overlapping hours, unknown
time zone) are shown beside the form."""
from __future__ import annotations

from zoneinfo import available_timezones

from babel.dates import get_day_names
from flask import request
from flask_babel import get_locale

from services.sla.schemas import WEEKDAYS

from .. import admin_forms as forms
from .admin_pages import AdminSection, department_choices, find
from .supervisor_pages import target_labels

OPERATIONS: list = []
# Offered as suggestions only (a datalist): the SLA service decides what is valid.
TIME_ZONES = sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))


def register(app, portal):
    rpc = portal.rpc

    def policies() -> list[dict]:
        return rpc.call("sla", "list_policies")["policies"]

    def calendars() -> list[dict]:
        return rpc.call("sla", "list_calendars")["calendars"]

    def context(form_id, form):
        all_policies, all_calendars = policies(), calendars()
        return dict(
            policies=all_policies, calendars=all_calendars, weekdays=WEEKDAYS,
            weekday_names=dict(zip(WEEKDAYS, get_day_names("abbreviated",
                                                           locale=get_locale()).values())),
            target_names=target_labels(),
            time_zones=TIME_ZONES, hours_line=forms.hours_line,
            calendar_choices=[(c["id"], f"{c['name']} ({c['id']})") for c in all_calendars],
            department_choices=department_choices(
                rpc.call("routing", "list_departments")["departments"]),
            policy=forms.editor(forms.policy_fields, "policy", form, form_id,
                                find(all_policies, request.args.get("policy"))),
            calendar=forms.editor(forms.calendar_fields, "calendar", form, form_id,
                                  find(all_calendars, request.args.get("calendar"))))

    section = AdminSection(app, portal, "admin_sla", "/admin/sla", "admin/sla.html", context)

    @section.action("/admin/sla/policies", "policy")
    def admin_save_policy():
        existing = policies()
        current = find(existing, (request.form.get("id") or "").strip())
        return rpc.call("sla", "upsert_policy", forms.identified(
            forms.policy_payload(request.form, current), "name", [p["id"] for p in existing]))

    @section.action("/admin/sla/policies/<policy_id>/delete", "policies")
    def admin_delete_policy(policy_id: str):
        return rpc.call("sla", "delete_policy", policy_id[:64])

    @section.action("/admin/sla/calendars", "calendar")
    def admin_save_calendar():
        return rpc.call("sla", "upsert_calendar", forms.identified(
            forms.calendar_payload(request.form), "name", [c["id"] for c in calendars()]))

    @section.action("/admin/sla/calendars/<calendar_id>/delete", "calendars")
    def admin_delete_calendar(calendar_id: str):
        return rpc.call("sla", "delete_calendar", calendar_id[:64])

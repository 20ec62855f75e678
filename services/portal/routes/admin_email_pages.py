"""Administration: outbound email (sender address and name, reply-to, which notifications
go out -- to requesters, and SLA warnings to assignees -- the fallback language).  Intake owns and validates the settings and its
mailer uses them; the SMTP relay itself stays a deployment setting (HELPDESK_SMTP_RELAY_*),
shown here read-only."""
from __future__ import annotations

import os

from flask import request

from .. import admin_forms as forms
from .admin_pages import AdminSection

OPERATIONS: list = []


def register(app, portal):
    rpc = portal.rpc

    def context(form_id, form):
        settings = rpc.call("intake", "get_mail_settings")["settings"]
        relay = os.environ.get("HELPDESK_SMTP_RELAY_HOST")
        return dict(settings=forms.editor(forms.mail_fields, "mail", form, form_id, settings),
                    kinds=forms.NOTIFICATION_KINDS,
                    relay=f"{relay}:{os.environ.get('HELPDESK_SMTP_RELAY_PORT') or 25}"
                    if relay else None,
                    inbound_port=os.environ.get("HELPDESK_SMTP_PORT"))

    section = AdminSection(app, portal, "admin_email", "/admin/email", "admin/email.html",
                           context)

    @section.action("/admin/email", "mail")
    def admin_save_email():
        return rpc.call("intake", "update_mail_settings", forms.mail_payload(request.form),
                        portal.actor(portal.page_user()))

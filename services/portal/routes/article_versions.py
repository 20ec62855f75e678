"""Article versions for staff (search owns them, services/search/versions.py): the version list,
one version, a diff, restore, and the review of agents' proposed edits by editors (publish now
or at a set time, or reject); a draft article from an approved answer.  The REST API and the
page /articles/<id>/versions (every staff role: agents propose, editors decide)."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from services.search.schemas import (AnswerPromotionSchema, VersionDiffSchema, VersionPublishSchema,
                                     VersionRejectSchema, VersionRestoreSchema)

from .. import admin_forms as forms
from .. import console
from ..web import ApiError, json_body, load, query_args, reply
from .agent_pages import staff_page

VERSIONS = "/api/admin/articles/<article_id>/versions"
VERSION = VERSIONS + "/<int:version>"
OPERATIONS = [
    ("/api/admin/articles/{article_id}/versions", "get", "An article's versions, newest first: "
     "author, time, status (pending, scheduled, accepted, rejected), which is current (staff)",
     None, None, True),
    ("/api/admin/articles/{article_id}/versions/{version}", "get", "One version's whole text "
     "(staff)", None, None, True),
    ("/api/admin/articles/{article_id}/versions/{version}/diff", "get", "What a version changed, "
     "field by field and line by line, against `against` (default: the version before) "
     "(staff)", VersionDiffSchema, None, True),
    ("/api/admin/articles/{article_id}/versions/{version}/restore", "post", "A new version equal "
     "to this one: an agent's waits for review, an editor's applies now or at publish_at "
     "(staff)", VersionRestoreSchema, None, True),
    ("/api/admin/articles/{article_id}/versions/{version}/publish", "post", "Publish a version "
     "now, or at publish_at (editors: supervisors, admins)", VersionPublishSchema, None, True),
    ("/api/admin/articles/{article_id}/versions/{version}/reject", "post", "Turn down a pending "
     "or scheduled version (editors)", VersionRejectSchema, None, True),
    ("/api/admin/answers/{answer_id}/article", "post", "A draft article from an approved answer "
     "(staff); optional id", AnswerPromotionSchema, None, True),
]
STAFF_ROLES = console.STAFF_ROLES


def search_messages() -> dict[str, str]:
    """Search's refusals about articles and versions (it writes English) in the reader's
    language."""
    return {
        "Only an editor can schedule publishing.":
            _("Only an editor can schedule publishing."),
        "Only an editor can publish.":
            _("Only an editor can publish."),
        "This version was rejected; restore it to propose it again.":
            _("This version was rejected; restore it to propose it again."),
        "Only an editor can reject a version.":
            _("Only an editor can reject a version."),
        "Only a pending or scheduled version can be rejected.":
            _("Only a pending or scheduled version can be rejected."),
        "Someone decided on this version meanwhile.":
            _("Someone decided on this version meanwhile."),
        "An older version comes back by a restore.":
            _("An older version comes back by a restore."),
        "No such approved answer.":
            _("No such approved answer."),
        "No such version.":
            _("No such version."),
        "article not found":
            _("article not found"),
        "staff only":
            _("staff only"),
        "Only an editor can publish or unpublish.":
            _("Only an editor can publish or unpublish."),
        "Only an editor can change the translation link.":
            _("Only an editor can change the translation link."),
        "an article with this id exists":
            _("an article with this id exists"),
    }


def localized(result: dict) -> dict:
    """A refusal's messages in the reader's language where the catalog has them (others as
    the service wrote them)."""
    if result["ok"]:
        return result
    known = search_messages()
    return dict(result, errors={field: [known.get(m, m) if isinstance(m, str) else m
                                        for m in messages]
                                if isinstance(messages, list) else messages
                                for field, messages in result["errors"].items()})


def form_time(raw: str | None) -> str | None:
    """The page's date-time input (``YYYY-MM-DDTHH:MM``, in UTC as labelled) as the API's
    ISO time; anything else is passed on for the schema to refuse."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).isoformat()
    except ValueError:
        return text


def register(app, portal):
    rpc, staff = portal.rpc, portal.requires(*STAFF_ROLES)

    def acting() -> dict:
        return portal.actor(g.user)

    def call(method: str, *args) -> dict:
        return localized(rpc.call("search", method, *args))

    # ------------------------------------------------------------------ REST

    @app.get(VERSIONS)
    @staff
    def article_versions(article_id: str):
        return reply(call("list_versions", article_id[:64]))

    @app.get(VERSION)
    @staff
    def article_version(article_id: str, version: int):
        return reply(call("get_version", article_id[:64], version), key="version")

    @app.get(VERSION + "/diff")
    @staff
    def article_version_diff(article_id: str, version: int):
        query = VersionDiffSchema().dump(query_args(VersionDiffSchema()))
        return reply(call("diff_versions", article_id[:64], version, query))

    def decision(schema, method: str, article_id: str, version: int):
        body = schema.dump(load(schema, json_body() if request.content_length else {}))
        return reply(call(method, article_id[:64], version, body, acting()))

    @app.post(VERSION + "/restore")
    @staff
    def restore_article_version(article_id: str, version: int):
        return decision(VersionRestoreSchema(), "restore_version", article_id, version)

    @app.post(VERSION + "/publish")
    @staff
    def publish_article_version(article_id: str, version: int):
        return decision(VersionPublishSchema(), "publish_version", article_id, version)

    @app.post(VERSION + "/reject")
    @staff
    def reject_article_version(article_id: str, version: int):
        return decision(VersionRejectSchema(), "reject_version", article_id, version)

    @app.post("/api/admin/answers/<answer_id>/article")
    @staff
    def promote_answer(answer_id: str):
        body = json_body() if request.content_length else {}
        wanted = load(AnswerPromotionSchema(), dict(body, answer_id=answer_id[:64])
                      if isinstance(body, dict) else body)
        return reply(call("promote_answer", AnswerPromotionSchema().dump(wanted), acting()),
                     201, key="article")

    # ------------------------------------------------------------------ the page

    def page(article_id: str, errors: dict | None = None, status: int = 200,
             form: dict | None = None):
        listed = call("list_versions", article_id[:64])
        if not listed["ok"]:
            raise ApiError(listed["status"], listed["errors"])
        article, shown = listed["article"], listed["versions"]
        number = forms.integer(request.args.get("diff")) if request.args.get("diff") else None
        compared = None
        if isinstance(number, int):
            against = forms.integer(request.args.get("against")) \
                if request.args.get("against") else None
            found = call("diff_versions", article["id"], number,
                         {"against": against if isinstance(against, int) else None})
            compared = found if found["ok"] else None
        edit = form or {"title": article["title"], "body": article["body"],
                        "language": article["language"], "category": article["category"] or "",
                        "tags": ", ".join(article["tags"])}
        return render_template(
            "agent/article_versions.html", article=article, versions=shown, compared=compared,
            edit=edit, errors=forms.flatten_errors(errors) if errors else {},
            editor=portal.page_user()["role"] in ("supervisor", "admin"),
            saved=request.args.get("saved")), status

    def page_actor() -> dict:
        return portal.actor(portal.page_user())

    def answered(article_id: str, result: dict, saved: str):
        if result["ok"]:
            return redirect(url_for("article_versions_page", article_id=article_id,
                                    saved=saved), 303)
        return page(article_id, result["errors"], result["status"], request.form)

    @app.post("/articles/from-answer")
    @staff_page(portal)
    def article_from_answer_page():
        """From the ticket workspace, once an answer is approved: a draft article of it, then
        its versions page (where it is edited and, by an editor, published)."""
        made = call("promote_answer", {"answer_id": (request.form.get("answer_id") or "")[:64]},
                    page_actor())
        if not made["ok"]:
            return render_template("agent/refused.html", errors=made["errors"]), made["status"]
        return redirect(url_for("article_versions_page", article_id=made["article"]["id"]), 303)

    @app.get("/articles/<article_id>/versions")
    @staff_page(portal)
    def article_versions_page(article_id: str):
        return page(article_id)

    @app.post("/articles/<article_id>/versions")
    @staff_page(portal)
    def article_versions_edit(article_id: str):
        change = forms.given({
            "title": request.form.get("title", ""), "body": request.form.get("body", ""),
            "language": request.form.get("language") or "en",
            "category": forms.optional(request.form.get("category")),
            "tags": forms.words(request.form.get("tags")),
            "publish_at": form_time(request.form.get("publish_at"))})
        if change.get("publish_at") is None:
            change.pop("publish_at", None)
        return answered(article_id, call("update_article", article_id[:64], change,
                                         page_actor()), "edit")

    @app.post("/articles/<article_id>/versions/<int:version>/<action>")
    @staff_page(portal)
    def article_version_decide(article_id: str, version: int, action: str):
        methods = {"restore": "restore_version", "publish": "publish_version",
                   "reject": "reject_version"}
        if action not in methods:
            raise ApiError(404, {"_schema": ["not found"]})
        payload = {"note": forms.optional(request.form.get("note"))} if action == "reject" \
            else {"publish_at": form_time(request.form.get("publish_at"))}
        return answered(article_id, call(methods[action], article_id[:64], version, payload,
                                         page_actor()), action)

"""Administration of what agents and customers read: the team's shared canned responses (with
their placeholders explained), knowledge articles (drafts included; publish, unpublish,
English/Russian translations linked) and tags (usage counts; rename, or merge into an
existing tag).  Intake owns canned responses and tags, search owns articles."""
from __future__ import annotations

from flask import request
from flask_babel import get_locale

from services.intake.schemas import PLACEHOLDERS

from .. import admin_forms as forms
from .admin_pages import AdminSection, find, listing
from .article_versions import localized

OPERATIONS: list = []
TAG_LIST_LIMIT = 50  # intake's suggest_tags maximum: the most used tags


def register(app, portal):
    rpc = portal.rpc

    def acting() -> dict:
        return portal.actor(portal.page_user())

    # ------------------------------------------------------------------ canned responses

    def shared_canned() -> list[dict]:
        return [c for c in rpc.call("intake", "list_canned", {}, acting()).get("canned", [])
                if c["scope"] == "shared"]

    def canned_context(form_id, form):
        templates = shared_canned()
        editing = find(templates, request.args.get("canned") or (form or {}).get("canned_id"))
        language = "ru" if str(get_locale()) == "ru" else "en"
        return dict(canned=listing(templates), editing=editing,
                    placeholders=[(name, text[language]) for name, text in PLACEHOLDERS.items()],
                    template=forms.editor(forms.canned_fields, "canned", form, form_id, editing))

    canned_section = AdminSection(app, portal, "admin_canned", "/admin/canned",
                                  "admin/canned.html", canned_context)

    @canned_section.action("/admin/canned", "canned")
    def admin_save_canned():
        payload, canned_id = forms.canned_payload(request.form), request.form.get("canned_id")
        if canned_id:
            return rpc.call("intake", "update_canned", canned_id[:64], payload, acting())
        return rpc.call("intake", "save_canned", payload, acting())

    @canned_section.action("/admin/canned/<canned_id>/delete", "canned-list")
    def admin_delete_canned(canned_id: str):
        return rpc.call("intake", "delete_canned", canned_id[:64], acting())

    # ------------------------------------------------------------------ knowledge articles

    def articles_context(form_id, form):
        wanted = request.args.get("article") or (form or {}).get("article_id")
        found = rpc.call("search", "get_article", wanted[:64]) if wanted else {"ok": False}
        editing = found["article"] if found["ok"] else None
        return dict(articles=listing(rpc.call("search", "list_articles", {})["articles"]),
                    editing=editing,
                    article=forms.editor(forms.article_fields, "article", form, form_id,
                                         editing))

    articles_section = AdminSection(app, portal, "admin_articles", "/admin/articles",
                                    "admin/articles.html", articles_context)

    @articles_section.action("/admin/articles", "article")
    def admin_save_article():
        article_id = request.form.get("article_id")
        if article_id:
            return localized(rpc.call("search", "update_article", article_id[:64],
                                      forms.article_payload(request.form, new=False), acting()))
        taken = [a["id"] for a in rpc.call("search", "list_articles", {})["articles"]]
        return localized(rpc.call("search", "create_article", forms.identified(
            forms.article_payload(request.form, new=True), "title", taken), acting()))

    @articles_section.action("/admin/articles/<article_id>/publish", "article-list")
    def admin_publish_article(article_id: str):
        change = "unpublish_article" if request.form.get("published") == "no" else \
            "publish_article"
        return localized(rpc.call("search", change, article_id[:64], acting()))

    # ------------------------------------------------------------------ tags

    def tags_context(form_id, form):
        found = rpc.call("intake", "suggest_tags", {"prefix": "", "limit": TAG_LIST_LIMIT})
        return dict(tags=found.get("tags", []), limit=TAG_LIST_LIMIT,
                    rename=form if form_id == "rename" else
                    {"old": request.args.get("tag", ""), "new": ""})

    tags_section = AdminSection(app, portal, "admin_tags", "/admin/tags", "admin/tags.html",
                                tags_context)

    @tags_section.action("/admin/tags/rename", "rename")
    def admin_rename_tag():
        return rpc.call("intake", "rename_tag", {"old": request.form.get("old", ""),
                                                 "new": request.form.get("new", "")}, acting())

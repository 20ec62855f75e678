"""Article versions: who may publish what and when, what a restore and an approval do to the
article, the diff, and drafts from approved answers (services/search/versions.py)."""
from datetime import datetime, timedelta, timezone

import pytest
from marshmallow import ValidationError

from services.common.results import Refusal
from services.search import versions as v
from services.search.schemas import (AnswerPromotionSchema, ArticleEditSchema,
                                     VersionPublishSchema)

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=timezone.utc)
AGENT = {"id": "u-agent", "role": "agent", "name": "Anna"}
EDITOR = {"id": "u-sup", "role": "supervisor", "name": "Sam"}
ARTICLE = {"_id": "wifi", "title": "Wi-Fi", "body": "Join Office-5G.", "language": "en",
           "category": "network", "tags": ["wifi"], "published": True, "version": 3,
           "translation_of": None}


def version(number=4, status=v.PENDING, **content) -> v.Version:
    return v.new_version("wifi", number, dict(ARTICLE, **content), AGENT, NOW, status)


def test_an_agents_edit_waits_for_an_editor_and_cannot_be_scheduled():
    assert v.edit_outcome(AGENT, None, NOW) == v.Outcome(v.PENDING, apply=False)
    with pytest.raises(Refusal) as refused:
        v.edit_outcome(AGENT, NOW + timedelta(hours=1), NOW)
    assert refused.value.status == 403 and "publish_at" in refused.value.errors


def test_an_editors_edit_applies_now_or_at_its_time():
    assert v.edit_outcome(EDITOR, None, NOW) == v.Outcome(v.ACCEPTED, apply=True)
    assert v.edit_outcome(EDITOR, NOW + timedelta(minutes=1), NOW) == \
        v.Outcome(v.SCHEDULED, apply=False)
    # a time already past is "now"
    assert v.edit_outcome(EDITOR, NOW - timedelta(minutes=1), NOW).apply is True
    assert v.edit_outcome(v.SYSTEM, None, NOW).apply is True


def test_only_editors_publish_and_never_a_rejected_or_superseded_version():
    with pytest.raises(Refusal) as refused:
        v.publish_outcome(AGENT, version(), 3, None, NOW)
    assert refused.value.status == 403
    with pytest.raises(Refusal) as refused:
        v.publish_outcome(EDITOR, version(status=v.REJECTED), 3, None, NOW)
    assert refused.value.status == 409
    with pytest.raises(Refusal) as refused:  # an older text: restore it instead
        v.publish_outcome(EDITOR, version(number=2, status=v.ACCEPTED), 3, None, NOW)
    assert refused.value.status == 409
    assert v.publish_outcome(EDITOR, version(), 3, None, NOW) == \
        v.Outcome(v.ACCEPTED, apply=True, publish=True)
    assert v.publish_outcome(EDITOR, version(), 3, NOW + timedelta(days=1), NOW).status == \
        v.SCHEDULED
    # the current text of a draft article
    assert v.publish_outcome(EDITOR, version(number=3, status=v.ACCEPTED), 3, None, NOW).apply


def test_reject_needs_an_editor_and_an_undecided_version():
    v.reject_check(EDITOR, version(status=v.SCHEDULED))
    for actor, status, code in ((AGENT, v.PENDING, 403), (EDITOR, v.ACCEPTED, 409),
                                (EDITOR, v.REJECTED, 409)):
        with pytest.raises(Refusal) as refused:
            v.reject_check(actor, version(status=status))
        assert refused.value.status == code


def test_applying_a_version_takes_its_whole_text_and_keeps_the_translation_link():
    linked = dict(ARTICLE, translation_of="wifi-ru", published=False)
    old = version(number=1, status=v.ACCEPTED, title="Old", body="Old body", tags=[],
                  category=None)
    kept = v.applied(linked, old, v.Outcome(v.ACCEPTED, apply=True))
    assert (kept["title"], kept["body"], kept["tags"], kept["category"]) == \
        ("Old", "Old body", [], None)
    assert kept["version"] == 1 and kept["published"] is False
    assert kept["translation_of"] == "wifi-ru"
    published = v.applied(linked, old, v.Outcome(v.ACCEPTED, apply=True, publish=True))
    assert published["published"] is True


def test_a_version_records_author_time_and_whole_content_and_decisions():
    pending = version()
    assert pending["_id"] == "wifi@4" and pending["author_id"] == "u-agent"
    assert pending["created_at"] == NOW and pending["decided_by"] is None
    assert {k: pending[k] for k in v.CONTENT} == v.content_of(ARTICLE)
    accepted = v.new_version("wifi", 5, ARTICLE, EDITOR, NOW, v.ACCEPTED)
    assert accepted["decided_by"] == "u-sup" and accepted["decided_at"] == NOW
    fields = v.decided(v.Outcome(v.SCHEDULED, apply=False), EDITOR, NOW, NOW + timedelta(1))
    assert fields["publish_at"] == NOW + timedelta(1) and fields["status"] == v.SCHEDULED
    assert v.decided(v.Outcome(v.ACCEPTED, apply=True), EDITOR, NOW, None)["publish_at"] is None
    view = v.version_view(accepted, current=5)
    assert view["current"] is True and view["body"] == ARTICLE["body"]
    assert "body" not in v.version_view(accepted, current=4, summary=True)


def test_diff_is_line_by_line_per_field_and_left_unescaped_for_the_template():
    old = dict(ARTICLE, body="Step 1\nStep 2\nStep 3", tags=["wifi"])
    new = dict(ARTICLE, body="Step 1\nStep <2b>\nStep 3", tags=["wifi", "office"])
    fields = {f["field"]: f for f in v.diff(old, new)}
    assert fields["title"]["changed"] is False
    assert fields["body"]["lines"] == [
        {"op": "same", "text": "Step 1"}, {"op": "removed", "text": "Step 2"},
        {"op": "added", "text": "Step <2b>"}, {"op": "same", "text": "Step 3"}]
    assert fields["tags"]["lines"] == [{"op": "removed", "text": "wifi"},
                                       {"op": "added", "text": "wifi, office"}]
    first = {f["field"]: f for f in v.diff({}, ARTICLE)}
    assert first["title"]["lines"] == [{"op": "added", "text": "Wi-Fi"}]


def test_a_draft_from_an_approved_answer_is_unpublished_and_remembers_the_answer():
    answer = {"_id": "answer-" + "ab" * 16, "title": "Reset", "body": "Use [email] link.",
              "language": "ru", "published": True}
    article_id = v.promoted_article_id(answer["_id"])
    assert article_id == "from-" + "ab" * 8
    draft = v.article_from_answer(answer, article_id)
    assert draft["published"] is False and draft["from_answer"] == answer["_id"]
    assert (draft["title"], draft["body"], draft["language"]) == ("Reset", "Use [email] link.",
                                                                  "ru")


def test_payloads_refuse_bad_times_and_ids_with_field_messages():
    with pytest.raises(ValidationError) as bad:
        VersionPublishSchema().load({"publish_at": "2026-12-04T15:00:00"})  # no zone
    assert "publish_at" in bad.value.messages
    assert VersionPublishSchema().load({})["publish_at"] is None
    with pytest.raises(ValidationError) as bad:
        ArticleEditSchema().load({"title": "x", "publish_at": "tomorrow"})
    assert "publish_at" in bad.value.messages
    with pytest.raises(ValidationError) as bad:
        AnswerPromotionSchema().load({"answer_id": "ticket-1", "id": "Not a slug"})
    assert set(bad.value.messages) == {"answer_id", "id"}

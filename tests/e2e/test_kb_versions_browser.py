"""Article versions: in real headless Chromium (screenshots under
test-artifacts/kb-versions-browser/) and over the REST API (who may do what, field messages in
English and Russian)."""
import shutil
import uuid
from pathlib import Path

import requests

from tests.e2e.browser_flow import needs_chromium, run_script
from tests.e2e.conftest import STAFF, api_token, bearer, new_customer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "kb-versions-browser"


@needs_chromium
def test_an_edit_is_a_version_that_an_editor_publishes_and_restores_in_chromium(
        portal, agent_token):
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    assert run_script("tests.e2e.kb_versions_browser_flow", portal, agent_token, ARTIFACTS) == [
        "01-agent-proposed-version-2", "02-diff-in-russian", "03-version-1-restored-as-3",
        "04-draft-article-from-approved-answer"]


def test_versions_api_review_schedule_and_field_messages(portal, agent_token):
    agent, editor = bearer(agent_token), bearer(api_token(portal, STAFF["supervisor"]))
    customer = bearer(new_customer(portal)["token"])
    article_id = f"ver-{uuid.uuid4().hex[:8]}"
    base = f"{portal}/api/admin/articles/{article_id}"

    def call(method, path, who, **kwargs):
        return requests.request(method, base + path, headers=who, timeout=10, **kwargs)

    assert requests.post(f"{portal}/api/admin/articles", headers=editor, timeout=10, json={
        "id": article_id, "title": "Toner swap", "body": "Open the front door.",
        "language": "en", "published": True}).status_code == 201
    proposed = call("patch", "", agent, json={"body": "Open the side door."})
    assert proposed.status_code == 200 and proposed.json()["body"] == "Open the front door."
    listed = call("get", "/versions", agent).json()
    assert [(v["number"], v["status"], v["current"]) for v in listed["versions"]] == [
        (2, "pending", False), (1, "accepted", True)]
    assert call("get", "/versions", customer).status_code == 403

    refused = call("post", "/versions/2/publish?lang=ru", agent)
    assert refused.status_code == 403
    assert refused.json()["errors"]["_schema"] == ["Публикует только редактор."]
    bad = call("post", "/versions/2/publish", editor, json={"publish_at": "tomorrow"})
    assert bad.status_code == 400 and "publish_at" in bad.json()["errors"]
    unknown = call("post", "/versions/2/publish", editor, json={"when": "now"})
    assert unknown.status_code == 400 and "when" in unknown.json()["errors"]
    assert call("get", "/versions/99", editor).status_code == 404
    assert call("get", "/versions/2/diff?against=x", editor).status_code == 400

    scheduled = call("post", "/versions/2/publish", editor,
                     json={"publish_at": "2099-01-01T09:00:00+00:00"})
    assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["version"]["status"] == "scheduled"
    assert requests.get(f"{portal}/api/articles/{article_id}", timeout=10
                        ).json()["body"] == "Open the front door."
    rejected = call("post", "/versions/2/reject", editor, json={"note": "wrong door"})
    assert rejected.json()["version"]["status"] == "rejected"
    diff = call("get", "/versions/2/diff", agent).json()
    body = next(f for f in diff["diff"] if f["field"] == "body")
    assert body["lines"] == [{"op": "removed", "text": "Open the front door."},
                             {"op": "added", "text": "Open the side door."}]
    restored = call("post", "/versions/2/restore", agent)  # proposing it again
    assert restored.status_code == 200 and restored.json()["version"]["status"] == "pending"
    assert restored.json()["version"]["restored_from"] == 2

    # Approved answers become draft articles (the whole flow: tests/integration).
    promote = f"{portal}/api/admin/answers/{{}}/article"
    missing = requests.post(promote.format("answer-" + "0" * 32), headers=agent, timeout=10)
    assert missing.status_code == 404 and "answer_id" in missing.json()["errors"]
    malformed = requests.post(promote.format("nope"), headers=agent, timeout=10,
                              json={"id": "Not A Slug"})
    assert malformed.status_code == 400
    assert set(malformed.json()["errors"]) == {"answer_id", "id"}
    assert requests.post(promote.format("nope"), headers=customer, timeout=10
                         ).status_code == 403

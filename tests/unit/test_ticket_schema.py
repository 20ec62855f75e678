import pytest
from marshmallow import ValidationError

from services.intake.schemas import TicketCreateSchema

VALID = {"subject": "Printer jams", "description": "Every second page."}


def load(**over):
    return TicketCreateSchema().load({**VALID, **over})


def errors_for(payload):
    with pytest.raises(ValidationError) as exc:
        TicketCreateSchema().load(payload)
    return exc.value.messages


def test_defaults():
    t = load()
    assert t["department"] == "general"
    assert t["priority"] == "normal"
    assert t["language"] == "en"
    assert t["category"] is None and t["tags"] == []
    assert t["requester_email"] is None and t["requester_name"] is None


def test_whitespace_is_trimmed():
    t = load(subject="  Printer jams \n", tags=[" paper "], requester_name="\tAnn ")
    assert t["subject"] == "Printer jams"
    assert t["tags"] == ["paper"]
    assert t["requester_name"] == "Ann"


def test_missing_subject():
    assert "subject" in errors_for({"description": "x"})


@pytest.mark.parametrize("field, value", [
    ("subject", "x" * 1_000_000),
    ("subject", "x" * 201),
    ("subject", "   "),
    ("subject", 42),
    ("subject", {"$gt": ""}),
    ("description", {"$gt": ""}),
    ("department", {"$gt": ""}),
    ("department", "Not A Slug"),
    ("priority", "critical"),
    ("priority", {"$ne": None}),
    ("language", "de"),
    ("tags", "not-a-list"),
    ("tags", ["x"] * 21),
    ("requester_email", "not-an-email"),
])
def test_invalid_field_is_reported_under_its_name(field, value):
    messages = errors_for({**VALID, field: value})
    assert set(messages) == {field}


def test_subject_at_max_length_is_accepted():
    assert load(subject="x" * 200)["subject"] == "x" * 200


def test_unknown_field_is_rejected():
    messages = errors_for({**VALID, "status": "solved"})
    assert messages == {"status": ["Unknown field."]}


def test_organization_is_taken_from_the_requester_account_not_the_body():
    from services.intake.schemas import CreateTicketCommand
    assert "organization" in errors_for({**VALID, "organization": "Acme"})
    cmd = CreateTicketCommand().load({
        "ticket": VALID, "channel": "api",
        "requester": {"id": "c1", "role": "customer", "organization": " Acme Corp. ",
                      "plan": "gold"}})
    assert (cmd["requester"]["organization"], cmd["requester"]["plan"]) == ("acme-corp", "gold")
    with pytest.raises(ValidationError) as exc:
        CreateTicketCommand().load({"ticket": VALID, "channel": "api", "requester": {
            "id": "c1", "role": "customer", "plan": "Gold Plan!"}})
    assert "plan" in exc.value.messages["requester"]


@pytest.mark.parametrize("name, key", [
    ("Acme Corp.", "acme-corp"), ("acme-corp", "acme-corp"), ("ACME_corp", "acme_corp"),
    ("  Globex  ", "globex"), ("ООО Ромашка", ""), ("x" * 50, "x" * 40)])
def test_organization_key_is_the_sla_policy_slug(name, key):
    from services.common.validation import SLUG, organization_key
    assert organization_key(name) == key
    if key:
        SLUG(key)  # what SLA policies accept

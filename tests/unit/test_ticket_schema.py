import pytest
from marshmallow import ValidationError

from services.common.validation import SINGLE_LINE_ERROR, flatten_line
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


@pytest.mark.parametrize("value", [
    "Hello\r\nBcc: victim@example.com", "Hello\nX", "Hello\rX", "tab\there", "nul\x00",
    "esc \x1b[31m red", "next \x85 line", "separator \u2028 here", "del \x7f",
])
@pytest.mark.parametrize("field", ["subject", "requester_name"])
def test_one_line_fields_refuse_control_characters(field, value):
    assert errors_for({**VALID, field: value})[field] == [SINGLE_LINE_ERROR]


def test_descriptions_keep_their_line_breaks():
    assert load(description="Line one\r\nLine two\n\tindented")["description"] == (
        "Line one\r\nLine two\n\tindented")


@pytest.mark.parametrize("raw, flat", [
    ("Hello\r\nBcc: x@y", "Hello Bcc: x@y"), ("a\n\n\nb", "a b"), (" a \u2028 b\x00", "a   b"),
    ("Привет,  мир", "Привет,  мир"), ("\r\n", ""),
])
def test_flatten_line(raw, flat):
    assert flatten_line(raw) == flat


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

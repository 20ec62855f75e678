import pytest

from services.portal.openapi import build_spec
from services.portal.routes import operations


@pytest.fixture(scope="module")
def spec():
    return build_spec(operations())


def test_is_openapi_3(spec):
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "Help desk API"


def test_ticket_creation_request_body_references_schema(spec):
    body = spec["paths"]["/api/tickets"]["post"]["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TicketCreate"}


def test_components_contain_the_marshmallow_schemas(spec):
    schemas = spec["components"]["schemas"]
    assert {"TicketCreate", "Ticket", "Errors", "MessageCreate", "StatusChange"} <= set(schemas)
    create = schemas["TicketCreate"]
    assert {"subject", "description"} <= set(create["required"])
    assert create["properties"]["subject"]["maxLength"] == 200
    assert create["properties"]["priority"]["enum"] == ["low", "normal", "high", "urgent"]


def test_every_ref_resolves(spec):
    refs = []

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(spec["paths"])
    assert refs
    for ref in refs:
        kind, name = ref.split("/")[-2:]
        assert name in spec["components"][kind], ref


def test_authenticated_operations_declare_bearer(spec):
    assert "bearer" in spec["components"]["securitySchemes"]
    assert spec["paths"]["/api/tickets"]["get"]["security"] == [{"bearer": []}]
    assert "security" not in spec["paths"]["/api/tickets"]["post"]


def test_no_two_schemas_share_a_component_name():
    # apispec renames a clash ("Feedback1") with a warning: the docs then name a schema by accident
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        build_spec(operations())

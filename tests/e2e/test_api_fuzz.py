"""schemathesis generates requests from /api/openapi.json (the document the portal builds from
its marshmallow schemas) and sends them to the running stack: no answer may be a 5xx, and every
answer must match the documented status codes, content type and response schema.

Driven through hypothesis directly (one @given per operation) rather than schemathesis' pytest
plugin, whose fixture loader does not work with pytest 9."""
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (content_type_conformance, not_a_server_error,
                                 response_schema_conformance, status_code_conformance)

from tests.e2e.conftest import client_from, new_customer

MIN_REQUESTS = 1000
EXAMPLES_PER_OPERATION = 65
# Revoking the token would sign the fuzzer out for the rest of the run.
SKIPPED = {"DELETE /api/auth/token"}
# Headers that frame the HTTP message belong to the client: a generated one ("Content-Length:
# =_C_[kQt") breaks the message itself, which eventlet's server refuses before the portal sees
# it, with a bare 400 and no body whose schema could be checked.
FRAMING = {"content-length", "transfer-encoding"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def test_generated_requests_never_get_a_server_error(portal):
    schema = schemathesis.openapi.from_url(f"{portal}/api/openapi.json")
    token = new_customer(portal, name="Fuzzer")["token"]
    # From a loopback address of its own: its floods of anonymous "this solved it" use up that
    # address's limit, not the one the rest of the suite shares.
    session = client_from("127.0.0.2")
    sent: dict[str, dict[int, int]] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"
        if label in SKIPPED:
            continue
        needs_token = bool(operation.definition.raw.get("security"))
        statuses = sent.setdefault(label, {})

        @given(case=st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                              operation.as_strategy(GenerationMode.NEGATIVE)))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.generate])
        def exercise(case):
            case.headers = {name: value for name, value in (case.headers or {}).items()
                            if name.lower() not in FRAMING}
            if needs_token:
                case.headers["Authorization"] = f"Bearer {token}"
            response = case.call_and_validate(base_url=portal, session=session, checks=CHECKS)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        exercise()
    total = sum(n for statuses in sent.values() for n in statuses.values())
    assert total >= MIN_REQUESTS, sent
    assert not [s for statuses in sent.values() for s in statuses if s >= 500], sent
    print(f"schemathesis: {total} requests, statuses by operation: {sent}")

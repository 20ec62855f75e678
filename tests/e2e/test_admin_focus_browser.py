"""A refused administration form moves the focus to the field in real headless Chromium, with
a screenshot under test-artifacts/admin-focus/."""
import shutil
from pathlib import Path

from tests.e2e.browser_flow import needs_chromium, run_script

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "admin-focus"


@needs_chromium
def test_a_refused_field_gets_the_focus_in_view(portal, agent_token):
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    assert run_script("tests.e2e.admin_focus_flow", portal, agent_token, ARTIFACTS) == [
        "01-refused-policy-focused"]

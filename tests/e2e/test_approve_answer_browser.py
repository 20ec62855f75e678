"""An agent approves a redacted answer in real headless Chromium and a visitor is suggested
it, with a screenshot of every step under test-artifacts/approve-answer/."""
import shutil
from pathlib import Path

from tests.e2e.browser_flow import needs_chromium, run_script

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "approve-answer"


@needs_chromium
def test_agent_approves_a_redacted_answer_and_a_visitor_is_suggested_it(portal, agent_token):
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    assert run_script("tests.e2e.approve_answer_browser_flow", portal, agent_token,
                      ARTIFACTS) == ["01-redacted-draft", "02-approved",
                                     "03-suggested-to-a-visitor"]

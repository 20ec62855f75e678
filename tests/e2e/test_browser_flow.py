"""A new customer's whole journey in real headless Chromium, with a screenshot of every step
under test-artifacts/browser/."""
import shutil
from pathlib import Path

from tests.e2e.browser_flow import needs_chromium, run_script

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
STEPS = ["01-signed-up", "02-suggestion-in-russian", "03-attachment-chosen",
         "04-ticket-filed-with-attachment", "05-my-tickets", "06-agent-replied", "07-closed",
         "08-rated", "09-other-customer-gets-404"]


@needs_chromium
def test_customer_journey_in_chromium(portal, agent_token):
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    assert run_script("tests.e2e.browser_flow", portal, agent_token, ARTIFACTS) == STEPS

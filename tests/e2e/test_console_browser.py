"""The agent console and supervisor dashboard in real headless Chromium, with a screenshot of
every step under test-artifacts/console/."""
import shutil
from pathlib import Path

from tests.e2e.browser_flow import needs_chromium, run_script

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
STEPS = ["01-dashboard-before", "02-queue", "03-similar-solved", "04-canned-inserted",
         "05-internal-note", "06-solved", "07-dashboard-after", "08-admin-sla"]


@needs_chromium
def test_agent_and_supervisor_in_chromium(portal, agent_token):
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    assert run_script("tests.e2e.console_browser_flow", portal, agent_token, ARTIFACTS) == STEPS

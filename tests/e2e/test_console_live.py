"""Live updates of the agent console in real headless Chromium (several browsers at once),
with screenshots under test-artifacts/console-live/."""
import shutil
from pathlib import Path

from tests.e2e.browser_flow import needs_chromium, run_script

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console-live"


@needs_chromium
def test_queue_workspace_and_collision_update_live(portal, agent_token):
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    assert run_script("tests.e2e.console_live_flow", portal, agent_token, ARTIFACTS) == [
        "01-queue-live", "02-collision-live", "03-workspace-live", "04-macro-saved",
        "05-macro-applied"]

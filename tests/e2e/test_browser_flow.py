"""A new customer's whole journey in real headless Chromium, with a screenshot of every step
under test-artifacts/browser/."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.browser_flow import CHROMIUM

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
STEPS = ["01-signed-up", "02-suggestion-in-russian", "03-ticket-filed", "04-my-tickets",
         "05-agent-replied", "06-closed", "07-other-customer-gets-404"]


@pytest.mark.skipif(not os.path.exists(CHROMIUM) and os.environ.get("HELPDESK_WITH_BROWSER") != "1",
                    reason="Debian chromium not installed (deploy/local/stack test installs it)")
def test_customer_journey_in_chromium(portal, agent_token):
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYWRIGHT_")}
    env["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    run = subprocess.run([sys.executable, "-m", "tests.e2e.browser_flow", portal, agent_token,
                          str(ARTIFACTS)], env=env, capture_output=True, text=True, timeout=240,
                         cwd=Path(__file__).resolve().parents[2])
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    assert sorted(p.stem for p in ARTIFACTS.glob("*.png")) == STEPS

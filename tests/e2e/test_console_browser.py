"""The agent console and supervisor dashboard in real headless Chromium, with a screenshot of
every step under test-artifacts/console/."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.browser_flow import CHROMIUM

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
STEPS = ["01-dashboard-before", "02-queue", "03-similar-solved", "04-canned-inserted",
         "05-internal-note", "06-solved", "07-dashboard-after"]


@pytest.mark.skipif(not os.path.exists(CHROMIUM) and os.environ.get("HELPDESK_WITH_BROWSER") != "1",
                    reason="Debian chromium not installed (deploy/local/stack test installs it)")
def test_agent_and_supervisor_in_chromium(portal, agent_token):
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYWRIGHT_")}
    env["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    run = subprocess.run([sys.executable, "-m", "tests.e2e.console_browser_flow", portal,
                          agent_token, str(ARTIFACTS)], env=env, capture_output=True, text=True,
                         timeout=240, cwd=Path(__file__).resolve().parents[2])
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    assert sorted(p.stem for p in ARTIFACTS.glob("*.png")) == STEPS

"""Knowledge gaps to a published article in real headless Chromium, with a screenshot of every
step under test-artifacts/gaps-browser/."""
import shutil
from pathlib import Path

from tests.e2e.browser_flow import needs_chromium, run_script

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "gaps-browser"


@needs_chromium
def test_five_solved_tickets_become_an_article_suggested_in_both_languages(portal, agent_token):
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    assert run_script("tests.e2e.gaps_browser_flow", portal, agent_token, ARTIFACTS) == [
        "01-gap-of-five-tickets", "02-draft-for-review", "03-published",
        "04-suggested-in-english", "05-suggested-in-russian", "06-gap-covered", "07-dashboard-funnel"]

"""Suggestions in real headless Chromium, with a screenshot of every step under
test-artifacts/suggest-browser/."""
import shutil
from pathlib import Path

from tests.e2e.browser_flow import needs_chromium, run_script

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "suggest-browser"


@needs_chromium
def test_russian_question_english_answer_didnt_help_and_back_in_chromium(portal, agent_token):
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    assert run_script("tests.e2e.suggest_browser_flow", portal, agent_token, ARTIFACTS) == [
        "01-english-answer-to-russian-question", "02-subject-kept-after-back",
        "03-didnt-help-recorded"]

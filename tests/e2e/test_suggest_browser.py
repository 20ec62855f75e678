"""Suggestions in real headless Chromium, with a screenshot of every step under
test-artifacts/suggest-browser/; the feedback the pages sent is then read from search's own
collection."""
import os
import shutil
from pathlib import Path

from pymongo import MongoClient

from tests.e2e.browser_flow import needs_chromium, run_script
from tests.e2e.suggest_browser_flow import ANSWER_QUESTION, QUESTION

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "suggest-browser"


@needs_chromium
def test_russian_question_english_answer_didnt_help_back_and_answer_page_in_chromium(
        portal, agent_token):
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    assert run_script("tests.e2e.suggest_browser_flow", portal, agent_token, ARTIFACTS) == [
        "01-english-answer-to-russian-question", "02-subject-kept-after-back",
        "03-didnt-help-recorded", "04-approved-answer-page",
        "05-didnt-help-on-the-answer-page"]
    client = MongoClient(os.environ["HELPDESK_MONGO_URI"])
    feedback = client[f"{os.environ.get('HELPDESK_MONGO_DB', 'helpdesk')}_search"].feedback
    # "Didn't help" on the card and on the answer's page, each under the question typed.
    assert feedback.count_documents({"q": QUESTION, "result_kind": "article",
                                     "solved": False}) >= 1
    assert feedback.count_documents({"q": ANSWER_QUESTION, "result_kind": "answer",
                                     "solved": False}) >= 1

"""Knowledge gaps and the deflection funnel, without servers: grouping by meaning across
Russian and English, drafts from solved tickets (personal data removed), funnel arithmetic,
and redaction of what customers and agents write, in both languages."""
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from services.search import funnel, gaps, semantic
from services.search.redact import redact

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
PRINTER = ["Printer eats paper, jams on every page", "Принтер зажёвывает бумагу",
           "The printer keeps jamming sheets", "Принтер застревает бумага каждый раз"]
INVOICE = ["Where can I download my invoice PDF?", "Как скачать счёт в PDF?"]


def language(text: str) -> str:
    return "ru" if any("а" <= c <= "я" for c in text.lower()) else "en"


def items(texts, kind="ticket"):
    vectors = semantic.encode(texts)
    return [gaps.GapItem(kind, f"{kind}-{i}", t, language(t), NOW - timedelta(minutes=i), v)
            for i, (t, v) in enumerate(zip(texts, vectors))]


def test_one_problem_in_two_languages_is_one_gap_and_another_problem_is_another():
    found = gaps.find_gaps(items(PRINTER + INVOICE), limit=10)
    groups = sorted(sorted(g.tickets) for g in found)
    assert groups == [["ticket-0", "ticket-1", "ticket-2", "ticket-3"], ["ticket-4", "ticket-5"]]
    biggest = found[0]
    assert biggest.size == 4 and biggest.languages == {"en": 2, "ru": 2}
    assert set(biggest.examples) == {"en", "ru"}


def test_clustering_stops_at_the_threshold():
    a, b = np.eye(3, dtype=np.float32)[:2]
    close = (a + 0.9 * b) / np.linalg.norm(a + 0.9 * b)  # cosine with a: 0.74
    assert gaps.cluster(np.stack([a, b, close]), threshold=0.7) == [[0, 2], [1]]
    assert gaps.cluster(np.stack([a, b, close]), threshold=0.8) == [[0], [1], [2]]
    assert gaps.cluster(np.zeros((0, 3), np.float32)) == []


def test_gap_key_is_the_same_for_the_same_members_in_any_order():
    assert gaps.gap_key(["b", "a"]) == gaps.gap_key(["a", "b"]) != gaps.gap_key(["a"])


def ticket(i, language, title, resolution):
    return {"_id": f"t{i}", "number": i, "language": language, "title": title,
            "resolution": resolution}


def test_a_draft_per_language_from_the_answers_with_personal_data_removed():
    tickets = [
        ticket(1, "en", "Printer jams", "Hi John, open the rear tray and remove the sheet. "
               "Call me at +1 415 555 0134. Regards, Kate"),
        ticket(2, "en", "Printer eats paper on order 4815162", "Open the rear tray and remove "
               "the sheet."),
        ticket(3, "ru", "Принтер жуёт бумагу", "Здравствуйте, Иван! Откройте заднюю крышку и "
               "достаньте лист. Пишите на ivan@example.ru"),
    ]
    vectors = semantic.encode([t["title"] for t in tickets])
    approved = {"t2": {"body": "Open the rear tray, remove the stuck sheet, clean the rollers."}}
    sources = [gaps.source(t, approved.get(t["_id"]), ["John Smith"] if t["number"] == 1 else [],
                           v) for t, v in zip(tickets, vectors)]
    drafts = gaps.draft_articles("abc123", sources, {"ru": ["принтер мнёт листы"]})
    en, ru = drafts
    assert [d["language"] for d in drafts] == ["en", "ru"] and not en["published"]
    assert en["id"] == "gap-abc123-en" and ru["translation_of"] == "gap-abc123-en"
    assert "clean the rollers" in en["body"]            # the approved answer, not the reply
    text = en["body"] + en["title"] + ru["body"] + ru["title"]
    for personal in ("John", "Kate", "415", "4815162", "Иван", "ivan@example.ru"):
        assert personal not in text, text
    assert "Откройте заднюю крышку" in ru["body"] and "принтер мнёт листы" in ru["body"]
    assert "- Откройте заднюю крышку" in ru["body"]      # the greeting went with the name


def test_greetings_and_sign_offs_are_left_out_of_a_draft():
    vector = np.ones(4, np.float32)
    tidy = gaps.source(ticket(1, "en", "Printer", "Hello Kate, open the tray. Regards, Anna"),
                       None, ["Kate", "Anna"], vector)
    assert tidy.answer == "open the tray."
    tidy = gaps.source(ticket(2, "ru", "Принтер", "Здравствуйте! Откройте лоток.\nСпасибо"),
                       None, [], vector)
    assert tidy.answer == "Откройте лоток."


def test_the_same_advice_twice_is_quoted_once():
    sources = [gaps.Source(f"t{i}", "en", "Printer jams", "Open the rear tray.",
                           np.ones(4, np.float32)) for i in range(3)]
    body = gaps.draft_articles("k", sources, {})[0]["body"]
    assert body.count("Open the rear tray.") == 1


# ---------------------------------------------------------------------------- the funnel

def test_a_visit_records_its_latest_question_and_keeps_a_vector_only_when_unanswered():
    query, update = funnel.question_update("s" * 22, "ru", "сброс пароля", ["article:a"],
                                           b"v", NOW)
    assert query == {"_id": "s" * 22}
    assert update["$set"]["abstained"] is False and update["$set"]["vector"] is None
    assert update["$setOnInsert"] == {"started_at": NOW, "language": "ru"}
    _, update = funnel.question_update("s" * 22, None, "???", [], b"v", NOW)
    assert update["$set"]["abstained"] is True and update["$set"]["vector"] == b"v"


def test_a_ticket_counts_as_filed_anyway_only_within_the_window_and_once():
    query, update = funnel.filed_update("s" * 22, 7, NOW)
    assert query["last_at"] == {"$gte": NOW - funnel.FILED_WINDOW}
    assert query["filed_at"] == {"$exists": False}
    assert update == {"$set": {"filed_at": NOW, "ticket_number": 7}}


def test_failing_questions_are_counted_by_their_words():
    visits = [{"question": "Printer  jams", "language": "en", "abstained": True},
              {"question": "printer jams", "language": "en", "filed_at": NOW},
              {"question": "reset password", "language": "en", "not_helped": ["article:a"]},
              {"question": "invoice", "language": "en", "solved": ["article:b"]}]
    rows = funnel.failing(visits)
    assert rows[0] == {"question": "Printer jams", "language": "en", "visits": 2,
                       "abstained": 1, "not_helped": 0, "filed": 1}
    assert [r["question"] for r in rows] == ["Printer jams", "reset password"]


def test_summary_counts_all_languages_and_the_deflection_rate():
    rows = [{"_id": "en", "typed": 4, "shown": 3, "opened": 2, "solved": 1, "not_helped": 1,
             "filed": 1},
            {"_id": "ru", "typed": 1, "shown": 0, "opened": 0, "solved": 0, "not_helped": 0,
             "filed": 1}]
    report = funnel.summary(rows)
    assert report["total"]["typed"] == 5 and report["total"]["filed"] == 2
    assert report["deflection_rate"] == 0.6
    assert funnel.summary([])["deflection_rate"] is None


# ---------------------------------------------------------------------------- redaction

@pytest.mark.parametrize("text, names, gone, kept", [
    # names from the customer record (the requester's and agents' names the ticket knows)
    ("Thanks Smith, John said the reset worked", ["John Smith"], ["John", "Smith"],
     ["reset worked"]),
    ("Мария Иванова, пароль сброшен, Иванова может войти", ["Мария Иванова"],
     ["Мария", "Иванова"], ["пароль сброшен"]),
    # emails and phones
    ("Reach me at john.smith+help@corp.example.com or (415) 555-0134", [],
     ["john.smith", "555-0134"], ["Reach me at"]),
    ("Пишите на m.ivanova@yandex.ru или звоните 8 800 555-35-35", [],
     ["m.ivanova", "555-35"], ["Пишите на"]),
    # order numbers
    ("Invoice INV-2024-0042 and order no. 778899 are paid", [], ["0042", "778899"],
     ["are paid"]),
    ("По счёту № 55123 и договору 2024-117 оплата прошла", [], ["55123", "2024-117"],
     ["оплата прошла"]),
    # addresses
    ("Deliver to 1600 Amphitheatre Parkway Dr, Suite 200", [], ["1600", "Amphitheatre"],
     ["Deliver to"]),
    ("Адрес: проспект Мира, д. 10, кв. 5, курьер приедет", [], ["Мира", "кв. 5"],
     ["курьер приедет"]),
    # a sentence after "Hello!" is not a name
    ("Здравствуйте! Откройте лоток. Hi! Open the tray.", [], [], ["Откройте", "Open the"]),
])
def test_redaction_in_russian_and_english(text, names, gone, kept):
    out = redact(text, names).text
    assert not [g for g in gone if g in out], out
    assert all(k in out for k in kept), out

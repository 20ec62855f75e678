"""Semantic side of search without servers: what is encoded, the int8 vector set, query
understanding (translit, keyboard layout), fusion, confidence, and redaction of answers."""
import numpy as np
import pytest

from services.search import domain, retrieval, semantic, understanding
from services.search.redact import redact


def unit(*values):
    v = np.zeros(semantic.DIMENSIONS, np.float32)
    v[:len(values)] = values
    return v / np.linalg.norm(v)


def test_vector_set_finds_the_nearest_document_by_its_best_passage():
    vectors = semantic.VectorSet()
    vectors.put("a", semantic.Entry("article", "en"), np.stack([unit(1, 0), unit(0, 1)]))
    vectors.put("b", semantic.Entry("article", "en"), np.stack([unit(1, 1)]))
    found = vectors.nearest(unit(0, 1), 2)
    assert [i for i, _ in found] == ["a", "b"]
    assert found[0][1] == pytest.approx(1.0, abs=0.01)  # int8 rows, still close to exact
    assert found[1][1] == pytest.approx(0.707, abs=0.01)
    vectors.drop("a")
    assert [i for i, _ in vectors.nearest(unit(0, 1), 2)] == ["b"]


def test_vector_set_folds_in_replacements_and_removals_between_queries():
    vectors = semantic.VectorSet()
    for doc_id, v in (("a", unit(1, 0)), ("b", unit(0, 1)), ("c", unit(1, 1))):
        vectors.put(doc_id, None, np.stack([v]))
    vectors.settle()
    assert len(vectors) == 3 and "a" in vectors and vectors.entries == {}  # tickets: no entry
    vectors.put("a", None, np.stack([unit(0, 1), unit(0, 0, 1)]))  # replaced: two passages now
    vectors.drop("b")
    assert "b" not in vectors and len(vectors) == 2
    assert vectors.cosine("a", unit(0, 1)) == pytest.approx(1.0, abs=0.01)  # before the rebuild
    found = dict(vectors.nearest(unit(0, 0, 1), 3))
    assert set(found) == {"a", "c"} and found["a"] == pytest.approx(1.0, abs=0.01)
    assert vectors.cosine("c", unit(1, 1)) == pytest.approx(1.0, abs=0.01)  # after it
    vectors.drop("a")
    assert [i for i, _ in vectors.nearest(unit(0, 0, 1), 3)] == ["c"]


def test_anonymous_suggestions_never_ask_the_tickets_index():
    assert "tickets" not in domain.suggested_kinds(None)
    assert "tickets" in domain.suggested_kinds({"id": "c1", "role": "customer"})
    assert "tickets" in domain.suggested_kinds({"id": "a1", "role": "agent"})


def test_packed_vectors_round_trip():
    v = np.stack([unit(3, 4), unit(1, 0)])
    assert np.allclose(semantic.unpack(semantic.pack(v)), v, atol=1e-3)


def test_a_repeated_query_is_encoded_once_and_its_vector_is_shared_read_only():
    first = semantic.encode_query("vpn keeps dropping")
    assert semantic.encode_query("vpn keeps dropping") is first
    assert not first.flags.writeable
    assert np.allclose(first, semantic.encode(["vpn keeps dropping"])[0], atol=1e-5)


def test_encoding_in_worker_processes_gives_the_same_vectors_in_the_same_order():
    tickets = [{"_id": f"t{i}", "kind": "ticket", "title": f"Printer {i}", "body": "jams",
                "resolution": "Open tray two", "status": "solved"} for i in range(6)]
    batches = lambda: [[dict(t) for t in tickets[:4]], [dict(t) for t in tickets[4:]]]  # noqa: E731
    alone = [encoded for _, encoded in retrieval.embed_batches("tickets", batches())]
    copies = batches()
    pooled = list(retrieval.embed_batches("tickets", copies, workers=2))
    assert [batch for batch, _ in pooled] == copies
    assert [[i for i, _, _ in e] for _, e in pooled] == [[i for i, _, _ in e] for e in alone]
    for (_, got), want in zip(pooled, alone):
        for (_, blob, key), (_, expected, expected_key) in zip(got, want):
            assert key == expected_key
            assert np.allclose(semantic.unpack(blob), semantic.unpack(expected), atol=1e-3)


def test_long_articles_are_encoded_per_section_and_tickets_once_answered():
    long_body = " ".join(f"Step {i} explains something useful here." for i in range(60))
    article = {"kind": "article", "title": "Guide", "body": long_body}
    assert len(semantic.passages(article)) > 3
    assert all(p.startswith("Guide") for p in semantic.passages(article))
    open_ticket = {"kind": "ticket", "title": "VPN", "body": "drops", "resolution": None}
    assert semantic.vectors_key(open_ticket) is None
    solved = dict(open_ticket, resolution="Update the client")
    assert semantic.vectors_key(solved) == semantic.vectors_key(dict(solved, status="closed"))
    assert semantic.vectors_key(solved) != semantic.vectors_key(dict(solved, body="slow"))


KNOWN = understanding.vocabulary(["Как сбросить пароль", "Если вы забыли пароль",
                                  "Где скачать счёт", "password reset link"])


@pytest.mark.parametrize("typed, meant", [
    ("zabyl parol", "забыл парол"),           # transliterated Russian
    ("ult crfxfnm", "где скачать"),           # Russian typed on the English layout
    ("зфыыцщкв куыуе", "password reset"),     # English typed on the Russian layout
    ("password reset", "password reset"),     # fine as it is: left alone
    ("error 429", "error 429"),               # nothing fits better: left alone
    ("забыл пароль", "забыл пароль"),
])
def test_converted_only_when_the_knowledge_base_knows_it_better(typed, meant):
    assert understanding.understood(typed, KNOWN) == meant


SPELLER = understanding.Speller([
    "Как сбросить пароль", "Если вы забыли пароль, откройте ссылку", "Где скачать счёт",
    "Двухфакторная аутентификация", "Reset your password", "Download invoices",
    "Refund policy", "API error 429: too many requests", "Set up the printer"])


@pytest.mark.parametrize("typed, meant", [
    ("reset pasword", "reset password"),                # a letter missing
    ("dowload invoices", "download invoices"),
    ("refnud", "refund"),                               # two letters swapped: one edit
    ("the pritner", "the printer"),
    ("сбросить паорль", "сбросить пароль"),             # Russian, swapped
    ("двухфакторная аутентификацыя", "двухфакторная аутентификация"),  # Russian, wrong letter
    ("Reset Pasword", "Reset password"),                # only the misspelt word is rewritten
])
def test_typos_are_corrected_to_the_knowledge_bases_words(typed, meant):
    assert SPELLER.correct(typed) == (meant, True)


@pytest.mark.parametrize("typed, resolved", [
    ("error 429", True),          # a code: never "corrected" (428 is one edit away)
    ("error 428", True),
    ("api up", True),             # 1-2 letters: no edits allowed ("up" is not "us")
    ("apy", True),                # 3-5 letters: one edit ("apy" -> "api")
    ("qwzx plorf", False),        # nothing near enough: left alone, reported unresolved
    ("efund", False),             # the first letter is never changed (prefix_length 1)
    ("passwrdd", True),           # 6+ letters: two edits
    ("pswrd", False),             # ... but not three
])
def test_codes_short_words_and_far_words_are_left_alone(typed, resolved):
    spelled, ok = SPELLER.correct(typed)
    assert ok == resolved
    if typed not in ("apy", "passwrdd"):
        assert spelled == typed
    else:
        assert spelled == {"apy": "api", "passwrdd": "password"}[typed]


def test_a_known_word_is_never_corrected_into_a_more_frequent_neighbour():
    speller = understanding.Speller(["sign in", "sing", "sign sign sign"])
    assert speller.correct("sing") == ("sing", True)
    assert speller.nearest("sinn") == "sign"  # a tie (sign, sing) goes to the more frequent


def test_the_speller_follows_the_knowledge_base():
    neighbours = retrieval.Neighbours()
    neighbours.apply("articles", {"_id": "a", "title": "Quokka printer", "body": "Jams",
                                  "language": "en", "published": True, "updated_at": None,
                                  "vectors": semantic.pack(np.stack([unit(1)]))})
    assert neighbours.speller().nearest("qokka") == "quokka"
    neighbours.apply("articles", {"_id": "a", "title": "Quokka printer", "body": "Jams",
                                  "language": "en", "published": False, "updated_at": None})
    assert neighbours.speller().nearest("qokka") is None


def test_exact_terms_win_over_mere_similarity():
    exact = retrieval.Candidate("api-429", lexical=1.0, cosine=0.35)
    similar = retrieval.Candidate("slow-pages", lexical=0.0, cosine=0.5)
    ranked = retrieval.fuse({c.id: c for c in (exact, similar)}, weight=0.4)
    assert [c.id for c in ranked] == ["api-429", "slow-pages"]


def test_confidence_is_a_logistic_model_of_the_features():
    model = {"intercept": -1.0, "coefficients": [2.0, 0, 0, 0, 0]}
    assert retrieval.confidence([0.5, 0, 0, 0, 0], model) == pytest.approx(0.5)
    assert retrieval.confidence([0.9, 0, 0, 0, 0], model) > 0.6
    stored = retrieval.load_confidence()
    assert 0 < stored["threshold"] < 1 and "tune split" in stored["how"]
    assert len(stored["coefficients"]) == len(stored["features"])


def test_vocabulary_is_the_knowledge_bases_never_a_private_tickets():
    neighbours = retrieval.Neighbours()
    neighbours.public.put("a", semantic.Entry("article", "en", text="reset password"),
                          np.stack([unit(1)]))
    neighbours.tickets.put("t", semantic.Entry("ticket", "en", text="quokkaprint secret"),
                           np.stack([unit(1)]))
    assert "password" in neighbours.known() and "quokkaprint" not in neighbours.known()


@pytest.mark.parametrize("text, gone, kept", [
    ("Write to ivan.petrov@mail.ru or call +7 (916) 555-44-33", ["ivan.petrov", "555-44"],
     ["Write to"]),
    ("Заказ № 481516 доставим на ул. Ленина, д. 5, кв. 12", ["481516", "Ленина"], ["доставим"]),
    ("Order #A-99812 ships to 221 Baker Street, Apt 4", ["99812", "Baker"], ["ships to"]),
    ("Здравствуйте, Мария! Всё готово. С уважением, Олег", ["Мария", "Олег"], ["Всё готово"]),
    ("Error 429: wait 60 seconds, version 2.14.1 fixes it", [], ["429", "60", "2.14.1"]),
])
def test_redaction_removes_personal_data_and_keeps_the_answer(text, gone, kept):
    out = redact(text).text
    assert not [g for g in gone if g in out], out
    assert all(k in out for k in kept), out


class Records:
    """search's Mongo copy as refresh reads it (a stand-in for the repository's query)."""

    def __init__(self, **kinds):
        self.kinds = kinds
        self.asked = []

    def changed_since(self, kind, moment):
        self.asked.append((kind, moment))
        return list(self.kinds.get(kind, []))


def article(doc_id, published=True, key="k1"):
    return {"_id": doc_id, "title": "Reset password", "body": "Open Profile", "language": "en",
            "published": published, "updated_at": None, "vectors_key": key,
            "vectors": semantic.pack(np.stack([unit(1, 0)]))}


def test_refresh_loads_once_then_only_what_changed_and_drops_the_unpublished():
    neighbours = retrieval.Neighbours()
    store = Records(articles=[article("a"), article("b")])
    assert neighbours.refresh(store) == 2
    assert set(neighbours.public.entries) == {"a", "b"}
    assert neighbours.refresh(store) == 0           # same records again: nothing rebuilt
    assert all(moment is not None for _, moment in store.asked[-3:])  # only recent changes
    store.kinds["articles"] = [article("a", published=False)]
    assert neighbours.refresh(store) == 1
    assert set(neighbours.public.entries) == {"b"}


def test_take_applies_just_indexed_records_without_reading_and_refresh_agrees():
    neighbours = retrieval.Neighbours()
    assert neighbours.take("articles", [article("a"), article("b", published=False)]) == 2
    assert set(neighbours.public.entries) == {"a"}
    assert neighbours.take("articles", [article("a")]) == 0   # as applied already
    store = Records(articles=[article("a"), article("b", published=False)])
    assert neighbours.refresh(store) == 0           # the sweep reads them again: no rebuild
    assert neighbours.take("articles", [article("a", published=False)]) == 1
    assert neighbours.public.entries == {}

"""How refused files and ratings are explained on the pages: by intake's field, in the page
language (Russian and English catalogs compiled as the portal does at start)."""
import pytest
from flask import Flask

from services.portal import i18n, uploads
from services.portal.routes.ticket_pages import csat_refusal


@pytest.fixture(scope="module")
def app():
    app = Flask(__name__)
    i18n.install(app, lambda: None)
    return app


@pytest.mark.parametrize("errors, empty, english, russian", [
    ({"filename": ["files of type '.exe' are not accepted"]}, False,
     "Files of this type are not accepted. Allowed: .csv,", "Файлы такого типа не принимаются."),
    ({"content_type": ["text/plain does not match a .png file"]}, False,
     "The file's contents do not match its name.", "Содержимое файла не соответствует"),
    ({"data": ["at most 5 MB per file"]}, False, "The file is too big: at most 5 MB.",
     "Файл слишком большой: не более 5 МБ."),
    ({"data": ["the file is empty"]}, True, "The file is empty.", "Файл пустой."),
    ({"_schema": ["at most 50 files per ticket"]}, False, "as many files as it can take (50)",
     "максимальное число файлов (50)"),
])
def test_a_refused_file_is_explained_by_its_field_in_the_page_language(
        app, errors, empty, english, russian):
    for language, expected in (("en", english), ("ru", russian)):
        with app.test_request_context(f"/?lang={language}"):
            assert expected in uploads.refusal_reason(errors, empty)


def test_rating_refusals_tell_not_yet_already_and_wrong_choice_apart(app):
    with app.test_request_context("/?lang=ru"):
        assert csat_refusal({"status": ["..."]}, 409) == "Оценить обращение можно, когда оно решено."
        assert csat_refusal({"score": ["..."]}, 409) == "Вы уже оценили это обращение."
        assert csat_refusal({"score": ["Must be a whole number from 1 to 5."]}, 400) == (
            "Выберите оценку от 1 до 5.")
        assert "2000" in csat_refusal({"comment": ["Longer than maximum length 2000."]}, 400)


def test_the_download_name_header_keeps_unicode_and_drops_quotes():
    header = uploads.disposition('отчёт "1".txt')
    assert header.startswith('attachment; filename="_____ _1_.txt"; filename*=UTF-8\'\'')
    assert "%D0%BE%D1%82" in header

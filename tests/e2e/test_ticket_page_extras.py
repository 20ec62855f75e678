"""The customer's ticket page beyond the thread, over HTTP as a browser without JavaScript
(cookies and CSRF tokens): files attached when filing and later, downloads, refusals in the
reader's language with nothing stored, other customers kept out (404), and the satisfaction
rating once solved, only once."""
import requests

from tests.e2e.conftest import Browser, bearer, new_customer

MEGABYTE = 1024 * 1024


def signed_in(portal: str, language: str = "ru") -> tuple[Browser, dict]:
    customer = new_customer(portal, name="Page Customer", language=language)
    return Browser(portal).sign_in(customer["email"], customer["password"]), customer


def file_ticket(portal: str, customer: dict) -> int:
    filed = requests.post(f"{portal}/api/tickets", headers=bearer(customer["token"]), timeout=10,
                          json={"subject": "Printer jams", "description": "Every second page"})
    assert filed.status_code == 201, filed.text
    return filed.json()["number"]


def stored_files(portal: str, customer: dict, number: int) -> list[dict]:
    ticket = requests.get(f"{portal}/api/tickets/{number}", headers=bearer(customer["token"]),
                          timeout=10)
    assert ticket.status_code == 200, ticket.text
    return ticket.json()["attachments"]


def upload(browser: Browser, number: int, *files: tuple):
    return browser.submit(f"/my/tickets/{number}", f"/my/tickets/{number}/attachments", {},
                          files=[("files", f) for f in files], allow_redirects=False)


def test_a_file_uploaded_on_the_page_is_listed_and_downloads_for_the_owner_only(portal):
    owner, customer = signed_in(portal)
    number = file_ticket(portal, customer)
    sent = upload(owner, number, ("../error log.txt", b"E42 paper jam\n", "text/plain"))
    assert sent.status_code == 303, sent.text[:500]
    page = owner.get(f"{portal}/my/tickets/{number}", timeout=10).text
    stored, = stored_files(portal, customer, number)
    assert stored["filename"] == "error log.txt"
    link = f"/tickets/{number}/attachments/{stored['id']}"
    assert f'href="{link}"' in page and "error log.txt" in page
    download = owner.get(f"{portal}{link}", timeout=10)
    assert download.status_code == 200 and download.content == b"E42 paper jam\n"
    assert download.headers["Content-Disposition"].startswith("attachment;")

    stranger, _ = signed_in(portal)
    assert stranger.get(f"{portal}{link}", timeout=10).status_code == 404
    assert upload(stranger, number, ("x.txt", b"not yours", "text/plain")).status_code == 404
    assert len(stored_files(portal, customer, number)) == 1
    anonymous = Browser(portal).get(f"{portal}{link}", timeout=10, allow_redirects=False)
    assert anonymous.status_code == 302 and "/signin" in anonymous.headers["Location"]


def test_refused_files_are_explained_in_the_page_language_and_not_stored(portal):
    owner, customer = signed_in(portal, language="ru")
    number = file_ticket(portal, customer)
    program = upload(owner, number, ("setup.exe", b"MZ\x90\x00", "application/octet-stream"))
    assert program.status_code == 400, program.text[:500]
    assert "Файлы такого типа не принимаются" in program.text and "setup.exe" in program.text
    assert 'id="upload-errors"' in program.text and "Traceback" not in program.text

    too_big = upload(owner, number, ("huge.txt", b"x" * (5 * MEGABYTE + 1), "text/plain"))
    assert too_big.status_code == 400, too_big.text[:500]
    assert "Файл слишком большой: не более 5 МБ." in too_big.text

    disguised = upload(owner, number, ("photo.png", b"plain text", "text/plain"))
    assert disguised.status_code == 400
    assert "Содержимое файла не соответствует его имени." in disguised.text
    nothing = upload(owner, number)
    assert nothing.status_code == 400 and "Выберите файл." in nothing.text
    assert stored_files(portal, customer, number) == []

    english, customer_en = signed_in(portal, language="en")
    other = file_ticket(portal, customer_en)
    refused = upload(english, other, ("setup.exe", b"MZ", "application/octet-stream"))
    assert refused.status_code == 400 and "Files of this type are not accepted" in refused.text


def test_filing_with_files_keeps_the_ticket_when_one_file_is_refused(portal):
    browser, customer = signed_in(portal)
    form = {"subject": "Screen flickers", "description": "Since the update",
            "department": "technical", "priority": "normal"}
    filed = browser.submit("/", "/tickets", form, allow_redirects=False, files=[
        ("files", ("screen.png", b"\x89PNG\r\n\x1a\nfake", "image/png")),
        ("files", ("virus.bat", b"echo hi", "application/octet-stream"))])
    assert filed.status_code == 303, filed.text[:500]
    page = browser.get(f"{portal}{filed.headers['Location']}", timeout=10).text
    number = int(filed.headers["Location"].rsplit("/", 1)[1])
    assert "Screen flickers" in page and "screen.png" in page
    assert "Эти файлы не приложены" in page and "virus.bat" in page
    assert [a["filename"] for a in stored_files(portal, customer, number)] == ["screen.png"]
    # The refusal is said once, not on every later visit.
    assert "virus.bat" not in browser.get(f"{portal}/my/tickets/{number}", timeout=10).text

    anonymous = Browser(portal)
    filed = anonymous.submit("/", "/tickets", dict(
        form, requester_email=f"anon-files-{number}@example.com", requester_name="Anon"),
        files=[("files", ("notes.txt", b"steps to reproduce", "text/plain"))])
    assert filed.status_code == 201 and "notes.txt" not in filed.text  # nothing refused


def test_rating_on_the_page_only_when_solved_only_once_and_only_one_to_five(portal):
    owner, customer = signed_in(portal)
    number = file_ticket(portal, customer)
    page, action = f"/my/tickets/{number}", f"/my/tickets/{number}/csat"
    assert 'id="csat-form"' not in owner.get(f"{portal}{page}", timeout=10).text
    early = owner.submit(page, action, {"score": "5"}, allow_redirects=False)
    assert early.status_code == 409 and "Оценить обращение можно, когда оно решено." in early.text

    solved = owner.submit(page, f"/my/tickets/{number}/status", {"status": "solved"},
                          allow_redirects=False)
    assert solved.status_code == 303, solved.text[:500]
    assert 'id="csat-form"' in owner.get(f"{portal}{page}", timeout=10).text
    stranger, _ = signed_in(portal)
    assert stranger.submit("/", action, {"score": "1"},
                           allow_redirects=False).status_code == 404
    for wrong in ("excellent", "0", "6", "4.5", ""):
        refused = owner.submit(page, action, {"score": wrong}, allow_redirects=False)
        assert refused.status_code == 400 and "Выберите оценку от 1 до 5." in refused.text
    assert requests.get(f"{portal}/api/tickets/{number}", headers=bearer(customer["token"]),
                        timeout=10).json()["csat"] is None

    rated = owner.submit(page, action, {"score": "4", "comment": "Quick <b>fix</b>"},
                         allow_redirects=False)
    assert rated.status_code == 303, rated.text[:500]
    shown = owner.get(f"{portal}{page}", timeout=10).text
    assert 'id="csat-given"' in shown and "4 из 5 — Хорошо" in shown
    assert 'id="csat-form"' not in shown
    assert "Quick &lt;b&gt;fix&lt;/b&gt;" in shown
    again = owner.submit("/", action, {"score": "1"}, allow_redirects=False)
    assert again.status_code == 409 and "Вы уже оценили это обращение." in again.text
    csat = requests.get(f"{portal}/api/tickets/{number}", headers=bearer(customer["token"]),
                        timeout=10).json()["csat"]
    assert csat["score"] == 4 and csat["comment"] == "Quick <b>fix</b>"


def test_a_body_over_the_upload_limit_gets_a_page_in_the_reader_language(portal):
    owner, customer = signed_in(portal)
    number = file_ticket(portal, customer)
    answer = upload(owner, number, ("huge.log", b"x" * (18 * MEGABYTE), "text/plain"))
    assert answer.status_code == 413 and "Файлы слишком большие" in answer.text
    assert stored_files(portal, customer, number) == []


def test_internal_notes_and_their_files_stay_off_every_customer_view(portal, agent_token):
    owner, customer = signed_in(portal, language="en")
    number = file_ticket(portal, customer)
    staff = bearer(agent_token)
    url = f"{portal}/api/tickets/{number}"
    assert requests.post(f"{url}/messages", headers=staff, timeout=10,
                         json={"body": "Public answer: clean the roller"}).status_code == 201
    assert requests.post(f"{url}/messages", headers=staff, timeout=10,
                         json={"body": "NOTE-b41 refund was refused", "public": False}
                         ).status_code == 201
    note_file = requests.post(f"{url}/attachments", headers=staff, timeout=10,
                              data={"public": "false"},
                              files={"file": ("NOTE-b41.txt", b"internal", "text/plain")})
    assert note_file.status_code == 201, note_file.text

    page = owner.get(f"{portal}/my/tickets/{number}", timeout=10)
    assert page.status_code == 200 and "Public answer: clean the roller" in page.text
    one = requests.get(url, headers=bearer(customer["token"]), timeout=10)
    listed = requests.get(f"{portal}/api/tickets", headers=bearer(customer["token"]), timeout=10)
    assert one.status_code == 200 and listed.status_code == 200
    assert number in [t["number"] for t in listed.json()["tickets"]]
    for customer_view in (page.text, one.text, listed.text):
        assert "NOTE-b41" not in customer_view
        assert note_file.json()["id"] not in customer_view
    assert owner.get(f"{portal}/tickets/{number}/attachments/{note_file.json()['id']}",
                     timeout=10).status_code == 404

    agent_view = requests.get(url, headers=staff, timeout=10).json()
    assert "NOTE-b41 refund was refused" in [m["body"] for m in agent_view["messages"]]
    assert "NOTE-b41.txt" in [a["filename"] for a in agent_view["attachments"]]

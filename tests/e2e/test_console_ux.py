"""Administration and customer details over HTTP against the whole stack (issue 14, "Admin and
customer UX"): ids made from names (Russian transliterated), categories as people type them,
paged administration lists, a department offered to customers only once it has an agent, the
request form's default department, "New request" in the customer's header, staff landing in
their console, times in the customer's thread, refusals marked on the input in the reader's
language."""
import re
import uuid

import pytest
import requests

from tests.e2e.conftest import DEMO_PASSWORD, STAFF, Browser, api_token, bearer, new_customer


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def admin(portal) -> Browser:
    return Browser(portal).sign_in(STAFF["admin"], DEMO_PASSWORD)


@pytest.fixture(scope="module")
def admin_token(portal) -> str:
    return api_token(portal, STAFF["admin"])


def offered_departments(page: str) -> list[str]:
    select = page.split('<select id="department"', 1)[1].split("</select>", 1)[0]
    return re.findall(r'<option value="([^"]+)"', select)


def chosen_department(page: str) -> str:
    select = page.split('<select id="department"', 1)[1].split("</select>", 1)[0]
    return re.search(r'<option value="([^"]+)" selected', select).group(1)


def test_a_department_made_from_its_russian_name_reaches_customers_once_it_has_an_agent(
        portal, admin, admin_token):
    suffix = uuid.uuid4().hex[:4]
    saved = admin.submit("/admin", "/admin/departments", {
        "id": "", "name": f"Returns {suffix}", "name_ru": f"Возвраты {suffix}",
        "queue_mode": "fifo"}, allow_redirects=False)
    assert saved.status_code == 303, saved.text[:2000]
    made = f"returns-{suffix}"
    departments = requests.get(f"{portal}/api/departments", timeout=10).json()["departments"]
    assert made in [d["id"] for d in departments]
    # The same name again does not overwrite it: a new id.
    again = admin.submit("/admin", "/admin/departments", {
        "name": f"Returns {suffix}", "queue_mode": "fifo"}, allow_redirects=False)
    assert again.status_code == 303
    departments = requests.get(f"{portal}/api/departments", timeout=10).json()["departments"]
    assert f"{made}-2" in [d["id"] for d in departments]

    home = requests.get(f"{portal}/", timeout=10).text
    assert made not in offered_departments(home)  # nobody works there yet
    assert chosen_department(home) == "general"  # not "billing", the alphabetically first
    clara = next(a for a in requests.get(f"{portal}/api/agents", headers=bearer(admin_token),
                                         timeout=10).json()["agents"]
                 if a["id"] == "agent-clara")
    try:
        assert admin.submit("/admin", "/admin/agents", {
            "id": "agent-clara", "departments": ", ".join(clara["departments"] + [made]),
            "skills": ", ".join(clara["skills"]), "languages": ", ".join(clara["languages"]),
            "capacity": str(clara["capacity"])}, allow_redirects=False).status_code == 303
        assert made in offered_departments(requests.get(f"{portal}/", timeout=10).text)
    finally:
        admin.submit("/admin", "/admin/agents", {
            "id": "agent-clara", "departments": ", ".join(clara["departments"]),
            "skills": ", ".join(clara["skills"]), "languages": ", ".join(clara["languages"]),
            "capacity": str(clara["capacity"])})


def test_sla_policy_and_calendar_ids_are_made_from_names(portal, admin, admin_token):
    name = unique("Выходные дни")
    assert admin.submit("/admin/sla", "/admin/sla/calendars", {
        "name": name, "time_zone": "Europe/Moscow", "always_open": "on"},
        allow_redirects=False).status_code == 303
    calendars = requests.get(f"{portal}/api/sla/calendars", headers=bearer(admin_token),
                             timeout=10).json()["calendars"]
    calendar = next(c for c in calendars if c["name"] == name)
    assert calendar["id"].startswith("vykhodnye-dni-")
    policy = unique("VIP customers")
    assert admin.submit("/admin/sla", "/admin/sla/policies", {
        "name": policy, "priority": "low", "organization": f"org{uuid.uuid4().hex[:6]}",
        "targets.first_response": "60", "targets.resolution": "600",
        "warning_threshold": "0.8"}, allow_redirects=False).status_code == 303
    policies = requests.get(f"{portal}/api/sla/policies", headers=bearer(admin_token),
                            timeout=10).json()["policies"]
    made = next(p for p in policies if p["name"] == policy)
    assert made["id"].startswith("vip-customers-")
    admin.submit("/admin/sla", f"/admin/sla/policies/{made['id']}/delete", {})
    admin.submit("/admin/sla", f"/admin/sla/calendars/{calendar['id']}/delete", {})


def test_an_article_gets_its_id_from_the_title_and_account_is_a_category(portal, admin):
    title = unique("How to close my account")
    saved = admin.submit("/admin/articles", "/admin/articles", {
        "title": title, "language": "en", "body": "Write to us from the address you use.",
        "category": "Account", "tags": "account"}, allow_redirects=False)
    assert saved.status_code == 303, saved.text[:3000]
    article_id = title.lower().replace(" ", "-")
    page = admin.get(f"{portal}/admin/articles", params={"article": article_id}, timeout=10)
    assert f'id: {article_id}' in page.text
    assert 'value="account"' in page.text  # the category field of the editor


def test_long_administration_lists_are_paged(portal, admin, admin_token):
    made = []
    for n in range(26):
        created = requests.post(f"{portal}/api/canned", headers=bearer(admin_token), timeout=10,
                                json={"title": f"Paged {n}", "body": "Thanks, ${customer_name}.",
                                      "language": "en", "scope": "shared"})
        assert created.status_code == 201, created.text
        made.append(created.json()["id"])
    try:
        first = admin.get(f"{portal}/admin/canned", timeout=10).text
        assert first.count('<tr id="canned-') == 25 and 'id="canned-list-next"' in first
        last_page = int(re.search(r"Page 1 of (\d+)", first).group(1))
        last = admin.get(f"{portal}/admin/canned", params={"page": last_page}, timeout=10).text
        assert 'id="canned-list-prev"' in last and 'id="canned-list-next"' not in last
        shown = set(re.findall(r'<tr id="canned-([^"]+)"', first)) | set(
            re.findall(r'<tr id="canned-([^"]+)"', last))
        assert not set(re.findall(r'<tr id="canned-([^"]+)"', first)) & set(
            re.findall(r'<tr id="canned-([^"]+)"', last))
        assert shown
        for odd in ("0", "-1", "x", "99999"):  # clamps, never a 500
            assert admin.get(f"{portal}/admin/canned", params={"page": odd},
                             timeout=10).status_code == 200
    finally:
        for canned_id in made:
            requests.delete(f"{portal}/api/canned/{canned_id}", headers=bearer(admin_token),
                            timeout=10)


def test_a_refusal_is_marked_on_its_input_in_the_readers_language(portal, admin):
    answer = admin.submit("/admin/sla", "/admin/sla/policies?lang=ru", {
        "name": unique("Плохая"), "priority": "low", "targets.first_response": "-5",
        "targets.resolution": "", "warning_threshold": "0.8"})
    assert answer.status_code == 400
    text = answer.text
    assert re.search(r'id="policy-targets-first_response"[^>]*aria-invalid="true"', text)
    message = text.split('id="policy-targets-first_response-error">', 1)[1].split("</p>")[0]
    assert re.search("[а-яА-Я]", message), message  # Russian, not marshmallow's English
    assert "<strong>targets" not in text and "_schema" not in text
    assert "forms.js" in text  # the script that moves the focus to the marked input


def test_people_land_where_they_work_and_customers_see_new_request(portal):
    for who in ("agent", "supervisor", "admin"):
        signed = Browser(portal).submit("/signin", "/signin", {
            "email": STAFF[who], "password": DEMO_PASSWORD}, allow_redirects=False)
        assert signed.headers["Location"].endswith("/agent"), who
    customer = new_customer(portal, name="Тина Тестова", language="ru")
    browser = Browser(portal)
    signed = browser.submit("/signin", "/signin", {"email": customer["email"],
                                                    "password": customer["password"]},
                            allow_redirects=False)
    assert signed.headers["Location"].endswith("/my/tickets")
    assert 'id="nav-new-request"' in browser.get(f"{portal}/my/tickets", timeout=10).text
    staff = Browser(portal).sign_in(STAFF["agent"], DEMO_PASSWORD)
    assert 'id="nav-new-request"' not in staff.get(f"{portal}/kb", timeout=10).text

    made = requests.post(f"{portal}/api/tickets", headers=bearer(customer["token"]),
                         timeout=15, json={"subject": "Когда придёт заказ?",
                                           "description": "Жду неделю.", "language": "ru"})
    assert made.status_code == 201, made.text
    number = made.json()["number"]
    assert requests.post(f"{portal}/api/tickets/{number}/messages",
                         headers=bearer(customer["token"]), timeout=10,
                         json={"body": "Номер заказа 77."}).status_code == 201
    page = browser.get(f"{portal}/my/tickets/{number}?lang=ru", timeout=10).text
    thread = page.split('id="thread"', 1)[1].split("</ol>", 1)[0]
    assert len(re.findall(r'<time datetime="\d{4}-\d\d-\d\dT[^"]+">[^<]*\d\d:\d\d', thread)) == 2
    requests.post(f"{portal}/api/tickets/{number}/status", headers=bearer(customer["token"]),
                  timeout=10, json={"status": "solved"})

"""Every API endpoint and customer page x every role x someone else's ticket, over HTTP against
the whole stack.  Customer B must find customer A's ticket "not found" (404, never 403)
everywhere; staff reach it; anonymous callers are asked to sign in.  A new API endpoint fails
test_matrix_covers_every_documented_endpoint until it is given a row here."""
import uuid

import pytest
import requests

from tests.e2e.conftest import STAFF, Browser, api_token, bearer, new_customer

ROLES = ("anonymous", "owner", "other", "agent", "supervisor", "admin")


def by_role(anonymous, owner, other, agent, supervisor=None, admin=None) -> dict:
    return dict(zip(ROLES, (anonymous, owner, other, agent, supervisor or agent,
                            admin or supervisor or agent)))


class World:
    """Customer A (the owner) with ticket T; customer B (the other); one token per staff role."""

    def __init__(self, portal: str):
        self.portal = portal
        self.owner = new_customer(portal, name="Owner A")
        self.other = new_customer(portal, name="Other B")
        self.tokens = {"anonymous": None, "owner": self.owner["token"],
                       "other": self.other["token"]}
        self.passwords = {"owner": (self.owner["email"], self.owner["password"]),
                          "other": (self.other["email"], self.other["password"])}
        for role, email in STAFF.items():
            self.tokens[role] = api_token(portal, email)
            self.passwords[role] = (email, "demo-pass-1")
        self.ticket = self.file_for_owner()
        self.browsers: dict[str, Browser] = {}

    def file_for_owner(self) -> int:
        """A fresh ticket of A's (for rows that change the ticket when they succeed)."""
        filed = requests.post(f"{self.portal}/api/tickets", timeout=10, json={
            "subject": "Owner's private problem", "description": "Only A and staff may see this",
            "requester_email": self.owner["email"]})
        assert filed.status_code == 201, filed.text
        return filed.json()["number"]

    def browser(self, role: str) -> Browser:
        if role not in self.browsers:
            browser = Browser(self.portal)
            if role != "anonymous":
                browser.sign_in(*self.passwords[role])
            self.browsers[role] = browser
        return self.browsers[role]


@pytest.fixture(scope="module")
def world(portal):
    return World(portal)


# (method, path as documented, request maker, expected status by role).  A request maker gets
# (world, role, succeeds) and returns (concrete path, json body); `succeeds` says whether this
# role is expected to change something, so it gets a fresh object instead of the shared one.
API_ROWS = [
    ("post", "/api/tickets", lambda w, r, s: ("/api/tickets", {
        "subject": "Matrix filing", "description": "d",
        **({"requester_email": f"anon-{uuid.uuid4().hex[:8]}@example.com"}
           if r == "anonymous" else {})}), by_role(201, 201, 201, 201)),
    ("get", "/api/tickets", lambda w, r, s: ("/api/tickets", None), by_role(401, 200, 200, 200)),
    ("get", "/api/tickets/{number}", lambda w, r, s: (f"/api/tickets/{w.ticket}", None),
     by_role(401, 200, 404, 200)),
    ("post", "/api/tickets/{number}/messages", lambda w, r, s: (
        f"/api/tickets/{w.ticket}/messages", {"body": f"reply by {r}"}),
     by_role(401, 201, 404, 201)),
    ("post", "/api/tickets/{number}/status", lambda w, r, s: (
        f"/api/tickets/{w.file_for_owner() if s else w.ticket}/status", {"status": "solved"}),
     by_role(401, 200, 404, 200)),
    ("post", "/api/auth/signup", lambda w, r, s: ("/api/auth/signup", {
        "email": f"m-{uuid.uuid4().hex[:8]}@example.com", "password": "matrix-pass-1",
        "name": "M"}), by_role(201, 201, 201, 201)),
    ("post", "/api/auth/token", lambda w, r, s: ("/api/auth/token", {
        "email": w.other["email"], "password": w.other["password"]}),
     by_role(201, 201, 201, 201)),
    ("delete", "/api/auth/token", None, by_role(401, 200, 200, 200)),
    ("post", "/api/auth/password-reset", lambda w, r, s: (
        "/api/auth/password-reset", {"email": "nobody-matrix@example.com"}),
     by_role(202, 202, 202, 202)),
    ("post", "/api/auth/password-reset/confirm", lambda w, r, s: (
        "/api/auth/password-reset/confirm", {"token": "forged", "password": "matrix-pass-1"}),
     by_role(400, 400, 400, 400)),
    ("get", "/api/me", lambda w, r, s: ("/api/me", None), by_role(401, 200, 200, 200)),
    ("get", "/api/users", lambda w, r, s: ("/api/users", None),
     by_role(401, 403, 403, 403, 403, 200)),
    ("post", "/api/users/{user_id}/role", lambda w, r, s: (
        f"/api/users/{w.other['id']}/role", {"role": "customer"}),
     by_role(401, 403, 403, 403, 403, 200)),
    ("get", "/api/suggest", lambda w, r, s: ("/api/suggest?q=password", None),
     by_role(200, 200, 200, 200)),
    ("get", "/api/articles", lambda w, r, s: ("/api/articles", None), by_role(200, 200, 200, 200)),
    ("get", "/api/articles/{article_id}", lambda w, r, s: (
        "/api/articles/reset-password", None), by_role(200, 200, 200, 200)),
    ("post", "/api/feedback", lambda w, r, s: (
        "/api/feedback", {"kind": "article", "id": "reset-password"}),
     by_role(201, 201, 201, 201)),
    ("get", "/api/departments", lambda w, r, s: ("/api/departments", None),
     by_role(200, 200, 200, 200)),
    ("get", "/api/agents", lambda w, r, s: ("/api/agents", None), by_role(401, 403, 403, 200)),
]

PAGE_ROWS = [
    ("get", "/my/tickets/{number}", lambda w, r, s: (f"/my/tickets/{w.ticket}", None),
     by_role(302, 200, 404, 200)),
    ("post", "/my/tickets/{number}/reply", lambda w, r, s: (
        f"/my/tickets/{w.ticket}/reply", {"body": f"page reply by {r}"}),
     by_role(302, 303, 404, 303)),
    ("post", "/my/tickets/{number}/status", lambda w, r, s: (
        f"/my/tickets/{w.file_for_owner() if s else w.ticket}/status", {"status": "solved"}),
     by_role(302, 303, 404, 303)),
    ("get", "/my/tickets", lambda w, r, s: ("/my/tickets", None), by_role(302, 200, 200, 200)),
]


def test_matrix_covers_every_documented_endpoint(portal):
    spec = requests.get(f"{portal}/api/openapi.json", timeout=10).json()
    documented = {(method, path) for path, ops in spec["paths"].items() for method in ops}
    assert documented == {(method, path) for method, path, _, _ in API_ROWS}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method, path, make, expected", API_ROWS,
                         ids=[f"{m} {p}" for m, p, _, _ in API_ROWS])
def test_api(world, role, method, path, make, expected):
    if make is None:  # revoking: a token of its own, so the role's main token lives on
        token = world.tokens[role] and api_token(world.portal, *world.passwords[role])
        url, body = "/api/auth/token", None
    else:
        token = world.tokens[role]
        url, body = make(world, role, expected[role] < 300)
    answer = requests.request(method, f"{world.portal}{url}", json=body, timeout=10,
                              headers=bearer(token) if token else {})
    assert answer.status_code == expected[role], answer.text
    if answer.status_code >= 400:
        assert answer.json()["errors"], answer.text
    if role == "other" and (method, path) == ("get", "/api/tickets"):
        assert world.ticket not in [t["number"] for t in answer.json()["tickets"]]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method, path, make, expected", PAGE_ROWS,
                         ids=[f"{m} {p}" for m, p, _, _ in PAGE_ROWS])
def test_pages(world, role, method, path, make, expected):
    browser = world.browser(role)
    url, form = make(world, role, expected[role] < 400)
    if method == "post":
        # A real form token from a page this person may open, so only authorization decides.
        answer = browser.submit("/", url, form, allow_redirects=False)
    else:
        answer = browser.get(f"{world.portal}{url}", timeout=10, allow_redirects=False)
    assert answer.status_code == expected[role], answer.text[:500]
    if answer.status_code == 302:
        assert "/signin" in answer.headers["Location"]
    if role == "other":
        assert "Owner&#39;s private problem" not in answer.text
        assert "Owner's private problem" not in answer.text

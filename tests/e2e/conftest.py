import mailbox
import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from deploy.local import stack
from tests.e2e.mail_relay import delay_file
from tests.support import eventually, stack_env

DEMO_PASSWORD = "demo-pass-1"
STAFF = {"agent": "agent.anna@example.com", "supervisor": "supervisor@example.com",
         "admin": "admin@example.com"}
# Per-address limits are raised for the suite (every request comes from 127.0.0.1); the
# per-account limits stay at their defaults and are tested in test_portal_accounts.py.
SUITE_LIMITS = {"HELPDESK_TICKET_IP_LIMIT": "100000/hour", "HELPDESK_LOGIN_IP_LIMIT": "100000/hour",
                "HELPDESK_SIGNUP_LIMIT": "100000/hour",
                # Suggestions wait for search up to 2 s instead of 300 ms: on a shared, loaded
                # test machine a normal answer may take longer than the production budget, and
                # the suite checks what is suggested.  test_slow_dependency.py holds /api/suggest
                # to this budget with search paused.
                "HELPDESK_SUGGEST_BUDGET_MS": "2000",
                # A failed webhook delivery is a dead letter at once (not after an hour of
                # back-off), so the dead-letter page can be tested; retries are tested in
                # tests/integration/test_webhooks.py with an injected clock.
                "HELPDESK_WEBHOOK_MAX_ATTEMPTS": "1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def mail_sink(tmp_path_factory):
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that stores what it receives in a Maildir."""
    maildir = tmp_path_factory.mktemp("mail") / "inbox"
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                                "-c", "tests.e2e.mail_relay.SlowableMailbox", str(maildir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               cwd=Path(__file__).resolve().parents[2])
    try:
        eventually(lambda: _accepts(port))
        yield {"host": "127.0.0.1", "port": port, "maildir": maildir}
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def slow_mail(sink: dict, seconds: float):
    """The relay holds every message ``seconds`` before taking it, while in this block."""
    slow = delay_file(sink["maildir"])
    slow.write_text(str(seconds))
    try:
        yield
    finally:
        slow.unlink()


class FromAddress(requests.adapters.HTTPAdapter):
    """Connects from another loopback address (any 127.x.y.z is this machine), so the portal's
    per-address limits count this client apart from the rest of the suite."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, source_address=(self.address, 0), **kwargs)


def client_from(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", FromAddress(address))
    return session


# The sink's Maildir, also for the browser scripts that run in their own processes.
MAILDIR_VARIABLE = "HELPDESK_TEST_MAILDIR"


def mails_to(sink: dict, address: str) -> list:
    if not sink["maildir"].exists():
        return []
    return [m for m in mailbox.Maildir(sink["maildir"], create=False).values()
            if m["To"] == address]


def emailed_link(address: str, pattern: str) -> re.Match:
    """The first match of ``pattern`` in mail to ``address`` in the suite's sink (waits)."""
    sink = {"maildir": Path(os.environ[MAILDIR_VARIABLE])}

    def found():
        for message in mails_to(sink, address):
            match = re.search(pattern, message.get_payload(decode=True).decode())
            if match:
                return match
        return None
    return eventually(found)


def sign_up(portal: str, email: str, password: str, name: str, language: str = "en") -> dict:
    """Sign up as a person does: ask (202, whatever the address), open the emailed link.
    Answers the new account (UserView)."""
    asked = requests.post(f"{portal}/api/auth/signup", timeout=10, json={
        "email": email, "password": password, "name": name, "language": language})
    assert asked.status_code == 202, asked.text
    token = emailed_link(email, r"/signup/confirm/(\S+)").group(1)
    made = requests.post(f"{portal}/api/auth/signup/confirm", json={"token": token}, timeout=10)
    assert made.status_code == 201, made.text
    return made.json()


@pytest.fixture(scope="session")
def portal(mail_sink):
    """The whole help desk as separate processes (as `make run` starts it) on the test servers,
    started once for every e2e module."""
    stack_env()
    os.environ.update(SUITE_LIMITS, HELPDESK_SMTP_RELAY_HOST=mail_sink["host"],
                      HELPDESK_SMTP_RELAY_PORT=str(mail_sink["port"]),
                      **{MAILDIR_VARIABLE: str(mail_sink["maildir"])})
    settings = stack.Settings.from_env("test")
    stack.services_up(settings)
    stack.seed(settings)
    yield os.environ.get("HELPDESK_PORTAL_URL", settings.portal_url)
    stack.services_down(settings)


def api_token(portal: str, email: str, password: str = DEMO_PASSWORD) -> str:
    reply = requests.post(f"{portal}/api/auth/token", timeout=10,
                          json={"email": email, "password": password})
    assert reply.status_code == 201, reply.text
    return reply.json()["token"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def agent_token(portal):
    return api_token(portal, STAFF["agent"])


def unique(prefix: str) -> str:
    """A fresh id or name for something a test makes on the shared e2e stack."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def admin_api(portal: str):
    """Admin API calls, to set things up or look at an outcome (not the thing under test):
    ``call(method, path, body=None, expect=200)`` -> the JSON answer."""
    token = api_token(portal, STAFF["admin"])

    def call(method: str, path: str, body=None, expect: int = 200):
        answer = requests.request(method, f"{portal}{path}", json=body, headers=bearer(token),
                                  timeout=10)
        assert answer.status_code == expect, answer.text
        return answer.json() if answer.content else None
    return call


def saved(answer) -> None:
    """An administration form was accepted: back to its page with "saved"."""
    assert answer.status_code == 303, answer.text[:2000]
    assert "saved=" in answer.headers["Location"]


def new_customer(portal: str, name: str = "Test Customer", language: str = "en") -> dict:
    """A freshly signed-up customer: {"email", "password", "token", "id"}."""
    email = f"c-{uuid.uuid4().hex[:10]}@example.com"
    password = "customer-pass-" + uuid.uuid4().hex[:6]
    made = sign_up(portal, email, password, name, language)
    return {"email": email, "password": password, "id": made["id"],
            "token": api_token(portal, email, password)}


class Browser(requests.Session):
    """A person at a browser, without JavaScript: cookies, and the CSRF token of each form."""

    def __init__(self, portal: str):
        super().__init__()
        self.portal = portal

    def csrf(self, path: str) -> str:
        page = self.get(f"{self.portal}{path}", timeout=10)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found, f"no CSRF token on {path}: {page.status_code}"
        return found.group(1)

    def submit(self, form_page: str, action: str, data: dict, **kwargs):
        data = dict(data, csrf_token=self.csrf(form_page))
        return self.post(f"{self.portal}{action}", data=data, timeout=10, **kwargs)

    def sign_in(self, email: str, password: str) -> "Browser":
        signed = self.submit("/signin", "/signin", {"email": email, "password": password},
                             allow_redirects=False)
        assert signed.status_code == 303, signed.text
        return self


@contextmanager
def paused(service: str):
    """Every process of one service of the e2e stack stopped (SIGSTOP) for the duration: a
    real dependency that takes its messages and answers nothing, until it is resumed."""
    settings = stack.Settings.from_env("test")
    pids = [pid for f in sorted((settings.state_dir / "pids").glob(f"{service}-*.pid"))
            if (pid := stack.read_pid(settings, f.stem))]
    assert pids, f"no running {service} process to pause"
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield pids
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


@contextmanager
def department_scoping(portal: str, on: bool):
    """The desk's department-scoped agents setting (admin API) as given, restored after."""
    admin = bearer(api_token(portal, STAFF["admin"]))
    url = f"{portal}/api/admin/access-settings"
    before = requests.get(url, headers=admin, timeout=10).json()
    changed = requests.put(url, headers=admin, timeout=10,
                           json={"department_scoped_agents": on})
    assert changed.status_code == 200, changed.text
    try:
        yield
    finally:
        requests.put(url, headers=admin, timeout=10, json=before)

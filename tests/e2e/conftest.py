import os

import pytest
import requests

from deploy.local import stack
from tests.support import stack_env


@pytest.fixture(scope="session")
def portal():
    """The whole help desk as separate processes (as `make run` starts it) on the test servers."""
    stack_env()
    settings = stack.Settings.from_env("test")
    stack.services_up(settings)
    stack.seed(settings)
    yield os.environ.get("HELPDESK_PORTAL_URL", settings.portal_url)
    stack.services_down(settings)


@pytest.fixture(scope="session")
def agent_token(portal):
    reply = requests.post(f"{portal}/api/auth/token", json={
        "email": "agent.anna@example.com", "password": "demo-pass-1"}, timeout=10)
    assert reply.status_code == 201, reply.text
    return reply.json()["token"]

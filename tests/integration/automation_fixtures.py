"""Fixtures of the automation tests: intake and the automation service running together
(mail to a real SMTP sink, three webhook attempts), and the automation's injectable clock.
Import ``runner`` and ``clock`` into a test module to use them."""
import pytest
from services.automation.service import AutomationService
from services.intake.service import IntakeService
from tests.support import frozen_clock, running


@pytest.fixture(scope="module")
def runner(config, sink):
    cfg = dict(config, WEBHOOK_MAX_ATTEMPTS=3, SMTP_RELAY_HOST="127.0.0.1",
               SMTP_RELAY_PORT=sink.port, MAIL_FROM="support@desk.test")
    with running(cfg, IntakeService, AutomationService) as r:
        yield r


@pytest.fixture
def clock(runner):
    """The automation's clock, frozen now and moved by the test."""
    with frozen_clock(runner, "automation") as frozen:
        yield frozen

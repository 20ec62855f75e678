import smtplib
from dataclasses import dataclass
from datetime import timedelta

from nameko.extensions import DependencyProvider

from services.common.nameko_support import ServiceDatabase

from .domain import DEFAULT_REOPEN_WINDOW
from .repository import TicketRepository


class TicketStore(ServiceDatabase):
    repository = TicketRepository


@dataclass(frozen=True)
class IntakeSettings:
    reopen_window: timedelta
    smtp_host: str | None      # outbound relay; None: notifications are not sent
    smtp_port: int
    mail_from: str
    portal_url: str
    csat_secret: str
    mail_token_secret: str     # signs the per-ticket reply addresses


class Settings(DependencyProvider):
    """Intake's knobs from the nameko config (deploy/nameko.yaml maps them to env vars)."""

    def setup(self):
        c = self.container.config
        self.settings = IntakeSettings(
            reopen_window=timedelta(days=float(c.get("REOPEN_WINDOW_DAYS")
                                               or DEFAULT_REOPEN_WINDOW.days)),
            smtp_host=c.get("SMTP_RELAY_HOST") or None,
            smtp_port=int(c.get("SMTP_RELAY_PORT") or 25),
            mail_from=c.get("MAIL_FROM") or "support@helpdesk.localhost",
            portal_url=(c.get("PORTAL_URL") or "http://127.0.0.1:8080").rstrip("/"),
            csat_secret=c.get("CSAT_SECRET") or "change-me-csat-secret",
            mail_token_secret=c.get("MAIL_TOKEN_SECRET") or "change-me-mail-token-secret")

    def get_dependency(self, worker_ctx):
        return self.settings


class Mailer(DependencyProvider):
    """Sends one message over SMTP to the configured relay."""

    def setup(self):
        c = self.container.config
        self.host = c.get("SMTP_RELAY_HOST") or None
        self.port = int(c.get("SMTP_RELAY_PORT") or 25)

    def get_dependency(self, worker_ctx):
        return self

    @property
    def enabled(self) -> bool:
        return self.host is not None

    def send(self, message) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            smtp.send_message(message)

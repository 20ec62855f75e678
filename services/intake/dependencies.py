from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from nameko.extensions import DependencyProvider
from prometheus_client.core import GaugeMetricFamily

from services.common import correlation, outbox
from services.common.coalesce import Coalescer
from services.common.nameko_support import ServiceDatabase
from services.common.smtp import SmtpConnections

from services.common.clock import SystemClock

from .domain import DEFAULT_REOPEN_WINDOW, check_secrets
from .repository import UNSETTLED, TicketRepository
from .rollups import OPEN_STATUSES


class TicketStore(ServiceDatabase):
    repository = TicketRepository

    def setup(self):
        super().setup()
        # Made at first start, not at first use: every replica then uses the same ones.
        if not self.container.config.get("CSAT_SECRET"):
            self.repository(self.db).csat_secrets(SystemClock().now())
        if not self.container.config.get("MAIL_TOKEN_SECRET"):
            self.repository(self.db).mail_token_secret()


class Settling(DependencyProvider):
    """New tickets' events published, then the tickets settled (``settle``), both in batches:
    under a burst one transaction rolls up many.  The tickets this process has in hand
    (written, not settled yet) are left alone by its own sweep: a writer that is slow, not
    dead, would have their events published twice, adding load just when there is too much.

    The events of the tickets written within ``publish_linger`` of each other go out
    together, one message per type and bundle (outbox.send): five services consume every
    ticket_created, and RabbitMQ's work is per message and queue (BENCHMARKS.md, seventeenth
    round).  The customer has their answer already; the pipeline starts that much later.
    A solve or reply sent within that time may reach a consumer before the creation: each
    consumer takes events in either order (routing remembers a solve that came first and
    places the ticket nowhere; SLA retries, then holds such events for the creation).
    A settling batch gathers for ``linger``: nobody waits on it (the sweep's claim lasts
    seconds), and each is a transaction of five commands whatever its size, so under load
    fewer and larger ones cost less."""

    # 0.02 s was tried: at c=1 routing then took most creations alone, the careful way, for a
    # sixth fewer tickets per second (BENCHMARKS.md, twentieth round).
    publish_linger = 0.05
    linger = 0.2

    def setup(self):
        self.publishing: Coalescer[tuple[outbox.Dispatch, dict]] | None = None
        self.batches: Coalescer[dict] | None = None
        self.in_hand: set[str] = set()

    def get_dependency(self, worker_ctx):
        return self

    def taking(self, ticket_id: str) -> None:
        self.in_hand.add(ticket_id)

    def release(self, ticket_ids: list[str]) -> None:
        """Settled, or left to the sweep (a failed publish or settle)."""
        self.in_hand.difference_update(ticket_ids)

    def publish(self, store: TicketRepository, dispatch: outbox.Dispatch, ticket: dict) -> None:
        """Take ``ticket`` (as stored) in hand and publish its events with those of the
        tickets written meanwhile, then settle them; should publishing fail, they are left
        to the sweep (``settle_left_behind``)."""
        self.taking(ticket["_id"])
        if self.publishing is None:
            self.publishing = Coalescer(lambda written: self._publish(store, written),
                                        "publishing new tickets' events",
                                        linger=self.publish_linger)
        self.publishing.add((dispatch, ticket))

    def _publish(self, store: TicketRepository,
                 written: list[tuple[outbox.Dispatch, dict]]) -> None:
        """With the first writer's dispatcher (its worker's headers go with the message) and
        correlation id; a bundle carries each event's own id."""
        tickets = [ticket for _, ticket in written]
        try:
            events = [doc for ticket in tickets for doc in ticket[UNSETTLED]["events"]]
            correlation.bind(events[0].get("correlation_id") if events else None)
            outbox.send(written[0][0], events)
        except Exception:
            self.release([ticket["_id"] for ticket in tickets])
            raise
        for ticket in tickets:
            self.add(store, ticket)

    def add(self, store: TicketRepository, ticket: dict) -> None:
        """``ticket``: as stored (see ``TicketRepository.settle``)."""
        if self.batches is None:
            self.batches = Coalescer(lambda tickets: self._settle(store, tickets),
                                     "settling new tickets", linger=self.linger)
        self.batches.add(ticket)

    def _settle(self, store: TicketRepository, tickets: list[dict]) -> None:
        try:
            store.settle(tickets)
        finally:
            self.release([t["_id"] for t in tickets])


# See open_ticket_gauges: two sweeps after the writer's claim.
UNSETTLED_NOTICED = timedelta(seconds=2)


@dataclass(frozen=True)
class IntakeSettings:
    reopen_window: timedelta
    smtp_host: str | None      # outbound relay; None: notifications are not sent
    smtp_port: int
    mail_from: str
    portal_url: str
    csat_secret: str | None            # None: the one made at first start, kept in Mongo
    csat_previous_secrets: list[str]   # with csat_secret: retired ones still accepted
    mail_token_secret: str | None      # signs per-ticket reply addresses; None: kept


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
            csat_secret=str(c.get("CSAT_SECRET") or "") or None,
            csat_previous_secrets=[s.strip() for s in str(c.get("CSAT_PREVIOUS_SECRETS") or "")
                                   .split(",") if s.strip()],
            mail_token_secret=str(c.get("MAIL_TOKEN_SECRET") or "") or None)
        # A public or short secret would let anyone sign rating links or reply addresses.
        check_secrets([self.settings.csat_secret] if self.settings.csat_secret else [],
                      "HELPDESK_CSAT_SECRET")
        check_secrets(self.settings.csat_previous_secrets, "HELPDESK_CSAT_PREVIOUS_SECRETS")
        check_secrets([self.settings.mail_token_secret] if self.settings.mail_token_secret
                      else [], "HELPDESK_MAIL_TOKEN_SECRET")

    def get_dependency(self, worker_ctx):
        return self.settings


class Mailer(DependencyProvider):
    """Sends messages over SMTP to the configured relay, on kept-open connections."""

    def setup(self):
        c = self.container.config
        self.host = c.get("SMTP_RELAY_HOST") or None
        self.port = int(c.get("SMTP_RELAY_PORT") or 25)
        self.connections = SmtpConnections(self.host, self.port) if self.host else None

    def stop(self):
        if self.connections is not None:
            self.connections.close()

    def get_dependency(self, worker_ctx):
        return self

    @property
    def enabled(self) -> bool:
        return self.host is not None

    def send(self, message) -> None:
        """Deliver or raise (the event is then redelivered and the mail tried again)."""
        correlation.stamp(message)
        self.connections.send(message)

    def send_all(self, messages: list) -> list[Exception | None]:
        """Deliver each, several at once; what each send raised, or None (see
        ``SmtpConnections.send_all``)."""
        for message in messages:
            correlation.stamp(message)
        return self.connections.send_all(messages)


def open_ticket_gauges(db) -> list[GaugeMetricFamily]:
    """Open tickets per status (metrics scrape; counted on the ``status`` index)."""
    gauge = GaugeMetricFamily("helpdesk_open_tickets", "Tickets not solved or closed, by status",
                              labels=["status"])
    for status in OPEN_STATUSES:
        gauge.add_metric([status], db.tickets.count_documents({"status": status}))
    # Past their writer's claim and a sweep or two: normally none; a growing count means their
    # events are not going out.
    unsettled = GaugeMetricFamily(
        "helpdesk_unsettled_new_tickets",
        "New tickets whose events or rollups are still owed well past their writer's claim",
        value=db.tickets.count_documents({f"{UNSETTLED}.until": {"$lte": datetime.now(
            timezone.utc) - UNSETTLED_NOTICED}}))
    return [gauge, unsettled]

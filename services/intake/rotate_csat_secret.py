"""Rotate the secret that signs CSAT rating links: ``python -m services.intake.rotate_csat_secret``.

For the secret intake made at first start and keeps in its database (HELPDESK_CSAT_SECRET
unset).  New links are signed with a new secret at once, on every replica; links already
mailed keep working until they expire (CSAT_LINK_VALIDITY), because the old secret is still
accepted that long.  With HELPDESK_CSAT_SECRET set, rotate by setting a new value and moving
the old one to HELPDESK_CSAT_PREVIOUS_SECRETS instead.  Reads ``HELPDESK_MONGO_URI`` and
``HELPDESK_MONGO_DB`` like the services."""
from __future__ import annotations

import os

import click

from services.common.clock import SystemClock
from services.common.storage import service_database

from .domain import CSAT_LINK_VALIDITY
from .repository import TicketRepository


@click.command()
def main() -> None:
    """Sign new CSAT links with a new secret; keep accepting the old one for a while."""
    env = os.environ
    if env.get("HELPDESK_CSAT_SECRET"):
        raise click.ClickException("HELPDESK_CSAT_SECRET is set, so intake does not use the "
                                   "stored secret: set a new value there and move the old one "
                                   "to HELPDESK_CSAT_PREVIOUS_SECRETS.")
    db = service_database(env.get("HELPDESK_MONGO_URI", "mongodb://127.0.0.1:27017/"
                                  "?retryWrites=false&directConnection=true"),
                          env.get("HELPDESK_MONGO_DB", "helpdesk"), "intake")
    repo = TicketRepository(db)
    repo.rotate_csat_secret(SystemClock().now())
    click.echo(f"New CSAT secret in use; the previous one is accepted for "
               f"{CSAT_LINK_VALIDITY.days} more days.")


if __name__ == "__main__":
    main()

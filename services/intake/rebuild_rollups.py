"""Recompute the supervisor report's daily rollups from intake's tickets:
``python -m services.intake.rebuild_rollups``.

For upgrades (tickets filed before rollups existed) and repair.  The rollups are replaced as a
whole, not in one transaction: stop intake first (``deploy/local/stack down`` or scale it to
zero), or changes made while it runs may be counted twice or not at all until the next
rebuild.  Reads ``HELPDESK_MONGO_URI`` and ``HELPDESK_MONGO_DB`` like the services."""
from __future__ import annotations

import os
import time

import click
from tqdm import tqdm

from services.common.storage import service_database

from .repository import TicketRepository


def rebuild(repo: TicketRepository, show_progress: bool = True) -> dict:
    total = repo.tickets.estimated_document_count()
    clock = time.monotonic()
    with tqdm(total=total, desc="tickets", unit="ticket", disable=not show_progress,
              mininterval=0.5) as bar:
        counts = repo.rebuild_rollups(progress=bar.update)
    return dict(counts, seconds=round(time.monotonic() - clock, 2))


@click.command()
@click.option("--quiet", is_flag=True, help="No progress bar.")
def main(quiet: bool) -> None:
    """Rebuild intake's report rollups from its tickets."""
    env = os.environ
    db = service_database(env.get("HELPDESK_MONGO_URI", "mongodb://127.0.0.1:27017/"
                                  "?retryWrites=false&directConnection=true"),
                          env.get("HELPDESK_MONGO_DB", "helpdesk"), "intake")
    repo = TicketRepository(db)
    repo.ensure_indexes()
    report = rebuild(repo, show_progress=not quiet)
    click.echo(f"{report['tickets']} tickets read; {report['daily']} daily and "
               f"{report['agents']} per-agent rollup documents written in "
               f"{report['seconds']} s")


if __name__ == "__main__":
    main()

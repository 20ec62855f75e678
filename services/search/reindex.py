"""Rebuild the search indices from search's Mongo copy without downtime:
``python -m services.search.reindex [--kind tickets] [--keep-old]``.

Each kind is loaded into a fresh versioned index (no refreshes, no replicas while loading),
then its alias moves in one atomic step; searches use the old index until then.  Anything
saved while the rebuild ran is flagged again so the service's sweep brings it across."""
from __future__ import annotations

import os
import time
from typing import Iterable, Iterator
from datetime import datetime, timezone

import click
from elasticsearch import Elasticsearch
from tqdm import tqdm

from services.common.storage import service_database

from . import domain, indices
from .index import SearchIndex
from .repository import SearchRepository
from .retrieval import embed_batches

ENCODE_BATCH = 256

def rebuild(repo: SearchRepository, index: SearchIndex, kind: str, *, keep_old: bool = False,
            threads: int = 2, show_progress: bool = True, reencode: bool = False,
            encoders: int = 1) -> dict:
    """One kind: load everything, switch the alias, re-flag what changed meanwhile."""
    started = datetime.now(timezone.utc)
    build = started.strftime("%Y%m%d%H%M%S%f")
    total = repo.count(kind)
    revisions: dict[str, int] = {}
    encoded_count = [0]

    def documents():
        # Vectors are made as documents are saved (the sweep); only a record whose text
        # changed since, or that never had them, is encoded here, in batches (``encoders``
        # processes when there are many: the command uses one per core).
        for batch, encoded in embed_batches(kind, _batches(repo.everything(kind), ENCODE_BATCH),
                                            everything=reencode, workers=encoders):
            repo.set_vectors(kind, encoded)
            encoded_count[0] += len(encoded)
            for d in batch:
                revisions[d["_id"]] = domain.revision(d)
                yield d["_id"], revisions[d["_id"]], domain.TO_DOCUMENT[kind](d)

    clock = time.monotonic()
    rejected: list[tuple[str, str]] = []
    with tqdm(total=total, desc=kind, unit="doc", disable=not show_progress,
              mininterval=0.5) as bar:
        name = index.rebuild(kind, build, documents(), progress=bar.update, threads=threads,
                             rejected=rejected)
    seconds = time.monotonic() - clock
    old = [i for i in _previous(index, kind) if i != name]
    if not keep_old:
        index.drop(old)
    caught_up = repo.mark_changed_since(kind, started)
    repo.mark_rejected(kind, [(i, revisions[i], why) for i, why in rejected])
    return {"kind": kind, "index": name, "documents": total, "seconds": round(seconds, 2),
            "dropped": [] if keep_old else old, "requeued": caught_up,
            "rejected": [i for i, _ in rejected], "encoded": encoded_count[0]}


def _batches(records: Iterable[dict], size: int) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for record in records:
        batch.append(record)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _previous(index: SearchIndex, kind: str) -> list[str]:
    """Every earlier index of this kind (any version or build), now behind no alias."""
    pattern = f"{indices.alias(index.prefix, kind)}-v*"
    found = index.es.indices.get_alias(index=pattern)
    return [name for name, info in found.items() if not info.get("aliases")]


@click.command()
@click.option("--kind", type=click.Choice(("all",) + indices.KINDS), default="all",
              show_default=True)
@click.option("--keep-old", is_flag=True, help="Keep the previous indices (default: delete).")
@click.option("--threads", type=click.IntRange(1, 16), default=2, show_default=True,
              help="Parallel bulk requests.")
@click.option("--reencode", is_flag=True,
              help="Encode every document's vectors again (after a model change); by default "
                   "only those whose text changed or that have none.")
@click.option("--encoders", type=click.IntRange(1, 16), default=os.cpu_count() or 1,
              show_default="one per core", help="Processes encoding vectors in parallel.")
def main(kind: str, keep_old: bool, threads: int, reencode: bool, encoders: int) -> None:
    """Rebuild search indices from Mongo and switch their aliases atomically."""
    env = os.environ
    db = service_database(env.get("HELPDESK_MONGO_URI", "mongodb://127.0.0.1:27017/"
                                  "?retryWrites=false&directConnection=true"),
                          env.get("HELPDESK_MONGO_DB", "helpdesk"), "search")
    index = SearchIndex(Elasticsearch(env.get("HELPDESK_ES_URL", "http://127.0.0.1:9200"),
                                      timeout=60), env.get("HELPDESK_ES_INDEX_PREFIX", "helpdesk"))
    for each in (indices.KINDS if kind == "all" else (kind,)):
        report = rebuild(SearchRepository(db), index, each, keep_old=keep_old, threads=threads,
                         reencode=reencode, encoders=encoders)
        click.echo(f"{report['kind']}: {report['documents']} documents into {report['index']} "
                   f"in {report['seconds']} s; alias switched; dropped {report['dropped'] or 'none'}; "
                   f"{report['requeued']} changed meanwhile, left to the sweep; "
                   f"{report['encoded']} (re-)encoded; "
                   f"refused by Elasticsearch: {report['rejected'] or 'none'}")


if __name__ == "__main__":
    main()

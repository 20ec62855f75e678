"""Search benchmark on the running test (or dev) servers:

1. writes N synthetic tickets (default 100,000; Russian and English, mostly solved) into a
   throw-away search database, the way the event pipeline stores them: solved ones with the
   sentence vectors the sweep made when they were solved (encoded here once per distinct
   wording: the synthetic texts repeat), plus the relevance corpus's articles;
2. times ``services.search.reindex.rebuild`` (parallel bulk, refresh off, alias switch) with
   ``reencode``: every answered ticket encoded again from scratch (as ``python -m
   services.search.reindex --reencode`` does), so the figure includes the embeddings;
3. starts the search service and the portal as separate processes on that data and measures
   ``GET /api/suggest`` over HTTP: p50/p95/p99, sequentially and with four concurrent clients,
   twice: with repeated texts (as while typing: the query vectors come from the service's
   cache) and "cold", every text new (each request encodes its query), and the search
   service's RSS once its vectors are loaded.

    eval "$(deploy/local/stack env --profile test)"
    .venv/bin/python -m bench.search_bench --tickets 100000 --requests 1000
"""
from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
import requests
from elasticsearch import Elasticsearch

from bench.relevance.evaluate import load_corpus
from services.common.storage import service_database
from services.search import semantic
from services.search.retrieval import embed_records
from services.search.index import SearchIndex
from services.search.reindex import rebuild
from services.search.repository import SearchRepository
from tests.support import create_vhost, delete_vhost

ROOT = Path(__file__).resolve().parents[1]

EN = {"things": ["password", "invoice", "printer", "VPN", "email", "mobile app", "report",
                 "payment", "account", "two-factor code", "export", "dashboard", "webcam"],
      "problems": ["does not work", "fails with an error", "is very slow", "keeps crashing",
                   "cannot be found", "was charged twice", "is not arriving", "looks wrong"],
      "fixes": ["Clear the cache and sign in again.", "We reissued it; check your inbox.",
                "Update to the latest version and restart.", "The limit was raised for you.",
                "Check the spam folder and add our address to contacts.",
                "The refund is on its way and arrives in 5-10 days."]}
RU = {"things": ["пароль", "счёт", "принтер", "VPN", "почта", "мобильное приложение", "отчёт",
                 "платёж", "учётная запись", "код подтверждения", "выгрузка", "панель"],
      "problems": ["не работает", "выдаёт ошибку", "очень медленно", "постоянно падает",
                   "не находится", "списан дважды", "не приходит", "отображается неверно"],
      "fixes": ["Очистите кэш и войдите снова.", "Мы выпустили новый, проверьте почту.",
                "Обновите до последней версии и перезапустите.", "Лимит для вас увеличен.",
                "Проверьте папку «Спам» и добавьте наш адрес в контакты.",
                "Возврат оформлен и придёт за 5–10 дней."]}
QUERIES = ["password reset", "invoice download", "printer error", "vpn slow", "app crashes",
           "charged twice", "email not arriving", "сброс пароля", "счёт скачать",
           "приложение падает", "не приходит почта", "платёж списан дважды", "pasword",
           "two factor code", "выгрузка отчёта", "qwzx plorf", "zabyl parol",
           "ошибка 429 слишком много запросов", "where is my parcel"]


class TemplateVectors:
    """Vectors per distinct wording (the synthetic texts differ only by their number)."""

    def __init__(self):
        self.cache: dict[str, bytes] = {}

    def __call__(self, doc: dict) -> dict:
        if not semantic.embeds(doc):
            return doc
        text = doc["body"].rsplit(" (#", 1)[0]
        if text not in self.cache:
            self.cache[text] = semantic.pack(semantic.encode(
                [f"{doc['title']}. {text}"]))
        return dict(doc, vectors=self.cache[text], vectors_key=semantic.vectors_key(doc))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def settled_rss(pid: int, timeout: float = 240) -> float:
    """RSS once it stops growing (the service loads its vectors in the background)."""
    last, steady, deadline = -1.0, 0, time.monotonic() + timeout
    while time.monotonic() < deadline and steady < 3:
        time.sleep(3)
        now = rss_mb(pid)
        steady = steady + 1 if abs(now - last) < 2 else 0
        last = now
    return last


def synthetic_tickets(n: int, seed: int = 7):
    rnd = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    now = datetime.now(timezone.utc)
    for number in range(1, n + 1):
        lang, words = ("ru", RU) if rnd.random() < 0.5 else ("en", EN)
        thing, problem = rnd.choice(words["things"]), rnd.choice(words["problems"])
        fix = rnd.choice(words["fixes"])
        created = start + timedelta(minutes=number)
        solved = rnd.random() < 0.8
        yield {"_id": uuid.UUID(int=rnd.getrandbits(128)).hex, "kind": "ticket",
               "number": number, "title": f"{thing} {problem}",
               "body": f"{thing} {problem} {rnd.choice(words['problems'])} (#{number})",
               "conversation": fix if solved else "", "status": "solved" if solved else "open",
               "department": rnd.choice(["technical", "billing", "general"]),
               "category": None, "priority": rnd.choice(["low", "normal", "high"]),
               "tags": [], "language": lang, "requester_id": f"cust-{number % 5000}",
               "assignee_id": f"agent-{number % 40}", "created_at": created,
               "updated_at": created, "solved_at": created if solved else None,
               "published": False, **({"resolution": fix} if solved else {}),
               "indexed": True, "rev": 1, "saved_at": now}


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    pick = lambda p: ordered[min(len(ordered) - 1, int(p * len(ordered)))]  # noqa: E731
    return {"p50_ms": round(pick(0.50) * 1000, 1), "p95_ms": round(pick(0.95) * 1000, 1),
            "p99_ms": round(pick(0.99) * 1000, 1), "mean_ms": round(statistics.mean(ordered) * 1000, 1),
            "requests": len(ordered)}


def wait_http(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer")


def suggest_latency(portal: str, total: int, clients: int, cold: bool = False) -> dict:
    """``cold``: every text is new (a query with a number never sent before, like an order
    number), so each request encodes its vector; otherwise the texts repeat, as while typing,
    and the service's query-vector cache answers after the warm-up."""
    run = uuid.uuid4().int % 10**6

    def one(i: int) -> float:
        session = sessions[i % clients]
        q = QUERIES[i % len(QUERIES)]
        q = f"{q} {run}{i}" if cold else q
        began = time.perf_counter()
        reply = session.get(f"{portal}/api/suggest", params={"q": q}, timeout=10)
        elapsed = time.perf_counter() - began
        assert reply.status_code == 200, reply.text
        if reply.json()["degraded"]:  # Elasticsearch over its 2 s query timeout: counted
            degraded.append(q)
        return elapsed

    degraded: list[str] = []

    sessions = [requests.Session() for _ in range(clients)]
    for i in range(50):  # warm caches and RPC connections
        one(i)
    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        samples = list(pool.map(one, range(total)))
    result = percentiles(samples)
    result.update(clients=clients, throughput_rps=round(total / (time.perf_counter() - began), 1),
                  degraded=len(degraded))
    click.echo(json.dumps(result), err=True)
    return result


def load_and_reindex(db, es, index: SearchIndex, repo: SearchRepository, tickets: int,
                     report: dict) -> None:
    """Synthetic tickets into search's Mongo copy, then the reindex with embeddings, timed."""
    began = time.perf_counter()
    batch = []
    with_vectors = TemplateVectors()
    for doc in synthetic_tickets(tickets):
        batch.append(with_vectors(doc))
        if len(batch) == 5000:
            db.tickets.insert_many(batch, ordered=False)
            batch = []
    if batch:
        db.tickets.insert_many(batch, ordered=False)
    report["mongo_load_s"] = round(time.perf_counter() - began, 1)
    report["distinct_wordings_encoded"] = len(with_vectors.cache)
    now = datetime.now(timezone.utc)
    articles = [dict(a, _id=a.pop("id"), published=True, updated_at=now, created_at=now,
                     indexed=True, rev=1, saved_at=now) for a in load_corpus()]
    embed_records("articles", articles)
    db.articles.insert_many(articles)

    index.ensure()  # the live, empty index the rebuild replaces
    began = time.perf_counter()
    result = rebuild(repo, index, "tickets", show_progress=True, reencode=True,
                     encoders=os.cpu_count() or 1)  # as the command's default
    report["reindex_with_embeddings_s"] = round(time.perf_counter() - began, 1)
    report["reindex_load_s"] = result["seconds"]
    report["reindex_docs_per_s"] = round(tickets / report["reindex_with_embeddings_s"])
    report["reindex_encoded"] = result["encoded"]
    assert es.count(index=index.alias("tickets"))["count"] == tickets
    rebuild(repo, index, "articles", show_progress=False)


@click.command()
@click.option("--tickets", default=100_000, show_default=True)
@click.option("--requests", "total", default=1000, show_default=True)
@click.option("--portal-port", default=8199, show_default=True)
@click.option("--keep", is_flag=True, help="Keep the bench data and indices.")
@click.option("--reuse", metavar="TAG", default=None,
              help="Measure the service on the data a --keep run left (bench<TAG>): no loading, "
                   "no reindex; the data is kept.")
def main(tickets: int, total: int, portal_port: int, keep: bool, reuse: str | None) -> None:
    env = os.environ
    tag = reuse or uuid.uuid4().hex[:8]
    keep = keep or bool(reuse)
    prefix, mongo_prefix = f"bench{tag}", f"bench{tag}"
    db = service_database(env["HELPDESK_MONGO_URI"], mongo_prefix, "search")
    es = Elasticsearch(env["HELPDESK_ES_URL"], timeout=120)
    index, repo = SearchIndex(es, prefix), SearchRepository(db)
    report: dict = {"tickets": tickets}
    procs: list[subprocess.Popen] = []
    vhost = f"bench-{tag}"
    try:
        if not reuse:
            load_and_reindex(db, es, index, repo, tickets, report)
        proc_env = dict(env, HELPDESK_AMQP_URI=create_vhost(vhost), HELPDESK_MONGO_DB=mongo_prefix,
                        HELPDESK_ES_INDEX_PREFIX=prefix, HELPDESK_PORTAL_PORT=str(portal_port),
                        HELPDESK_LOG_LEVEL="WARNING", HELPDESK_METRICS_PORT="",
                        PYTHONPATH=str(ROOT))
        logs = open(f"/tmp/search_bench_{tag}.log", "w")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "nameko", "run", "--config", str(ROOT / "deploy/nameko.yaml"),
             "services.search.service:SearchService"], env=proc_env, stdout=logs, stderr=logs))
        procs.append(subprocess.Popen([sys.executable, "-m", "services.portal.server"],
                                      env=proc_env, stdout=logs, stderr=logs))
        portal = f"http://127.0.0.1:{portal_port}"
        # (not /healthz: it pings every service, and only search runs here)
        wait_http(f"{portal}/api/suggest?q=password")
        report["search_rss_mb_at_rest"] = settled_rss(procs[0].pid)
        report["suggest_http_sequential"] = suggest_latency(portal, total, clients=1)
        report["suggest_http_4_clients"] = suggest_latency(portal, total, clients=4)
        report["suggest_http_sequential_cold"] = suggest_latency(portal, total, 1, cold=True)
        report["suggest_http_4_clients_cold"] = suggest_latency(portal, total, 4, cold=True)
        report["search_rss_mb_after"] = rss_mb(procs[0].pid)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:  # every one, even if one hangs (a nameko retrying a lost broker)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        delete_vhost(vhost)
        if not keep:
            es.indices.delete(index=f"{prefix}-*", ignore=404)
            db.client.drop_database(db.name)
    click.echo(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

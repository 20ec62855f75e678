"""Relevance of suggestions against the real Elasticsearch: hit@1, hit@3, MRR and nDCG@5 over
a labelled set (the demo articles plus bench/relevance/articles.json; graded queries in
bench/relevance/queries.json, both languages, typos and inflected forms), and how often
queries with no good answer stay silent.

    python -m bench.relevance.evaluate            # uses HELPDESK_ES_URL
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import uuid
from datetime import datetime, timezone
from pathlib import Path

import click
from elasticsearch import Elasticsearch

from services.search import domain, retrieval, understanding
from services.search.index import SearchIndex

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


def dcg(gains: list[float]) -> float:
    return sum(g / math.log2(rank + 2) for rank, g in enumerate(gains))


def score_query(ranked: list[str], relevant: dict[str, int], k: int = 5) -> dict:
    """Per-query metrics; ``relevant`` maps document id -> grade (3 best)."""
    best = max(relevant.values())
    top_ids = [i for i in ranked if relevant.get(i) == best]
    first = next((rank for rank, i in enumerate(ranked, 1) if i in top_ids), None)
    ideal = dcg(sorted(relevant.values(), reverse=True)[:k])
    return {"hit@1": float(first == 1), "hit@3": float(first is not None and first <= 3),
            "mrr": 1.0 / first if first else 0.0,
            "ndcg@5": dcg([relevant.get(i, 0) for i in ranked[:k]]) / ideal}


def load_corpus() -> list[dict]:
    return (json.loads((ROOT / "deploy/demo/articles.json").read_text())
            + json.loads((HERE / "articles.json").read_text()))


def split_of(case: dict) -> str:
    """Fixed by the question's text: half to tune on, half never tuned on."""
    return case.get("split") or ("tune" if hashlib.sha1(case["q"].encode()).digest()[0] % 2
                                 else "test")


def reader_language(case: dict) -> str:
    return case.get("language") or ("ru" if re.search("[а-яё]", case["q"], re.I) else "en")


def kind_of(case: dict, languages: dict[str, str]) -> str:
    if not case["relevant"]:
        return "out-of-scope"
    if case.get("kind"):
        return case["kind"]
    best = max(case["relevant"], key=case["relevant"].get)
    if languages.get(best) != reader_language(case):
        return "other-language"
    return "long" if case.get("long") else "plain"


def solved_tickets() -> list[dict]:
    """bench/relevance/tickets.json (customers' own words, grouped by the problem they had) as
    search stores solved tickets."""
    now = datetime.now(timezone.utc)
    return [{"_id": t["id"], "kind": "ticket", "number": n, "title": t["subject"],
             "body": t["description"], "conversation": t["resolution"],
             "resolution": t["resolution"], "status": "solved", "department": "general",
             "category": None, "priority": "normal", "tags": [], "language": t["language"],
             "requester_id": f"customer-{n}", "assignee_id": None, "created_at": now,
             "updated_at": now, "solved_at": now, "published": False, "cluster": t["cluster"]}
            for n, t in enumerate(json.loads((HERE / "tickets.json").read_text()), 1)]


def build_tickets(index: SearchIndex, neighbours: retrieval.Neighbours) -> list[dict]:
    tickets = solved_tickets()
    retrieval.embed_records("tickets", tickets)
    index.bulk("tickets", [(t["_id"], 1, domain.stored_ticket_document(
        {k: v for k, v in t.items() if k != "cluster"})) for t in tickets])
    for t in tickets:
        neighbours.apply("tickets", {k: v for k, v in t.items() if k != "cluster"})
    return tickets


def run_similar(index: SearchIndex, neighbours, tickets: list[dict], model: dict) -> list[dict]:
    """Each solved ticket's text asked for similar tickets: P@5 and R@10 against the others
    of its problem group."""
    pipeline = retrieval.Retrieval(index, neighbours, model)
    out = []
    for t in tickets:
        same = {o["_id"] for o in tickets if o["cluster"] == t["cluster"] and o is not t}
        found = [c.id for c in pipeline.similar(f"{t['title']}\n{t['body']}", t["_id"], 10,
                                                    domain.STAFF_READER)]
        out.append({"split": split_of({"q": t["_id"]}), "language": t["language"],
                    "p@5": len(same & set(found[:5])) / 5,
                    "r@10": len(same & set(found[:10])) / len(same)})
    return out


def similar_report(rows: list[dict]) -> dict:
    def mean(group, key):
        return round(sum(r[key] for r in group) / max(len(group), 1), 3)
    return {split: {"tickets": len(g), "p@5": mean(g, "p@5"), "r@10": mean(g, "r@10")}
            for split in ("tune", "test") for g in [[r for r in rows if r["split"] == split]]}


def build(index: SearchIndex) -> retrieval.Neighbours:
    """The corpus indexed with its vectors, and the in-memory side as the service keeps it."""
    now = datetime.now(timezone.utc)
    records = [dict(a, _id=a["id"], published=True, updated_at=now) for a in load_corpus()]
    for r in records:
        r.pop("id")
    retrieval.embed_records("articles", records)
    index.bulk("articles", [(r["_id"], 1, domain.article_document(r)) for r in records])
    neighbours = retrieval.Neighbours()
    for r in records:
        neighbours.apply("articles", r)
    return neighbours


def by_group(relevant: dict[str, int], groups: dict[str, str]) -> dict[str, int]:
    """An article and its translations are one answer (suggestions show one of them, in the
    reader's language when it exists): graded by the best grade given to any of them."""
    out: dict[str, int] = {}
    for doc_id, grade in relevant.items():
        group = groups.get(doc_id, doc_id)
        out[group] = max(out.get(group, 0), grade)
    return out


def run(index: SearchIndex, neighbours, queries: list[dict], model: dict) -> list[dict]:
    """Each query answered without abstaining: its ranking, confidence features and labels
    (documents as translation groups)."""
    languages = {doc_id: e.language for doc_id, e in neighbours.public.entries.items()}
    groups = {doc_id: e.group for doc_id, e in neighbours.public.entries.items()}
    pipeline = retrieval.Retrieval(index, neighbours, model)
    out = []
    for case in queries:
        text = domain.clean_query(case["q"])
        ranked, _ = pipeline.suggest(text, reader_language(case), 5, None, abstain=False)
        known = neighbours.known()
        out.append({"case": dict(case, relevant=by_group(case["relevant"], groups)),
                    "split": split_of(case), "kind": kind_of(case, languages),
                    "language": reader_language(case),
                    "ranked": [groups.get(c.id, c.id) for c in ranked],
                    "features": retrieval.features(ranked, understanding.known_share(
                        understanding.understood(text, known), known)) if ranked else None})
    return out


def report(rows: list[dict], model: dict) -> dict:
    """Per split, overall, per language and per kind; abstaining as the model says."""
    def shown(row):
        return row["ranked"] if row["features"] and retrieval.confidence(
            row["features"], model) >= model["threshold"] else []

    def summary(group: list[dict]) -> dict:
        answerable = [r for r in group if r["case"]["relevant"]]
        scored = [score_query(shown(r), r["case"]["relevant"]) for r in answerable]
        oos = [r for r in group if not r["case"]["relevant"]]
        out = {m: round(sum(s[m] for s in scored) / max(len(scored), 1), 3)
               for m in ("hit@1", "hit@3", "mrr", "ndcg@5")}
        out.update(queries=len(answerable), out_of_scope=len(oos),
                   oos_unanswered=round(sum(not shown(r) for r in oos) / max(len(oos), 1), 3),
                   answerable_empty=round(sum(not shown(r) for r in answerable)
                                          / max(len(answerable), 1), 3))
        return out
    result = {}
    for split in ("tune", "test"):
        rows_ = [r for r in rows if r["split"] == split]
        result[split] = {"all": summary(rows_),
                         **{f"lang:{lang}": summary([r for r in rows_ if r["language"] == lang])
                            for lang in ("ru", "en")},
                         **{f"kind:{k}": summary([r for r in rows_ if r["kind"] == k])
                            for k in sorted({r["kind"] for r in rows_})}}
    return result


@click.command()
@click.option("--es-url", default=lambda: os.environ.get("HELPDESK_ES_URL",
                                                         "http://127.0.0.1:9200"))
@click.option("--calibrate", is_flag=True,
              help="Learn the fusion weight and confidence model on the tune split and write "
                   "services/search/confidence.json.")
def main(es_url: str, calibrate: bool) -> None:
    es = Elasticsearch(es_url, timeout=30)
    index = SearchIndex(es, f"releval-{uuid.uuid4().hex[:8]}")
    queries = json.loads((HERE / "queries.json").read_text())
    try:
        index.ensure()
        neighbours = build(index)
        tickets = build_tickets(index, neighbours)
        model = retrieval.load_confidence()
        if calibrate:
            from .calibrate import learn, learn_similar
            model = learn(lambda m: run(index, neighbours, queries, m), model)
            model = learn_similar(lambda m: run_similar(index, neighbours, tickets, m), model)
            retrieval.CONFIDENCE_FILE.write_text(json.dumps(model, indent=1) + "\n")
        rows = run(index, neighbours, queries, model)
        similar = run_similar(index, neighbours, tickets, model)
    finally:
        es.indices.delete(index=f"{index.prefix}-*", ignore=404)
    click.echo(json.dumps(dict(report(rows, model), similar=similar_report(similar)), indent=1))
    for r in rows:
        if r["split"] == "test" and r["case"]["relevant"] and (
                not r["ranked"] or r["case"]["relevant"].get(r["ranked"][0]) !=
                max(r["case"]["relevant"].values())):
            click.echo(f"  test miss@1 [{r['kind']}]: {r['case']['q'][:80]!r} -> {r['ranked'][:3]}")


if __name__ == "__main__":
    main()

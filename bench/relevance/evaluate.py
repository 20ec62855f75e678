"""Relevance of suggestions against the real Elasticsearch: hit@1, hit@3, MRR and nDCG@5 over
a labelled set (the demo articles plus bench/relevance/articles.json; graded queries in
bench/relevance/queries.json, both languages, typos and inflected forms), and how often
queries with no good answer stay silent.

    python -m bench.relevance.evaluate            # uses HELPDESK_ES_URL
"""
from __future__ import annotations

import json
import math
import os
import re
import uuid
from datetime import datetime, timezone
from pathlib import Path

import click
from elasticsearch import Elasticsearch

from services.search import domain
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


def evaluate(index: SearchIndex, queries: list[dict]) -> dict:
    """Metrics over all queries, and separately over short ones (typed words) and long ones
    (``"long": true``: a subject plus description, as the portal's ticket form sends them)."""
    outcomes, misses = [], []
    for case in queries:
        language = "ru" if re.search("[а-яё]", case["q"], re.I) else "en"  # the page language
        hits = index.search(domain.suggest_query(domain.clean_query(case["q"]), language, 5))
        ranked = [h["_id"] for h in domain.confident_hits(hits)]
        group = "long" if case.get("long") else "short"
        if not case["relevant"]:
            outcomes.append((group, None, not ranked))
            if ranked:
                misses.append(("noise", case["q"], ranked[:3]))
            continue
        scores = score_query(ranked, case["relevant"])
        outcomes.append((group, scores, None))
        if scores["hit@1"] < 1:
            misses.append(("miss@1", case["q"], ranked[:3]))
    return {"summary": _summary(outcomes),
            "by_length": {g: _summary([o for o in outcomes if o[0] == g])
                          for g in ("short", "long")},
            "misses": misses}


def _summary(outcomes: list[tuple]) -> dict:
    scored = [s for _, s, _ in outcomes if s is not None]
    silent = [quiet for _, s, quiet in outcomes if s is None]
    summary = {m: round(sum(s[m] for s in scored) / max(len(scored), 1), 3)
               for m in ("hit@1", "hit@3", "mrr", "ndcg@5")}
    summary.update(queries=len(scored), no_answer_queries=len(silent),
                   no_answer_silent=round(sum(silent) / max(len(silent), 1), 3))
    return summary


@click.command()
@click.option("--es-url", default=lambda: os.environ.get("HELPDESK_ES_URL",
                                                         "http://127.0.0.1:9200"))
@click.option("--must-match", default=None,
              help=f"Try another minimum_should_match (default {domain.MUST_MATCH}).")
@click.option("--cutoff", type=float, default=None,
              help=f"Try another relative cutoff (default {domain.RELATIVE_CUTOFF}).")
def main(es_url: str, must_match: str | None, cutoff: float | None) -> None:
    # Tuning knobs: the query builders read these module constants at call time.
    domain.MUST_MATCH = must_match or domain.MUST_MATCH
    domain.RELATIVE_CUTOFF = cutoff if cutoff is not None else domain.RELATIVE_CUTOFF
    es = Elasticsearch(es_url, timeout=30)
    index = SearchIndex(es, f"releval-{uuid.uuid4().hex[:8]}")
    try:
        index.ensure()
        now = datetime.now(timezone.utc)
        index.bulk("articles", [(a["id"], 1, domain.article_document(
            dict(a, _id=a["id"], published=True, updated_at=now))) for a in load_corpus()])
        result = evaluate(index, json.loads((HERE / "queries.json").read_text()))
    finally:
        es.indices.delete(index=f"{index.prefix}-*", ignore=404)
    click.echo(json.dumps({"all": result["summary"], **result["by_length"]}, indent=1))
    for what, q, got in result["misses"]:
        click.echo(f"  {what}: {q[:90]!r} -> {got}")


if __name__ == "__main__":
    main()

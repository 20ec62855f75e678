"""How the gap grouping threshold (services/search/gaps.THRESHOLD) was chosen: cluster the 72
labelled solved tickets of bench/relevance/tickets.json (12 problems, Russian and English) at
several thresholds and report pairwise precision / recall / F1 against the labels, how many
groups mix both languages, and the time to group MAX_ITEMS items.

Usage: python -m bench.gaps.threshold"""
from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np

from services.search import gaps, semantic

TICKETS = Path(__file__).resolve().parents[1] / "relevance" / "tickets.json"


def pairwise(groups: list[list[int]], labels: list[str]) -> tuple[float, float, float]:
    group_of = {i: g for g, rows in enumerate(groups) for i in rows}
    tp = fp = fn = 0
    for a, b in itertools.combinations(range(len(labels)), 2):
        same, together = labels[a] == labels[b], group_of[a] == group_of[b]
        tp += same and together
        fp += together and not same
        fn += same and not together
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def main() -> None:
    tickets = json.loads(TICKETS.read_text())
    vectors = semantic.encode([f"{t['subject']}. {t['description']}" for t in tickets])
    labels = [t["cluster"] for t in tickets]
    for threshold in np.arange(0.20, 0.56, 0.05):
        groups = gaps.cluster(vectors, float(threshold))
        p, r, f = pairwise(groups, labels)
        mixed = sum(len({tickets[i]["language"] for i in g}) > 1 for g in groups)
        print(f"threshold {threshold:.2f}: {len(groups):2d} groups, precision {p:.2f}, "
              f"recall {r:.2f}, F1 {f:.2f}, groups in both languages {mixed}")
    rng = np.random.default_rng(1)
    many = np.vstack([vectors[rng.integers(len(vectors), size=gaps.MAX_ITEMS)]
                      + rng.normal(0, 0.02, (gaps.MAX_ITEMS, semantic.DIMENSIONS))])
    many = (many / np.linalg.norm(many, axis=1)[:, None]).astype(np.float32)
    began = time.perf_counter()
    gaps.cluster(many)
    print(f"grouping {gaps.MAX_ITEMS} items: {time.perf_counter() - began:.2f} s")


if __name__ == "__main__":
    main()

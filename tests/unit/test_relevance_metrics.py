import json
from pathlib import Path

import pytest

from bench.relevance.evaluate import load_corpus, score_query

RELEVANT = {"a": 3, "b": 1}


def test_perfect_ranking_scores_one():
    assert score_query(["a", "b"], RELEVANT) == {"hit@1": 1.0, "hit@3": 1.0, "mrr": 1.0,
                                                 "ndcg@5": 1.0}


def test_best_answer_second():
    scores = score_query(["b", "a", "x"], RELEVANT)
    assert (scores["hit@1"], scores["hit@3"], scores["mrr"]) == (0.0, 1.0, 0.5)
    assert 0 < scores["ndcg@5"] < 1


def test_nothing_found_scores_zero():
    assert score_query([], RELEVANT) == {"hit@1": 0.0, "hit@3": 0.0, "mrr": 0.0, "ndcg@5": 0.0}


def test_labelled_set_points_at_real_articles():
    ids = {a["id"] for a in load_corpus()}
    queries = json.loads((Path(__file__).parents[2] / "bench/relevance/queries.json").read_text())
    assert len(queries) >= 40
    for case in queries:
        assert set(case["relevant"]) <= ids, case["q"]
        assert all(grade in (1, 2, 3) for grade in case["relevant"].values())


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_both_languages_are_covered(lang):
    assert sum(a["language"] == lang for a in load_corpus()) >= 12

"""Learning the fusion weight and the abstention model from the TUNE split only (the test split
is never looked at here): grid search of the lexical weight by nDCG@5, then a logistic
regression (numpy, Newton steps) of "the first suggestion is a right one" on the confidence
features, then the lowest-risk threshold that leaves at most 5 % of answerable tune questions
unanswered."""
from __future__ import annotations

import numpy as np

from .evaluate import score_query

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8)
MAX_EMPTY = 0.05


def logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 50) -> np.ndarray:
    x = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-x @ w))
        grad = x.T @ (p - y) + l2 * np.r_[0, w[1:]]
        hess = (x.T * (p * (1 - p))) @ x + l2 * np.diag(np.r_[0, np.ones(len(w) - 1)])
        w -= np.linalg.solve(hess, grad)
    return w


def learn(run, model: dict) -> dict:
    tried = []
    for weight in WEIGHTS:
        rows = [r for r in run(dict(model, lexical_weight=weight, threshold=0.0))
                if r["split"] == "tune"]
        tried.append((float(np.mean([score_query(r["ranked"], r["case"]["relevant"])["ndcg@5"]
                                     for r in rows if r["case"]["relevant"]])), weight, rows))
    # The heaviest lexical weight within 0.01 of the best: exact terms (error codes, product
    # names) should win whenever that costs the paraphrases nothing measurable.
    top = max(t[0] for t in tried)
    ndcg, weight, rows = [t for t in tried if t[0] >= top - 0.01][-1]
    rows = [r for r in rows if r["features"]]
    x = np.array([r["features"] for r in rows])
    right = np.array([float(bool(r["case"]["relevant"]) and score_query(
        r["ranked"], r["case"]["relevant"])["hit@3"] == 1) for r in rows])
    w = logistic(x, right)
    p = 1 / (1 + np.exp(-(w[0] + x @ w[1:])))
    answerable = np.array([bool(r["case"]["relevant"]) for r in rows])
    threshold = 0.0
    for t in sorted(set(np.round(p, 4))):
        if np.mean(p[answerable] < t) <= MAX_EMPTY:
            threshold = float(t)
    return {"lexical_weight": weight, "similar_lexical_weight": model["similar_lexical_weight"],
            "intercept": float(w[0]),
            "coefficients": [float(v) for v in w[1:]], "threshold": threshold,
            "features": ["top cosine", "top lexical (share of best)", "top matched words",
                         "fused margin to the second", "share of query words known"],
            "how": f"bench/relevance/calibrate.py on the tune split ({len(rows)} questions): "
                   f"lexical weight by nDCG@5 ({ndcg:.3f}); logistic regression of 'a right "
                   f"answer in the top 3'; threshold = highest leaving <= {MAX_EMPTY:.0%} of "
                   f"answerable tune questions unanswered"}


SIMILAR_WEIGHTS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def learn_similar(run, model: dict) -> dict:
    """The lexical weight for similar tickets, by P@5 on the tune split's tickets."""
    scores = []
    for weight in SIMILAR_WEIGHTS:
        rows = [r for r in run(dict(model, similar_lexical_weight=weight))
                if r["split"] == "tune"]
        scores.append((float(np.mean([r["p@5"] for r in rows])), weight))
    top = max(s for s, _ in scores)
    p5, weight = [s for s in scores if s[0] >= top - 0.01][-1]
    return dict(model, similar_lexical_weight=weight,
                similar_how=f"similar_lexical_weight by P@5 on the tune split's tickets "
                            f"({p5:.3f}); the heaviest within 0.01 of the best")

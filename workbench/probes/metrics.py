"""Membership evaluation: ROC AUC and TPR at low FPR for every score (members vs non-members)."""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

# +1: a higher value means "more likely a member"; -1: a lower value does.
SCORE_DIRECTIONS = {
    "loss": -1,
    "zlib_ratio": -1,
    "lowercase_ratio": +1,
    "min_k": +1,
    "min_k_pp": +1,
    "ref_ratio": -1,
    "exposure": +1,
}
FPRS = (0.01, 0.001)


def roc_curve(scores: np.ndarray, is_member: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) over every threshold, highest score first; starts at (0, 0), ends at (1, 1)."""
    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(is_member, dtype=bool)
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], y[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]  # last index of each tie group
    tp = np.cumsum(y)[distinct]
    fp = np.cumsum(~y)[distinct]
    P, N = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    return np.r_[0.0, fp / N], np.r_[0.0, tp / P]


def roc_auc(scores: np.ndarray, is_member: np.ndarray) -> float:
    """Probability that a random member scores above a random non-member (ties count 1/2)."""
    from scipy.stats import rankdata

    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(is_member, dtype=bool)
    P, N = int(y.sum()), int((~y).sum())
    if P == 0 or N == 0:
        return math.nan
    r = rankdata(scores)
    return float((r[y].sum() - P * (P + 1) / 2) / (P * N))


def tpr_at_fpr(scores: np.ndarray, is_member: np.ndarray, fpr: float) -> float:
    """Highest TPR over thresholds whose FPR is at most `fpr`."""
    f, t = roc_curve(scores, is_member)
    ok = f <= fpr + 1e-12
    return float(t[ok].max()) if ok.any() else 0.0


def evaluate(columns: dict[str, Iterable[float]], labels: Iterable[str | None]) -> dict:
    """Membership metrics for each score column over the labelled rows with a finite score."""
    labels = np.array([lab if lab in ("member", "non-member") else "" for lab in labels], dtype=object)
    out: dict = {"scores": {}}
    labelled = labels != ""
    out["n_members"] = int(np.sum(labels == "member"))
    out["n_nonmembers"] = int(np.sum(labels == "non-member"))
    for name, values in columns.items():
        direction = SCORE_DIRECTIONS.get(name, +1)
        v = np.array([math.nan if x is None else float(x) for x in values], dtype=np.float64)
        keep = labelled & np.isfinite(v)
        y = labels[keep] == "member"
        if y.sum() == 0 or (~y).sum() == 0:
            continue
        s = direction * v[keep]
        entry = {"auc": roc_auc(s, y), "direction": "higher" if direction > 0 else "lower",
                 "n_members": int(y.sum()), "n_nonmembers": int((~y).sum())}
        for f in FPRS:
            entry[f"tpr_at_{f * 100:g}pct_fpr"] = tpr_at_fpr(s, y, f)
        out["scores"][name] = entry
    return out

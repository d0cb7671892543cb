"""Overlap resolution between detectors, over one text's spans.

When a profile runs several detectors (e.g. `pii-full`: patterns + secrets + ner), the same
characters can be reported more than once. `resolve_overlaps(spans)` turns one text's spans from
all detectors into the findings to write:

1. the same span (same start, end and entity type) from several detectors is ONE finding: its
   `detector` names all of them joined by "+" in sorted order (e.g. "ner+patterns"), its score is
   the highest, its `rule` and `extra` are those of the highest-scoring one, and
   `extra["detectors"]` maps each detector to its score;
2. otherwise, of two overlapping spans from different detectors the higher score wins (ties: the
   longer span, then the detector name, then the entity type); the winner lists what it
   suppressed in `extra["overlaps"]` as {detector, entity_type, start, end, score, rule};
3. spans from the same detector are never resolved against each other (a detector decides
   about its own overlaps), and whole-text findings (`extra["scope"] == "text"`, from
   `classify` and `injection`) are labels of the text, not of characters: they pass through.

Optional `priority` ({detector: rank}, higher first) is compared before the score: e.g.
`{"secrets": 2, "patterns": 1}` lets validated pattern matches beat a NER model's (uncalibrated,
often near 1.0) softmax scores on the same characters. Without it, only scores count.

The result is sorted by (start, end, entity_type, detector). Deterministic for any input order.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable

from workbench.detectors.base import Span


def _is_text_level(s: Span) -> bool:
    return bool(s.extra) and s.extra.get("scope") == "text"


def _summary(s: Span) -> dict[str, Any]:
    return {"detector": s.detector, "entity_type": s.entity_type, "start": s.start, "end": s.end,
            "score": round(float(s.score), 4), "rule": s.rule}


def _merge_identical(group: list[Span]) -> Span:
    group = sorted(group, key=lambda s: (-s.score, s.detector))
    best = group[0]
    dets: dict[str, float] = {}
    for s in group:
        for d in s.detector.split("+"):
            dets[d] = max(dets.get(d, 0.0), round(float(s.score), 4))
    if len(dets) == 1:
        return best
    extra = dict(best.extra or {})
    extra["detectors"] = dict(sorted(dets.items()))
    return replace(best, detector="+".join(sorted(dets)), extra=extra)


def resolve_overlaps(spans: Iterable[Span], priority: dict[str, int] | None = None) -> list[Span]:
    """One text's spans from all detectors -> the findings to keep (see module doc)."""
    spans = list(spans)
    if len(spans) < 2:
        return spans
    passthrough = [s for s in spans if _is_text_level(s)]
    char_spans = [s for s in spans if not _is_text_level(s)]

    groups: dict[tuple[int, int, str], list[Span]] = {}
    for s in char_spans:
        groups.setdefault((s.start, s.end, s.entity_type), []).append(s)
    merged = [_merge_identical(g) for g in groups.values()]

    prio = priority or {}

    def rank(s: Span) -> int:
        return max(prio.get(d, 0) for d in s.detector.split("+"))

    order = sorted(merged, key=lambda s: (-rank(s), -s.score, -(s.end - s.start), s.detector, s.entity_type, s.start))
    kept: list[Span] = []
    lost: dict[int, list[Span]] = {}
    for s in order:
        s_dets = set(s.detector.split("+"))
        winner = None
        for i, k in enumerate(kept):
            if k.start < s.end and s.start < k.end and not (s_dets & set(k.detector.split("+"))):
                winner = i
                break
        if winner is None:
            kept.append(s)
        else:
            lost.setdefault(winner, []).append(s)

    out = []
    for i, k in enumerate(kept):
        if i in lost:
            extra = dict(k.extra or {})
            extra["overlaps"] = list(extra.get("overlaps", [])) + [_summary(s) for s in lost[i]]
            k = replace(k, extra=extra)
        out.append(k)
    out.extend(passthrough)
    out.sort(key=lambda s: (s.start, s.end, s.entity_type, s.detector))
    return out

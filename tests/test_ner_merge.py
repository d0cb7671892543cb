"""Overlap resolution between detectors (workbench.detectors.merge.resolve_overlaps)."""

from __future__ import annotations

import itertools
import random

from workbench.detectors.base import Span
from workbench.detectors.merge import resolve_overlaps


def S(t, s, e, score, det, rule="", **extra):
    return Span(t, s, e, score, det, rule, dict(extra))


def test_same_span_two_detectors_is_one_finding():
    a = S("PERSON", 10, 20, 0.85, "ner", "PER", model="m")
    b = S("PERSON", 10, 20, 0.6, "patterns", "DenyList")
    (m,) = resolve_overlaps([b, a])
    assert (m.entity_type, m.start, m.end, m.score) == ("PERSON", 10, 20, 0.85)
    assert m.detector == "ner+patterns"
    assert m.extra["detectors"] == {"ner": 0.85, "patterns": 0.6}
    assert m.rule == "PER" and m.extra["model"] == "m"  # the best one's rule and details


def test_higher_score_wins_and_is_recorded():
    email = S("EMAIL_ADDRESS", 5, 25, 1.0, "patterns", "EmailRecognizer")
    name = S("PERSON", 5, 9, 0.7, "ner", "PER")
    other = S("LOCATION", 40, 46, 0.9, "ner", "LOC")
    out = resolve_overlaps([name, other, email])
    assert [(s.entity_type, s.detector) for s in out] == [("EMAIL_ADDRESS", "patterns"), ("LOCATION", "ner")]
    assert out[0].extra["overlaps"] == [
        {"detector": "ner", "entity_type": "PERSON", "start": 5, "end": 9, "score": 0.7, "rule": "PER"}]
    assert "overlaps" not in out[1].extra
    # same span, different entity types from two detectors: higher score wins
    (w,) = resolve_overlaps([S("URL", 0, 10, 0.5, "patterns"), S("ORGANIZATION", 0, 10, 0.8, "ner")])
    assert (w.entity_type, w.detector) == ("ORGANIZATION", "ner")
    assert w.extra["overlaps"][0]["entity_type"] == "URL"


def test_ties_longer_span_then_name():
    long_ = S("PERSON", 0, 10, 0.8, "ner")
    short = S("AWS_KEY", 2, 6, 0.8, "secrets")
    (w,) = resolve_overlaps([short, long_])
    assert w is not short and w.detector == "ner"
    a, b = S("X", 0, 4, 0.5, "zeta"), S("Y", 0, 4, 0.5, "alpha")
    (w,) = resolve_overlaps([a, b])
    assert w.detector == "alpha"


def test_same_detector_and_text_level_pass_through():
    a = S("URL", 0, 20, 0.5, "patterns")
    b = S("EMAIL_ADDRESS", 3, 20, 0.9, "patterns")
    assert len(resolve_overlaps([a, b])) == 2  # a detector's own overlaps are its business
    cls = S("PROMPT_INJECTION", 0, 100, 0.99, "classify", "INJECTION", scope="text")
    ner = S("PERSON", 30, 40, 0.9, "ner")
    out = resolve_overlaps([cls, ner])
    assert {s.detector for s in out} == {"classify", "ner"}
    assert all("overlaps" not in s.extra for s in out)
    assert resolve_overlaps([]) == [] and resolve_overlaps([ner]) == [ner]


def test_chain_and_no_cross_detector_overlap_left():
    # ner A (0.9) overlaps patterns B (0.8); B overlaps patterns C (0.85) but C does not touch A
    A, B, C = S("PERSON", 0, 10, 0.9, "ner"), S("PHONE_NUMBER", 8, 15, 0.8, "patterns"), S("URL", 14, 30, 0.85, "patterns")
    out = resolve_overlaps([B, C, A])
    assert [(s.entity_type) for s in out] == ["PERSON", "URL"]


def test_random_inputs_invariants():
    rng = random.Random(0)
    dets = ["ner", "patterns", "secrets"]
    for _ in range(300):
        spans = []
        for _ in range(rng.randint(0, 8)):
            s = rng.randint(0, 40)
            spans.append(S(rng.choice(["PERSON", "LOCATION", "EMAIL_ADDRESS"]), s, s + rng.randint(1, 12),
                           round(rng.random(), 2), rng.choice(dets)))
        out = resolve_overlaps(spans)
        # order of the input does not matter
        shuffled = spans[:]
        rng.shuffle(shuffled)
        assert [(x.entity_type, x.start, x.end, x.detector, x.score) for x in resolve_overlaps(shuffled)] == \
            [(x.entity_type, x.start, x.end, x.detector, x.score) for x in out]
        # no two kept findings from different detectors overlap
        for x, y in itertools.combinations(out, 2):
            if x.start < y.end and y.start < x.end:
                assert set(x.detector.split("+")) & set(y.detector.split("+"))
        # every input span is kept, merged into a kept one, or recorded as suppressed by a winner
        # that overlaps it with at least its score
        for sp in spans:
            kept = any(k.start == sp.start and k.end == sp.end and k.entity_type == sp.entity_type
                       and sp.detector in k.detector.split("+") for k in out)
            recorded = any(
                any(o["start"] == sp.start and o["end"] == sp.end and o["entity_type"] == sp.entity_type
                    for o in k.extra.get("overlaps", []))
                and k.score >= sp.score for k in out)
            assert kept or recorded, sp


def test_priority_before_score():
    ssn = S("US_SSN", 10, 21, 0.5, "patterns", "UsSsnRecognizer")
    loc = S("LOCATION", 10, 21, 0.97, "ner", "LOC")
    (w,) = resolve_overlaps([ssn, loc])
    assert w.detector == "ner"
    (w,) = resolve_overlaps([ssn, loc], priority={"patterns": 1})
    assert (w.entity_type, w.detector) == ("US_SSN", "patterns")
    assert w.extra["overlaps"][0]["detector"] == "ner"

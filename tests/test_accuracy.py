"""Accuracy gates on labelled data with independent labels.

1. presidio_synth_v2.json (1,500 records labelled by presidio-research): for every entity type
   the pattern recognizers cover, the default profile's precision and recall stay at or above
   those of stock Presidio (offline: blank spaCy pipeline, pattern recognizers only, same
   threshold), measured by the same evaluation code.
2. The sample corpus: the planted values (labels written by the generator) are found through
   the whole scan pipeline, at the right offsets in the right fields.
"""

import json

import pytest

from tests.conftest import PII_BENCH
from workbench.config import load_profile
from workbench.detectors.patterns import PatternsConfig, build_analyzer
from workbench.detectors.registry import build_detectors
from workbench.eval import PATTERN_TYPES, evaluate, load_presidio_research, predict_with
from workbench.store.views import connect


class StockPresidio:
    """Stock Presidio AnalyzerEngine (offline build, pattern recognizers only), one text at a time."""

    def __init__(self, threshold: float):
        self.analyzer = build_analyzer(PatternsConfig(threshold=threshold))
        self.threshold = threshold

    def __call__(self, texts):
        out = []
        for t in texts:
            res = self.analyzer.analyze(text=t, language="en", score_threshold=self.threshold)
            out.append(res)
        return out


@pytest.fixture(scope="module")
def synth():
    return load_presidio_research(PII_BENCH / "presidio_synth_v2.json")


def test_default_profile_at_or_above_stock_presidio(synth):
    profile = load_profile("pii-default")
    threshold = profile.detectors["patterns"]["threshold"]
    ours = evaluate(synth, predict_with(build_detectors(profile.detectors)[0], synth), PATTERN_TYPES)
    stock = evaluate(synth, predict_with(StockPresidio(threshold), synth), PATTERN_TYPES)
    assert set(ours.per_entity) == set(stock.per_entity) and len(ours.per_entity) >= 8
    for ent, s in stock.per_entity.items():
        o = ours.per_entity[ent]
        assert o.recall >= s.recall - 1e-9, (ent, o.recall, s.recall)
        if s.n_pred:
            assert o.precision >= s.precision - 1e-9, (ent, o.precision, s.precision)
    # independent floors where the labels are unambiguous
    for ent in ("EMAIL_ADDRESS", "IBAN_CODE", "IP_ADDRESS", "US_SSN"):
        assert ours.per_entity[ent].recall >= 0.95, ent
        assert ours.per_entity[ent].precision >= 0.95, ent


def test_planted_values_found_through_the_pipeline(sample_corpus, tmp_path, wb):
    labels = [json.loads(line) for line in
              (sample_corpus.parent / (sample_corpus.name + "-labels") / "labels.jsonl").read_text().splitlines()]
    p = wb("scan", str(sample_corpus), "--out", str(tmp_path / "s"), "--executor", "local", "--id-field", "id",
           "--field", "text", "--field", "meta.summary", "--field", "messages[].content")
    assert p.returncode == 0, p.stderr
    con = connect(tmp_path / "s")
    found = set(con.execute("select record_id, field, entity_type, start, \"end\" from findings").fetchall())
    per_type: dict[str, list[bool]] = {}
    for lab in labels:
        key = (lab["record_id"], lab["field"], lab["entity_type"], lab["start"], lab["end"])
        per_type.setdefault(lab["entity_type"], []).append(key in found)
    assert set(per_type) == {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN"}
    for ent, hits in per_type.items():
        assert sum(hits) / len(hits) >= 0.95, (ent, sum(hits), len(hits))

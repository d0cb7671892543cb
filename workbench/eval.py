"""Accuracy evaluation on labelled PII data (presidio-research format), per entity type.

Data: a JSON list of `{"full_text", "spans": [{"entity_type", "start_position", "end_position"}]}`
(offsets are Python string indices), e.g. ../shared/benchmarks/pii/presidio_synth_v2.json.

Label map: the data's entity names differ from Presidio's. `LABEL_MAP` maps each gold label to
the entity type a detector reports (None = no detector type: the gold span is ignored).

Matching (span level, one-to-one): a prediction is a true positive when it has the mapped
entity type of a not-yet-matched gold span and their character intersection-over-union is at
least `min_iou` (default 0.5); pairs are matched greedily by descending IoU. Per entity type:
precision = TP / predictions of that type, recall = TP / gold spans of that type. Only entity
types that occur in the gold data after mapping are scored; predictions of other types (e.g.
UK_NHS, which this data never labels) are counted separately as `unscored`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

# gold label (presidio-research data) -> detector entity type
LABEL_MAP: dict[str, str | None] = {
    "CREDIT_CARD": "CREDIT_CARD",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "IBAN_CODE": "IBAN_CODE",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_DRIVER_LICENSE": "US_DRIVER_LICENSE",
    "DATE_TIME": "DATE_TIME",
    "DOMAIN_NAME": "URL",
    "PERSON": "PERSON",
    "GPE": "LOCATION",
    "LOCATION": "LOCATION",
    "STREET_ADDRESS": "LOCATION",
    "ADDRESS": "LOCATION",
    "ORGANIZATION": "ORGANIZATION",
    "NRP": "NRP",
    "TITLE": None,
    "AGE": None,
    "ZIP_CODE": None,
    "PREFIX": None,
}

# The entity types Presidio's pattern recognizers can produce that this data labels.
PATTERN_TYPES = [
    "CREDIT_CARD", "DATE_TIME", "EMAIL_ADDRESS", "IBAN_CODE", "IP_ADDRESS", "PHONE_NUMBER",
    "URL", "US_DRIVER_LICENSE", "US_SSN",
]


@dataclass(frozen=True)
class Labelled:
    text: str
    spans: tuple[tuple[str, int, int], ...]  # (mapped entity type, start, end)


@dataclass
class Scores:
    tp: int = 0
    n_pred: int = 0
    n_gold: int = 0

    @property
    def precision(self) -> float:
        return self.tp / self.n_pred if self.n_pred else float("nan")

    @property
    def recall(self) -> float:
        return self.tp / self.n_gold if self.n_gold else float("nan")

    def f(self, beta: float = 1.0) -> float:
        p, r = self.precision, self.recall
        if not (p + r) or p != p or r != r:
            return float("nan")
        b2 = beta * beta
        return (1 + b2) * p * r / (b2 * p + r) if (b2 * p + r) else 0.0


@dataclass
class Report:
    per_entity: dict[str, Scores]
    micro: Scores
    unscored: dict[str, int] = field(default_factory=dict)

    def rows(self) -> list[dict]:
        out = []
        for ent in sorted(self.per_entity):
            s = self.per_entity[ent]
            out.append({"entity_type": ent, "precision": s.precision, "recall": s.recall,
                        "tp": s.tp, "predicted": s.n_pred, "gold": s.n_gold})
        return out


def load_presidio_research(path: str | Path, label_map: dict[str, str | None] = LABEL_MAP) -> list[Labelled]:
    data = json.loads(Path(path).read_text())
    out = []
    for rec in data:
        spans = []
        for s in rec["spans"]:
            if s["entity_type"] not in label_map:
                raise KeyError(f"label {s['entity_type']!r} has no entry in the label map")
            mapped = label_map[s["entity_type"]]
            if mapped is not None:
                spans.append((mapped, int(s["start_position"]), int(s["end_position"])))
        out.append(Labelled(rec["full_text"], tuple(spans)))
    return out


def _iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union else 0.0


def evaluate(
    data: Sequence[Labelled],
    predictions: Sequence[Iterable[tuple[str, int, int]]],
    entity_types: Iterable[str] | None = None,
    min_iou: float = 0.5,
) -> Report:
    """Score predictions[i] = [(entity_type, start, end), ...] against data[i]."""
    if len(data) != len(predictions):
        raise ValueError("one prediction list per labelled text is required")
    gold_types = {t for d in data for t, _, _ in d.spans}
    scored = set(entity_types) & gold_types if entity_types is not None else gold_types
    per: dict[str, Scores] = defaultdict(Scores)
    unscored: dict[str, int] = defaultdict(int)
    for d, preds in zip(data, predictions):
        preds = [p for p in preds]
        for p in preds:
            if p[0] in scored:
                per[p[0]].n_pred += 1
            else:
                unscored[p[0]] += 1
        gold = [g for g in d.spans if g[0] in scored]
        for g in gold:
            per[g[0]].n_gold += 1
        pairs = []
        for i, p in enumerate(preds):
            if p[0] not in scored:
                continue
            for j, g in enumerate(gold):
                if g[0] == p[0]:
                    iou = _iou((p[1], p[2]), (g[1], g[2]))
                    if iou >= min_iou:
                        pairs.append((iou, i, j))
        used_p, used_g = set(), set()
        for iou, i, j in sorted(pairs, reverse=True):
            if i in used_p or j in used_g:
                continue
            used_p.add(i)
            used_g.add(j)
            per[preds[i][0]].tp += 1
    for t in scored:
        per.setdefault(t, Scores())
    micro = Scores(sum(s.tp for s in per.values()), sum(s.n_pred for s in per.values()),
                   sum(s.n_gold for s in per.values()))
    return Report(dict(per), micro, dict(unscored))


def predict_with(detect: Callable[[list[str]], list[list]], data: Sequence[Labelled], batch: int = 256):
    """Run a detector (texts -> spans with entity_type/start/end) over labelled data."""
    out = []
    texts = [d.text for d in data]
    for i in range(0, len(texts), batch):
        for spans in detect(texts[i : i + batch]):
            out.append([(s.entity_type, s.start, s.end) for s in spans])
    return out


def format_table(report: Report, title: str = "") -> str:
    lines = [f"### {title}" if title else "", "", "| entity | precision | recall | TP | predicted | gold |",
             "|---|---|---|---|---|---|"]
    for r in report.rows():
        lines.append(f"| {r['entity_type']} | {r['precision']:.3f} | {r['recall']:.3f} | {r['tp']} | "
                     f"{r['predicted']} | {r['gold']} |")
    m = report.micro
    lines.append(f"| **all (micro)** | {m.precision:.3f} | {m.recall:.3f} | {m.tp} | {m.n_pred} | {m.n_gold} |")
    return "\n".join(lines)

"""One shard, start to finish: read -> detect -> write. A plain class: Ray only schedules it.

`ShardWorker` builds the profile's detectors once (models load here), then `process(shard)`
reads the shard in record batches, runs every detector on the batch's texts, and writes the
shard's `findings` and `records` files atomically, then its `done` marker. Redoing a shard
replaces its files whole, so a crash never leaves duplicates.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import pyarrow as pa

from workbench.corpus.plan import Shard
from workbench.corpus.records import RecordBatch, read_batches
from workbench.detectors.base import Span, scannable
from workbench.detectors.registry import build_detectors
from workbench.store import FINDINGS, RECORDS, Store
from workbench.store.schema import FINDINGS_WITH_MATCH

log = logging.getLogger(__name__)


@dataclass
class ScanSettings:
    """Everything a worker needs, plain data so it travels to Ray workers."""

    store: str
    run_id: str
    detectors: dict[str, dict[str, Any]]
    fields: list[str]
    id_field: str | None = None
    store_matches: bool = False
    batch_records: int = 2048
    batch_chars: int = 4_000_000
    max_record_bytes: int = 8 << 20
    resolve_overlaps: bool = True
    overlap_priority: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def detect(
    detectors: list[Any], texts: list[str], resolve: bool = True, priority: list[str] | None = None
) -> list[list[Span]]:
    """Run every detector on a batch of texts; merge overlapping spans of several detectors.

    `priority` lists detector names, most trusted first (see `merge.resolve_overlaps`)."""
    per_text: list[list[Span]] = [[] for _ in texts]
    if not texts:
        return per_text
    texts = scannable(texts)
    for det in detectors:
        for i, spans in enumerate(det(texts)):
            per_text[i].extend(spans)
    if resolve and len(detectors) > 1:
        from workbench.detectors.merge import resolve_overlaps

        rank = {name: len(priority) - i for i, name in enumerate(priority)} if priority else None
        per_text = [resolve_overlaps(s, rank) if len(s) > 1 else s for s in per_text]
    return per_text


class ShardWorker:
    def __init__(self, settings: ScanSettings):
        self.settings = settings
        self.store = Store(settings.store)
        self.detectors = build_detectors(settings.detectors)

    def process(self, shard: Shard | dict, progress: Callable[[dict], None] | None = None) -> dict[str, Any]:
        if isinstance(shard, dict):
            shard = Shard.from_dict(shard)
        s = self.settings
        t0 = time.perf_counter()
        findings: dict[str, list] = {name: [] for name in (FINDINGS_WITH_MATCH if s.store_matches else FINDINGS).names}
        records: dict[str, list] = {name: [] for name in RECORDS.names}
        entity_counts: Counter[str] = Counter()
        n_ok = n_err = 0
        n_bytes = reported = 0
        for batch in read_batches(shard, s.fields, s.id_field, s.batch_records, s.max_record_bytes, s.batch_chars):
            spans = detect(self.detectors, batch.texts, s.resolve_overlaps, s.overlap_priority)
            per_record = self._add_findings(shard, batch, spans, findings, entity_counts)
            for k, rid in enumerate(batch.record_ids):
                err = batch.errors[k]
                records["source_uri"].append(shard.uri)
                records["record_id"].append(rid)
                records["status"].append("error" if err else "ok")
                records["error"].append(err)
                records["n_chars"].append(batch.n_chars[k])
                records["n_findings"].append(per_record[k])
                if err:
                    n_err += 1
                else:
                    n_ok += 1
            n_bytes += batch.n_bytes
            if progress:
                # progress counts input bytes as planned (compressed size for .gz/.zst), so the bar
                # and its ETA never run past the total: clamp to what the shard has left
                step = min(batch.n_bytes, shard.n_bytes - reported)
                reported += step
                progress({"records": len(batch), "bytes": step, "findings": sum(per_record)})
        if progress and shard.n_bytes > reported:
            progress({"records": 0, "bytes": shard.n_bytes - reported, "findings": 0})
        schema = FINDINGS_WITH_MATCH if s.store_matches else FINDINGS
        self.store.write_table("findings", s.run_id, shard.shard_id, pa.Table.from_pydict(findings, schema=schema))
        self.store.write_table("records", s.run_id, shard.shard_id, pa.Table.from_pydict(records, schema=RECORDS))
        info = {
            "shard_id": shard.shard_id,
            "uri": shard.uri,
            "records_ok": n_ok,
            "records_error": n_err,
            "findings": sum(entity_counts.values()),
            "entities": dict(entity_counts),
            "bytes": n_bytes or shard.n_bytes,
            "seconds": round(time.perf_counter() - t0, 4),
        }
        self.store.mark_done(s.run_id, shard.shard_id, info)
        return info

    def _add_findings(
        self,
        shard: Shard,
        batch: RecordBatch,
        spans: list[list[Span]],
        out: dict[str, list],
        entity_counts: Counter[str],
    ) -> list[int]:
        per_record = [0] * len(batch.record_ids)
        store = self.store
        keep_match = self.settings.store_matches
        for i, text_spans in enumerate(spans):
            if not text_spans:
                continue
            k = batch.text_record[i]
            text = batch.texts[i]
            rid = batch.record_ids[k]
            fname = batch.text_field[i]
            for sp in text_spans:
                value = text[sp.start : sp.end]
                out["source_uri"].append(shard.uri)
                out["record_id"].append(rid)
                out["field"].append(fname)
                out["detector"].append(sp.detector)
                out["entity_type"].append(sp.entity_type)
                out["start"].append(sp.start)
                out["end"].append(sp.end)
                out["score"].append(float(sp.score))
                out["match_hash"].append(store.hash(value))
                out["preview"].append(store.preview(value))
                out["rule"].append(sp.rule)
                out["extra"].append(json.dumps(sp.extra, sort_keys=True, default=str) if sp.extra else None)
                if keep_match:
                    out["match"].append(value)
                entity_counts[sp.entity_type] += 1
                per_record[k] += 1
        return per_record

"""From rows to the texts detectors see: record ids, field extraction, per-record status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Sequence

from workbench.corpus.fields import Segment, extract, parse_path
from workbench.corpus.formats import Row, iter_rows
from workbench.corpus.plan import Shard


@dataclass
class RecordBatch:
    """A batch of records of one shard and the texts to scan in them.

    `texts[i]` belongs to record `text_record[i]` (an index into the record lists) and field
    `text_field[i]`. Records that could not be parsed have status 'error' and no texts. A record
    with a field of the wrong type (number, list, object), or with none of the requested fields,
    is 'error' too (its other fields are still scanned); a field that is merely absent or null
    in a record that has another requested field is not an error (records of mixed shapes).
    """

    record_ids: list[str] = field(default_factory=list)
    errors: list[str | None] = field(default_factory=list)
    n_chars: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    text_record: list[int] = field(default_factory=list)
    text_field: list[str] = field(default_factory=list)
    n_bytes: int = 0

    def __len__(self) -> int:
        return len(self.record_ids)


def record_id(row: Row, uri: str, id_field: str | None) -> str:
    if id_field and row.value is not None:
        v = row.value.get(id_field) if "." not in id_field else _dig(row.value, id_field)
        if isinstance(v, (str, int)) and not isinstance(v, bool) and str(v) != "":
            return str(v)
    return f"{uri}:{row.index}"


def _dig(value: dict, path: str):
    node = value
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def read_batches(
    shard: Shard,
    fields: Sequence[str],
    id_field: str | None = None,
    batch_records: int = 2048,
    max_record_bytes: int = 8 << 20,
    batch_chars: int | None = 4_000_000,
) -> Iterator[RecordBatch]:
    paths: list[tuple[Segment, ...]] = [parse_path(f) for f in fields]
    if shard.format == "text":
        paths = [parse_path("text")]
    batch = RecordBatch()
    batch_size = 0  # characters of text in the batch
    for row in iter_rows(shard, max_record_bytes):
        k = len(batch.record_ids)
        batch.record_ids.append(record_id(row, shard.uri, id_field))
        batch.n_bytes += row.n_bytes
        if row.value is None:
            batch.errors.append(row.error or "unreadable record")
            batch.n_chars.append(0)
        else:
            problems = []
            missing = []
            chars = 0
            found = False
            for p in paths:
                for fv in extract(row.value, p):
                    if fv.text is None:
                        (missing if fv.missing else problems).append(fv.problem)
                        continue
                    found = True
                    if len(fv.text) > max_record_bytes:
                        problems.append(f"field {fv.name!r} of {len(fv.text) / 1e6:.1f} M characters exceeds max_record_mb")
                        continue
                    batch.texts.append(fv.text)
                    batch.text_record.append(k)
                    batch.text_field.append(fv.name)
                    chars += len(fv.text)
            if not found and not problems:
                problems = ["no text field: " + "; ".join(missing)]
            batch.errors.append("; ".join(problems) if problems else None)
            batch.n_chars.append(chars)
        batch_size += batch.n_chars[-1]
        if len(batch.record_ids) >= batch_records or (batch_chars is not None and batch_size >= batch_chars):
            yield batch
            batch = RecordBatch()
            batch_size = 0
    if batch.record_ids:
        yield batch

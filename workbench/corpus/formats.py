"""Reading one shard as rows. Every physical row becomes exactly one `Row`: parsed, or an error
with a reason that never quotes the row's content.

A row's `raw` bytes are kept for line-based formats, so a writer can copy a bad row through
unchanged (redaction).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass
from typing import Any, BinaryIO, Iterator

import numpy as np

from workbench.corpus.plan import Shard

_READ = 1 << 20


@dataclass
class Row:
    index: int  # global row index in its file (line number for JSONL, from 0)
    value: dict[str, Any] | None
    error: str | None = None
    raw: bytes | None = None
    n_bytes: int = 0


def open_binary(path: str, compression: str | None) -> BinaryIO:
    if compression == "gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if compression == "zst":
        import zstandard

        fh = open(path, "rb")
        reader = zstandard.ZstdDecompressor().stream_reader(fh, closefd=True)
        return io.BufferedReader(reader, buffer_size=_READ)  # type: ignore[arg-type]
    return open(path, "rb")


def _decompress_error(e: BaseException, compression: str | None) -> str:
    kind = {"gz": "gzip", "zst": "zstd"}.get(compression or "", "")
    if isinstance(e, EOFError):
        return f"truncated {kind} stream: the rest of the file could not be read"
    return f"corrupt {kind} stream ({type(e).__name__}): the rest of the file could not be read"


def _decode(raw: bytes) -> tuple[str | None, str | None]:
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as e:
        return None, f"invalid UTF-8 at byte {e.start} of the row"


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _lines(f: BinaryIO, shard: Shard, max_bytes: int) -> Iterator[tuple[int, bytes | None, int]]:
    """(index, line without newline or None if too long, n_bytes) for lines of the shard."""
    if shard.start:
        if shard.compression:
            _skip(f, shard.start)
        else:
            f.seek(shard.start)
    pos = shard.start
    index = shard.first_row
    end = shard.end
    while end < 0 or pos < end:
        line = f.readline(max_bytes + 1)
        if not line:
            return
        n = len(line)
        if len(line) > max_bytes and not line.endswith(b"\n"):
            # too long: skip the rest of the line in bounded reads
            while True:
                more = f.readline(_READ)
                n += len(more)
                if not more or more.endswith(b"\n"):
                    break
            yield index, None, n
        else:
            yield index, line.rstrip(b"\n").rstrip(b"\r"), n
        pos += n
        index += 1


def _skip(f: BinaryIO, n: int) -> None:
    while n > 0:
        got = f.read(min(n, _READ))
        if not got:
            return
        n -= len(got)


def iter_rows(shard: Shard, max_record_bytes: int = 8 << 20) -> Iterator[Row]:
    if shard.binary:
        yield Row(
            shard.first_row,
            None,
            f"binary content (NUL bytes) in a .{shard.format} file: not scanned",
            None,
            shard.n_bytes,
        )
        return
    if shard.format == "parquet":
        yield from _parquet_rows(shard, max_record_bytes)
        return
    last_index = shard.first_row - 1
    try:
        with open_binary(shard.uri, shard.compression) as f:
            if shard.format == "csv":
                for row in _csv_rows(f, shard, max_record_bytes):
                    last_index = row.index
                    yield row
                return
            for index, line, n in _lines(f, shard, max_record_bytes):
                last_index = index
                if line is None:
                    yield Row(index, None, f"record of {_mb(n)} exceeds max_record_mb ({_mb(max_record_bytes)})", None, n)
                    continue
                yield _parse_line(index, line, n, shard.format)
    except (EOFError, OSError, ValueError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        if shard.compression or isinstance(e, EOFError):
            yield Row(last_index + 1, None, _decompress_error(e, shard.compression), None, 0)
            return
        raise
    except Exception as e:  # zstandard.ZstdError and similar
        if shard.compression:
            yield Row(last_index + 1, None, _decompress_error(e, shard.compression), None, 0)
            return
        raise


def _parse_line(index: int, line: bytes, n: int, fmt: str) -> Row:
    text, err = _decode(line)
    if err:
        return Row(index, None, err, line, n)
    if fmt == "text":
        return Row(index, {"text": text}, None, line, n)
    if not text.strip():
        return Row(index, None, "empty line", line, n)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        return Row(index, None, f"malformed JSON: {e.msg} (column {e.colno})", line, n)
    except RecursionError:
        return Row(index, None, "malformed JSON: nested too deeply", line, n)
    if not isinstance(value, dict):
        kind = "list" if isinstance(value, list) else type(value).__name__
        return Row(index, None, f"JSON line is a {kind}, expected an object", line, n)
    return Row(index, value, None, line, n)


def split_csv_records(data: bytes) -> list[bytes]:
    """Split CSV bytes on record-ending newlines (newlines outside quotes)."""
    if not data:
        return []
    arr = np.frombuffer(data, dtype=np.uint8)
    q = (arr == 34).astype(np.int64)
    before = (np.cumsum(q) - q) & 1
    ends = np.flatnonzero((arr == 10) & (before == 0))
    out = []
    prev = 0
    for e in ends:
        out.append(data[prev:e])
        prev = int(e) + 1
    if prev < len(data):
        out.append(data[prev:])
    return out


def _csv_rows(f: BinaryIO, shard: Shard, max_bytes: int) -> Iterator[Row]:
    header = shard.header
    if shard.start:
        if shard.compression:
            _skip(f, shard.start)
        else:
            f.seek(shard.start)
    if shard.end >= 0:
        data = f.read(shard.end - shard.start)
    else:
        data = f.read()
    index = shard.first_row
    for rec in split_csv_records(data):
        raw = rec.rstrip(b"\r")
        n = len(rec) + 1
        if not raw.strip():
            index += 1
            continue
        if header is None:
            yield Row(index, None, "CSV file has no readable header row", raw, n)
        elif len(raw) > max_bytes:
            yield Row(index, None, f"record of {_mb(len(raw))} exceeds max_record_mb ({_mb(max_bytes)})", raw, n)
        else:
            text, err = _decode(raw)
            if err:
                yield Row(index, None, err, raw, n)
            else:
                try:
                    cells = next(csv.reader([text], strict=True))
                except (csv.Error, StopIteration) as e:
                    yield Row(index, None, f"malformed CSV row: {e}", raw, n)
                else:
                    if len(cells) != len(header):
                        yield Row(index, None, f"CSV row has {len(cells)} columns, header has {len(header)}", raw, n)
                    else:
                        yield Row(index, dict(zip(header, cells)), None, raw, n)
        index += 1


def _parquet_rows(shard: Shard, max_bytes: int) -> Iterator[Row]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(shard.uri)
    except Exception as e:
        yield Row(shard.first_row, None, f"unreadable Parquet file ({type(e).__name__})", None, shard.n_bytes)
        return
    groups = list(range(shard.start, shard.end))
    if not groups:
        return
    index = shard.first_row
    per_row = shard.n_bytes / max(1, sum(pf.metadata.row_group(g).num_rows for g in groups))
    try:
        for batch in pf.iter_batches(row_groups=groups, batch_size=4096):
            for value in batch.to_pylist():
                yield Row(index, value, None, None, int(per_row))
                index += 1
    except Exception as e:
        yield Row(index, None, f"unreadable Parquet data after row {index} ({type(e).__name__})", None, 0)

"""Input discovery and shard planning.

`plan(paths)` expands files, directories and globs into input files and cuts them into
shards, the unit of work, retry and resume:

- JSONL and plain text (uncompressed): byte ranges split on line boundaries;
- CSV (uncompressed): byte ranges split on record boundaries (quote-aware, so a quoted field
  with a newline never straddles two shards);
- Parquet: groups of row groups;
- compressed files (`.gz`, `.zst`) and small files: one shard each.

The plan is deterministic for the same inputs, so a re-run with the same run id finds the
same shard ids. Every shard knows the global row index of its first row, so record ids
(`<source_uri>:<row>`) do not depend on how the file was cut.
"""

from __future__ import annotations

import glob as _glob
import hashlib
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".txt": "text",
    ".text": "text",
    ".log": "text",
}
COMPRESSIONS = {".gz": "gz", ".zst": "zst", ".zstd": "zst"}
_CHUNK = 4 << 20


class CorpusError(Exception):
    """Inputs that cannot be used: a missing path, an unsupported file (one clear line)."""


@dataclass(frozen=True)
class InputFile:
    uri: str
    size: int
    mtime: float
    format: str
    compression: str | None


@dataclass(frozen=True)
class Shard:
    shard_id: str
    uri: str
    format: str
    compression: str | None
    start: int  # byte offset (jsonl/text/csv) or first row group (parquet)
    end: int  # byte offset or row group, exclusive
    first_row: int  # global index of the shard's first row
    n_bytes: int  # input bytes this shard covers (for progress)
    header: list[str] | None = None  # csv column names
    binary: bool = False  # a text-format file with NUL bytes: reported as one error record
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "Shard":
        return Shard(**d)


def detect_format(path: Path) -> tuple[str, str | None] | None:
    suffixes = [s.lower() for s in path.suffixes]
    compression = None
    if suffixes and suffixes[-1] in COMPRESSIONS:
        compression = COMPRESSIONS[suffixes.pop()]
    if not suffixes:
        return None
    fmt = FORMATS.get(suffixes[-1])
    if fmt is None or (fmt == "parquet" and compression):
        return None
    return fmt, compression


def expand(paths: list[str]) -> list[InputFile]:
    """Files, directories (recursively) and globs -> supported input files, sorted."""
    if not paths:
        raise CorpusError("no input paths given")
    found: dict[str, InputFile] = {}
    for raw in paths:
        p = Path(raw).expanduser()
        if any(ch in raw for ch in "*?["):
            matches = sorted(_glob.glob(str(p), recursive=True))
            if not matches:
                raise CorpusError(f"no files match {raw!r}")
            candidates = [Path(m) for m in matches]
        elif not p.exists():
            raise CorpusError(f"no such file or directory: {raw}")
        else:
            candidates = [p]
        for c in candidates:
            if c.is_dir():
                files = sorted(f for f in c.rglob("*") if f.is_file() and not _hidden(f, c))
                for f in files:
                    if detect_format(f):
                        _add(found, f)
            elif c.is_file():
                if not detect_format(c):
                    raise CorpusError(
                        f"unsupported file type: {c} (supported: .jsonl[.gz|.zst], .parquet, .csv[.gz|.zst], .txt[.gz|.zst])"
                    )
                _add(found, c)
    if not found:
        raise CorpusError(f"no supported input files under {', '.join(paths)}")
    return sorted(found.values(), key=lambda f: f.uri)


def _hidden(f: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in f.relative_to(root).parts)


def _add(found: dict[str, InputFile], f: Path) -> None:
    f = f.resolve()
    if not os.access(f, os.R_OK):
        raise CorpusError(f"cannot read {f}: permission denied")
    st = f.stat()
    fmt, comp = detect_format(f)  # type: ignore[misc]
    found[str(f)] = InputFile(str(f), st.st_size, st.st_mtime, fmt, comp)


def _shard_prefix(uri: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(uri).name)[:40].lstrip("._-") or "file"
    return f"{stem}-{hashlib.sha1(uri.encode()).hexdigest()[:10]}"


def _has_nul(path: str, compression: str | None) -> bool:
    from workbench.corpus.formats import open_binary

    try:
        with open_binary(path, compression) as f:
            head = f.read(8192)
    except Exception:
        return False  # decompression errors are reported when the shard is read
    return b"\x00" in head


def _line_boundaries(path: str, size: int, target: int, quote_aware: bool) -> list[tuple[int, int]]:
    """[(offset, rows_before)] of shard starts: record boundaries at or after multiples of target."""
    starts = [(0, 0)]
    next_target = target
    rows = 0
    parity = 0
    pos = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(_CHUNK)
            if not chunk:
                break
            arr = np.frombuffer(chunk, dtype=np.uint8)
            nl = arr == 10
            if quote_aware:
                q = (arr == 34).astype(np.int64)
                before = (parity + np.cumsum(q) - q) & 1
                nl &= before == 0
                parity = int((parity + q.sum()) & 1)
            ends = np.flatnonzero(nl)  # record-ending newlines in this chunk
            if next_target < pos + len(chunk):
                # boundaries (offset just after a newline) that pass a target
                offs = ends + pos + 1
                i0 = 0
                while next_target < pos + len(chunk):
                    k = int(np.searchsorted(offs, next_target, side="left"))
                    if k >= len(offs):
                        break
                    b = int(offs[k])
                    if b >= size:
                        break
                    starts.append((b, rows + k + 1))
                    i0 = k + 1
                    next_target = b + target
                del i0
            rows += len(ends)
            pos += len(chunk)
    return starts


def plan(files: list[InputFile], shard_bytes: int = 64 << 20) -> list[Shard]:
    import pyarrow.parquet as pq

    shards: list[Shard] = []
    for f in files:
        prefix = _shard_prefix(f.uri)
        if f.format == "parquet":
            try:
                md = pq.ParquetFile(f.uri).metadata
            except Exception:
                # unreadable: one shard, whose read reports the error as a record
                shards.append(Shard(f"{prefix}-00000", f.uri, f.format, None, 0, 0, 0, f.size, binary=False))
                continue
            group_start, row, acc, first_row, i = 0, 0, 0, 0, 0
            n = md.num_row_groups
            for g in range(n):
                acc += md.row_group(g).total_byte_size
                row += md.row_group(g).num_rows
                if acc >= shard_bytes or g == n - 1:
                    shards.append(
                        Shard(f"{prefix}-{i:05d}", f.uri, f.format, None, group_start, g + 1, first_row, acc)
                    )
                    i += 1
                    group_start, first_row, acc = g + 1, row, 0
            if n == 0:
                shards.append(Shard(f"{prefix}-00000", f.uri, f.format, None, 0, 0, 0, f.size))
            continue
        header = None
        binary = _has_nul(f.uri, f.compression)
        if f.format == "csv" and not binary:
            header, header_end = _csv_header(f)
        else:
            header_end = 0
        if f.compression or binary or f.size <= shard_bytes:
            shards.append(
                Shard(f"{prefix}-00000", f.uri, f.format, f.compression, header_end, -1, 0, f.size, header, binary)
            )
            continue
        bounds = _line_boundaries(f.uri, f.size, shard_bytes, quote_aware=(f.format == "csv"))
        if f.format == "csv":
            # the header is row "-1": data rows are counted after it
            bounds = [(max(b, header_end), max(r - 1, 0)) for b, r in bounds]
        for i, (b, rows_before) in enumerate(bounds):
            e = bounds[i + 1][0] if i + 1 < len(bounds) else f.size
            shards.append(
                Shard(f"{prefix}-{i:05d}", f.uri, f.format, None, b, e, rows_before, e - b, header)
            )
    return shards


def _csv_header(f: InputFile) -> tuple[list[str] | None, int]:
    """The CSV header row and the byte offset where data starts (uncompressed files)."""
    import csv
    import io

    from workbench.corpus.formats import open_binary

    with open_binary(f.uri, f.compression) as fh:
        raw = fh.readline(1 << 20)
    try:
        line = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, len(raw)
    row = next(csv.reader(io.StringIO(line)), None)
    return (row or None), len(raw)

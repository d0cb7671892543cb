"""`workbench redact`: write a cleaned copy of a corpus, same format and layout.

For every input file (JSONL[.gz|.zst], text, CSV[.gz|.zst], Parquet) the output file has the
same format, compression and relative path under the output directory; rows keep their order
and every field that is not redacted is left as it was:

- a row with nothing to redact is copied byte for byte (JSONL/text/CSV) or, for Parquet, a row
  group with nothing to redact is written from the original Arrow data;
- a row that could not be parsed (malformed JSON, invalid UTF-8, wrong column count) is copied
  through unchanged and listed in the report (never silently dropped);
- a row with findings gets each finding replaced per its entity's policy: `tag` (`<EMAIL_ADDRESS>`,
  the default), `mask` (`*` for every character), `pseudonym` (a keyed hash of the value under
  the store key: the same value gives the same pseudonym across files and runs) or `drop` (the
  whole record is left out and counted).

Findings come from the profile's detectors, or from an earlier scan (`from_run`): the findings of
that run are checked against the text (their keyed hash must match) and any field whose findings
do not match, or any record the scan could not read, is detected again with the run's detectors.
Overlapping findings (several detectors, several rules) are merged into one replaced span, so no
fragment of a value survives; the strictest policy of the merged entities applies.

Originals are never modified, and the output directory may not be inside an input path. At the
end the output is scanned again with the same detectors: the report shows the findings that
remain, per entity (zero for every redacted type is the expected result).
"""

from __future__ import annotations

import csv
import glob as _glob
import gzip
import hashlib
import hmac
import io
import json
import logging
import os
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Literal, Sequence

from pydantic import Field, ValidationError, field_validator

from workbench.config import ConfigError, Profile, Strict, _format_validation_error
from workbench.corpus.fields import extract, parse_path, set_value
from workbench.corpus.formats import Row, iter_rows, open_binary
from workbench.corpus.plan import CorpusError, InputFile, Shard, expand, plan
from workbench.corpus.records import record_id
from workbench.detectors.base import Span
from workbench.store import Store

log = logging.getLogger(__name__)

Policy = Literal["tag", "mask", "pseudonym", "drop"]
# When findings of different entities overlap, the merged span gets the strictest policy.
STRICTNESS: dict[str, int] = {"drop": 3, "tag": 2, "mask": 1, "pseudonym": 0}
_NO_LIMIT = 1 << 62  # rows are never skipped for size here: a row is redacted or copied, never lost
_PSEUDONYM_DOMAIN = b"workbench-pseudonym\x00"


def _is_label(extra: str | None) -> bool:
    if not extra or "scope" not in extra:
        return False
    try:
        return json.loads(extra).get("scope") == "text"
    except (ValueError, AttributeError):
        return False


class RedactError(Exception):
    """A redaction that cannot start (bad output dir, stale run, missing key): one clear line."""


# ---- policy ------------------------------------------------------------------------------


class RedactPolicy(Strict):
    """The profile's optional `redact:` section."""

    default: Policy = Field("tag", description="policy for entities not listed in `entities`")
    entities: dict[str, Policy] = Field(default_factory=dict, description="entity type -> policy")
    tag_format: str = Field("<{entity}>", description="replacement for `tag`; {entity} is the entity type")
    pseudonym_format: str = Field("<{entity}_{hash}>", description="replacement for `pseudonym`; {entity}, {hash}")
    pseudonym_chars: int = Field(12, ge=8, le=64, description="hex characters of the keyed hash in a pseudonym")
    mask_char: str = Field("*", min_length=1, max_length=1, description="character used by `mask`")

    @field_validator("tag_format")
    @classmethod
    def _tag(cls, v: str) -> str:
        _check_format(v, {"entity"})
        return v

    @field_validator("pseudonym_format")
    @classmethod
    def _pseudo(cls, v: str) -> str:
        if "{hash}" not in v:
            raise ValueError("pseudonym_format must contain {hash}")
        _check_format(v, {"entity", "hash"})
        return v

    def policy_for(self, entity: str) -> str:
        return self.entities.get(entity, self.default)

    @classmethod
    def from_profile(cls, profile: Profile) -> "RedactPolicy":
        try:
            return cls.model_validate(profile.redact or {})
        except ValidationError as e:
            where = f"profile {profile.source}" if profile.source else f"profile {profile.name}"
            raise ConfigError(f"{where}: redact: {_format_validation_error(e)}") from None


def _check_format(v: str, allowed: set[str]) -> None:
    import string

    try:
        names = {f for _, f, _, _ in string.Formatter().parse(v) if f is not None}
    except ValueError as e:
        raise ValueError(f"invalid format string ({e})") from None
    unknown = names - allowed
    if unknown:
        raise ValueError(f"unknown placeholder {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(allowed))})")


def pseudonym_hash(key: bytes, value: str) -> str:
    """Keyed hash for pseudonyms: HMAC-SHA256 under the store key, domain-separated from match_hash."""
    return hmac.new(key, _PSEUDONYM_DOMAIN + value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


# ---- merging and replacing ---------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """One span to replace after merging overlaps: [start, end) of the field's text."""

    start: int
    end: int
    entity: str
    policy: str
    entities: tuple[str, ...]


def merge_spans(spans: Iterable[tuple[int, int, str]], policy: RedactPolicy) -> list[Piece]:
    """Union overlapping spans into pieces; a piece takes the strictest policy of its entities.

    Ties between entities of equally strict policies go to the one covering most characters.
    Touching spans (one ends where the next starts) stay separate pieces.
    """
    items = sorted((s, e, ent) for s, e, ent in spans if e > s)
    groups: list[list[tuple[int, int, str]]] = []
    end = -1
    for s, e, ent in items:
        if groups and s < end:
            groups[-1].append((s, e, ent))
            end = max(end, e)
        else:
            groups.append([(s, e, ent)])
            end = e
    out = []
    for g in groups:
        cover: Counter[str] = Counter()
        for s, e, ent in g:
            cover[ent] += e - s
        ent = max(cover, key=lambda x: (STRICTNESS[policy.policy_for(x)], cover[x], x))
        out.append(
            Piece(g[0][0], max(e for _, e, _ in g), ent, policy.policy_for(ent), tuple(sorted(cover)))
        )
    return out


class Replacer:
    """Applies pieces to a text with presidio-anonymizer operators (replace, mask, custom)."""

    def __init__(self, policy: RedactPolicy, key: bytes | None):
        from presidio_anonymizer import AnonymizerEngine

        self.policy = policy
        self.key = key
        self.engine = AnonymizerEngine()

    def _operator(self, entity: str, pol: str):
        from presidio_anonymizer.entities import OperatorConfig

        p = self.policy
        if pol == "tag":
            return OperatorConfig("replace", {"new_value": p.tag_format.format(entity=entity)})
        if pol == "mask":
            return OperatorConfig("mask", {"masking_char": p.mask_char, "chars_to_mask": 1 << 30, "from_end": False})
        if pol == "pseudonym":
            if self.key is None:
                raise RedactError("the pseudonym policy needs a store key: give --store STORE or --from-run STORE:RUN_ID")
            key, n, fmt = self.key, p.pseudonym_chars, p.pseudonym_format
            return OperatorConfig(
                "custom", {"lambda": lambda v, e=entity: fmt.format(entity=e, hash=pseudonym_hash(key, v)[:n])}
            )
        raise ValueError(f"no operator for policy {pol!r}")

    def apply(self, text: str, pieces: Sequence[Piece]) -> str:
        from presidio_anonymizer.entities import RecognizerResult

        pieces = [p for p in pieces if p.policy != "drop"]
        if not pieces:
            return text
        # presidio keys operators by entity type: give each piece a unique type so that every
        # piece gets exactly its own operator (pieces never overlap after merge_spans)
        results, operators = [], {}
        for i, p in enumerate(pieces):
            label = f"P{i}"
            results.append(RecognizerResult(label, p.start, p.end, 1.0))
            operators[label] = self._operator(p.entity, p.policy)
        return self.engine.anonymize(text=text, analyzer_results=results, operators=operators).text


# ---- where findings come from --------------------------------------------------------------

FieldKey = tuple[int, str]  # (row position in the batch, concrete field name)


class DetectSource:
    """Findings from detectors run now (the profile's, or a run's for re-detection)."""

    def __init__(self, detectors_config: dict[str, dict[str, Any]]):
        from workbench.detectors.registry import build_detectors

        self.detectors = build_detectors(detectors_config)

    def detect(self, texts: list[str]) -> list[list[Span]]:
        from workbench.pipeline.worker import detect

        return detect(self.detectors, texts, resolve=False)


class RunSource:
    """Findings of an earlier scan, checked against the text by their keyed hash."""

    def __init__(self, store: Store, run_id: str, manifest: dict[str, Any]):
        self.store = store
        self.run_id = run_id
        self.manifest = manifest
        self.config = manifest.get("config") or {}
        self._redetect: DetectSource | None = None
        self.stale_findings = 0
        self.redetected_fields = 0

    @property
    def redetector(self) -> DetectSource:
        if self._redetect is None:
            self._redetect = DetectSource(self.config.get("detectors") or {})
        return self._redetect

    def findings_for(self, uri: str) -> tuple[dict[tuple[str, str], list[tuple[int, int, str, str | None]]], set[str]]:
        """(record_id, field) -> [(start, end, entity, match_hash)], and record ids the run had as errors.

        Whole-text labels (classifier findings, `extra.scope == "text"`) come with match_hash None.
        """
        import pyarrow.dataset as ds

        out: dict[tuple[str, str], list[tuple[int, int, str, str | None]]] = defaultdict(list)
        files = self.store.shard_files("findings", self.run_id)
        if files:
            t = ds.dataset([str(f) for f in files], format="parquet").to_table(
                columns=["record_id", "field", "entity_type", "start", "end", "match_hash", "extra"],
                filter=ds.field("source_uri") == uri,
            )
            for r in t.to_pylist():
                h = None if _is_label(r["extra"]) else r["match_hash"]
                out[(r["record_id"], r["field"])].append((r["start"], r["end"], r["entity_type"], h))
        errors: set[str] = set()
        rfiles = self.store.shard_files("records", self.run_id)
        if rfiles:
            t = ds.dataset([str(f) for f in rfiles], format="parquet").to_table(
                columns=["record_id"],
                filter=(ds.field("source_uri") == uri) & (ds.field("status") == "error"),
            )
            errors = set(t.column("record_id").to_pylist())
        return out, errors


# ---- the report --------------------------------------------------------------------------


@dataclass
class FileReport:
    input: str
    output: str
    format: str
    compression: str | None
    rows_in: int = 0
    rows_out: int = 0
    modified: int = 0
    dropped: int = 0
    unparsed: list[dict[str, Any]] = field(default_factory=list)  # {row, error}; copied through unchanged
    lost: list[dict[str, Any]] = field(default_factory=list)  # unreadable remainders (truncated streams)


@dataclass
class RedactReport:
    out_dir: str
    source: str  # 'detect:<profile>' or 'run:<store>:<run_id>'
    policy: dict[str, Any]
    files: list[FileReport] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # entity -> policy -> replaced spans
    records_dropped: int = 0
    labels: dict[str, int] = field(default_factory=dict)  # whole-text labels (classifiers): records, nothing replaced
    stale_findings: int = 0
    redetected_fields: int = 0
    remaining: dict[str, int] | None = None  # re-scan of the output: entity -> findings left
    seconds: float = 0.0

    @property
    def rows_in(self) -> int:
        return sum(f.rows_in for f in self.files)

    @property
    def rows_out(self) -> int:
        return sum(f.rows_out for f in self.files)

    @property
    def redacted_types(self) -> list[str]:
        return sorted(self.counts)

    @property
    def clean(self) -> bool | None:
        if self.remaining is None:
            return None
        return all(self.remaining.get(e, 0) == 0 for e in self.redacted_types)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(rows_in=self.rows_in, rows_out=self.rows_out, redacted_types=self.redacted_types, clean=self.clean)
        return d


# ---- layout ------------------------------------------------------------------------------


def _glob_root(pattern: str) -> Path:
    parts = Path(pattern).expanduser().parts
    keep = []
    for p in parts:
        if any(ch in p for ch in "*?["):
            break
        keep.append(p)
    return Path(*keep).resolve() if keep else Path.cwd()


def plan_outputs(paths: Sequence[str], out_dir: Path) -> list[tuple[InputFile, Path]]:
    """Input files and their output paths: the same relative layout under `out_dir`."""
    out_dir = out_dir.expanduser().resolve()
    mapping: dict[str, tuple[InputFile, Path]] = {}
    for raw in paths:
        p = Path(raw).expanduser()
        is_glob = any(ch in raw for ch in "*?[")
        if is_glob:
            root = _glob_root(raw)
            roots_to_check = [Path(m).resolve() for m in _glob.glob(str(p), recursive=True)]
        else:
            if not p.exists():
                raise CorpusError(f"no such file or directory: {raw}")
            rp = p.resolve()
            root = rp if rp.is_dir() else rp.parent
            roots_to_check = [rp]
        for r in roots_to_check:
            if out_dir == r or r in out_dir.parents:
                raise RedactError(f"the output directory {out_dir} is inside the input path {r}: choose another --out")
        for f in expand([raw]):
            try:
                rel = Path(f.uri).relative_to(root)
            except ValueError:  # a symlink inside the input dir that points elsewhere
                rel = Path(Path(f.uri).name)
            target = out_dir / rel
            if f.uri in mapping:
                continue
            mapping[f.uri] = (f, target)
    targets: dict[Path, str] = {}
    inputs = {Path(u) for u in mapping}
    for uri, (_, target) in mapping.items():
        if target in targets:
            raise RedactError(f"two inputs would be written to the same output {target}: {targets[target]} and {uri}")
        if target in inputs:
            raise RedactError(f"the output {target} would overwrite an input file: choose another --out")
        targets[target] = uri
    return sorted(mapping.values(), key=lambda x: x[0].uri)


# ---- writing -----------------------------------------------------------------------------


class _AtomicOut:
    """A binary output file (optionally gz/zst) written to a temp file and renamed at the end."""

    def __init__(self, path: Path, compression: str | None, mode: int = 0o644):
        self.path = path
        self.mode = mode
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        self.raw = os.fdopen(fd, "wb")
        self._closers: list[Callable[[], None]] = []
        if compression == "gz":
            self.f: BinaryIO = gzip.GzipFile(filename="", mode="wb", fileobj=self.raw, mtime=0)  # type: ignore[assignment]
            self._closers.append(self.f.close)
        elif compression == "zst":
            import zstandard

            self.f = zstandard.ZstdCompressor().stream_writer(self.raw, closefd=False)  # type: ignore[assignment]
            self._closers.append(self.f.close)
        else:
            self.f = self.raw

    def write(self, data: bytes) -> None:
        self.f.write(data)

    def commit(self) -> None:
        for c in self._closers:
            c()
        self.raw.flush()
        os.fsync(self.raw.fileno())
        self.raw.close()
        os.chmod(self.tmp, self.mode)
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self.raw.close()
        finally:
            Path(self.tmp).unlink(missing_ok=True)


def _mode_of(uri: str) -> int:
    try:
        return os.stat(uri).st_mode & 0o777
    except OSError:
        return 0o644


def _line_ending(uri: str, compression: str | None) -> bytes:
    try:
        with open_binary(uri, compression) as f:
            head = f.readline(1 << 20)
    except Exception:
        return b"\n"
    return b"\r\n" if head.endswith(b"\r\n") else b"\n"


def _ends_with_newline(uri: str, compression: str | None) -> bool:
    if compression:
        return True  # not worth decompressing the whole file to find out
    try:
        with open(uri, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() == 0:
                return True
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"
    except OSError:
        return True


# ---- the run -----------------------------------------------------------------------------


@dataclass
class _Outcome:
    kind: str  # 'copy' | 'modified' | 'dropped' | 'unparsed'
    value: dict[str, Any] | None = None
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)  # field -> (old, new)


class Redactor:
    def __init__(
        self,
        policy: RedactPolicy,
        fields: list[str],
        id_field: str | None,
        detect_source: DetectSource | None,
        run_source: RunSource | None,
        key: bytes | None,
        batch_records: int = 512,
    ):
        self.policy = policy
        self.fields = fields
        self.paths = [parse_path(f) for f in fields]
        self.id_field = id_field
        self.detect_source = detect_source
        self.run_source = run_source
        self.replacer = Replacer(policy, key)
        self.batch_records = batch_records
        self.counts: dict[str, Counter[str]] = defaultdict(Counter)
        self.labels: Counter[str] = Counter()  # whole-text labels seen (records), replaced nothing
        self._run_findings: dict[tuple[str, str], list[tuple[int, int, str, str]]] = {}
        self._run_errors: set[str] = set()
        if any(p == "pseudonym" for p in [policy.default, *policy.entities.values()]) and key is None:
            raise RedactError("the pseudonym policy needs a store key: give --store STORE or --from-run STORE:RUN_ID")

    # -- spans for a batch of rows --------------------------------------------------------
    def _texts(self, row: Row, fmt: str) -> list[tuple[str, str]]:
        paths = [parse_path("text")] if fmt == "text" else self.paths
        out = []
        for p in paths:
            for fv in extract(row.value, p):
                if fv.text:
                    out.append((fv.name, fv.text))
        return out

    def _spans(
        self, uri: str, rows: list[Row], fmt: str
    ) -> tuple[dict[FieldKey, list[tuple[int, int, str]]], dict[int, set[str]]]:
        """Character spans to replace per (row, field), and whole-text labels per row."""
        labels: dict[int, set[str]] = defaultdict(set)
        items: list[tuple[FieldKey, str, str]] = []  # (key, record id, text)
        for k, row in enumerate(rows):
            if row.value is None:
                continue
            rid = record_id(row, uri, self.id_field)
            for name, text in self._texts(row, fmt):
                items.append(((k, name), rid, text))
        spans: dict[FieldKey, list[tuple[int, int, str]]] = {}
        to_detect: list[tuple[FieldKey, str]] = []
        if self.run_source is None:
            to_detect = [(key, text) for key, _, text in items]
        else:
            rs = self.run_source
            for key, rid, text in items:
                if rid in self._run_errors:
                    to_detect.append((key, text))
                    continue
                found = self._run_findings.get((rid, key[1]), [])
                ok = []
                stale = False
                for s, e, ent, h in found:
                    if h is None:
                        labels[key[0]].add(ent)
                    elif 0 <= s < e <= len(text) and rs.store.hash(text[s:e]) == h:
                        ok.append((s, e, ent))
                    else:
                        stale = True
                        rs.stale_findings += 1
                if stale:
                    to_detect.append((key, text))
                elif ok:
                    spans[key] = ok
        if to_detect:
            source = self.detect_source if self.run_source is None else self.run_source.redetector
            if self.run_source is not None:
                self.run_source.redetected_fields += len(to_detect)
            detected = source.detect([t for _, t in to_detect])  # type: ignore[union-attr]
            for (key, _), sp in zip(to_detect, detected):
                for x in sp:
                    if x.extra and x.extra.get("scope") == "text":
                        labels[key[0]].add(x.entity_type)
                    else:
                        spans.setdefault(key, []).append((x.start, x.end, x.entity_type))
        return spans, labels

    def _outcomes(self, uri: str, rows: list[Row], fmt: str) -> list[_Outcome]:
        spans, labels = self._spans(uri, rows, fmt)
        by_row: dict[int, dict[str, list[tuple[int, int, str]]]] = defaultdict(dict)
        for (k, name), sp in spans.items():
            by_row[k][name] = sp
        out = []
        for k, row in enumerate(rows):
            if row.value is None:
                out.append(_Outcome("unparsed"))
                continue
            # whole-text labels (classifiers) replace no characters; a `drop` policy drops the record
            dropping = sorted(e for e in labels.get(k, ()) if self.policy.policy_for(e) == "drop")
            for e in labels.get(k, ()):
                self.labels[e] += 1
            if dropping:
                for e in dropping:
                    self.counts[e]["drop"] += 1
                out.append(_Outcome("dropped"))
                continue
            fields = by_row.get(k)
            if not fields:
                out.append(_Outcome("copy"))
                continue
            pieces = {name: merge_spans(sp, self.policy) for name, sp in fields.items()}
            if any(p.policy == "drop" for ps in pieces.values() for p in ps):
                for ps in pieces.values():
                    for p in ps:
                        if p.policy == "drop":
                            self.counts[p.entity]["drop"] += 1
                out.append(_Outcome("dropped"))
                continue
            value = row.value
            changed = {}
            texts = dict(self._texts(row, fmt))
            for name, ps in pieces.items():
                old = texts[name]
                new = self.replacer.apply(old, ps)
                for p in ps:
                    self.counts[p.entity][p.policy] += 1
                if new != old:
                    changed[name] = (old, new)
                    if fmt != "text":
                        set_value(value, name, new)
            out.append(_Outcome("modified", value, changed) if changed else _Outcome("copy"))
        return out

    # -- per format -------------------------------------------------------------------------
    def redact_file(self, f: InputFile, target: Path) -> FileReport:
        rep = FileReport(f.uri, str(target), f.format, f.compression)
        if self.run_source is not None:
            self._run_findings, self._run_errors = self.run_source.findings_for(f.uri)
        [shard] = plan([f], shard_bytes=_NO_LIMIT)
        if shard.binary:
            # not text (NUL bytes): nothing can be parsed, so the file is copied through unchanged
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f.uri, target)
            rep.unparsed.append({"row": 0, "error": "binary content (NUL bytes): file copied unchanged"})
            return rep
        if f.format == "parquet":
            self._redact_parquet(f, shard, target, rep)
        else:
            self._redact_lines(f, shard, target, rep)
        self._run_findings, self._run_errors = {}, set()
        return rep

    def _batches(self, shard: Shard) -> Iterator[list[Row]]:
        batch: list[Row] = []
        for row in iter_rows(shard, _NO_LIMIT):
            batch.append(row)
            if len(batch) >= self.batch_records:
                yield batch
                batch = []
        if batch:
            yield batch

    def _redact_lines(self, f: InputFile, shard: Shard, target: Path, rep: FileReport) -> None:
        eol = _line_ending(f.uri, f.compression)
        out = _AtomicOut(target, f.compression, _mode_of(f.uri))
        try:
            header_raw = b""
            if f.format == "csv" and shard.start:
                with open_binary(f.uri, f.compression) as fh:
                    header_raw = fh.read(shard.start)
                out.write(header_raw)
            next_index = shard.first_row
            pending = False  # an eol is owed after the last row written

            def emit(data: bytes) -> None:
                nonlocal pending
                if pending:
                    out.write(eol)
                out.write(data)
                pending = True

            for rows in self._batches(shard):
                outcomes = self._outcomes(f.uri, rows, f.format)
                for row, oc in zip(rows, outcomes):
                    if row.raw is None and row.value is None:
                        # nothing to copy: an unreadable remainder (truncated/corrupt stream) or a binary file
                        rep.lost.append({"row": row.index, "error": row.error})
                        continue
                    rep.rows_in += 1
                    # CSV readers skip blank lines: keep them, so the layout stays the same
                    if f.format == "csv":
                        for _ in range(max(0, row.index - next_index)):
                            emit(b"")
                    next_index = row.index + 1
                    if oc.kind == "dropped":
                        rep.dropped += 1
                        continue
                    if oc.kind == "unparsed":
                        rep.unparsed.append({"row": row.index, "error": row.error})
                        data = row.raw or b""
                    elif oc.kind == "modified":
                        rep.modified += 1
                        data = self._serialize(f.format, row, oc, shard)
                    else:
                        data = row.raw or b""
                    emit(data)
                    rep.rows_out += 1
            if pending and _ends_with_newline(f.uri, f.compression):
                out.write(eol)
            out.commit()
        except BaseException:
            out.abort()
            raise

    def _serialize(self, fmt: str, row: Row, oc: _Outcome, shard: Shard) -> bytes:
        if fmt == "text":
            [(old, new)] = list(oc.changed.values())
            return new.encode("utf-8", "surrogatepass")
        if fmt == "jsonl":
            ascii_only = row.raw is not None and row.raw.isascii()
            compact = row.raw is not None and b'", "' not in row.raw and b'": ' not in row.raw
            seps = (",", ":") if compact else (", ", ": ")
            return json.dumps(oc.value, ensure_ascii=ascii_only, separators=seps).encode("utf-8", "surrogatepass")
        if fmt == "csv":
            cells = next(csv.reader([row.raw.decode("utf-8")], strict=True))  # type: ignore[union-attr]
            header = shard.header or []
            for name, (old, new) in oc.changed.items():
                for j, h in enumerate(header):
                    if h == name and j < len(cells) and cells[j] == old:
                        cells[j] = new
            buf = io.StringIO()
            # the default terminator makes the writer quote cells holding \r or \n; it is cut off here
            csv.writer(buf, lineterminator="\r\n").writerow(cells)
            return buf.getvalue()[:-2].encode("utf-8")
        raise ValueError(fmt)

    def _redact_parquet(self, f: InputFile, shard: Shard, target: Path, rep: FileReport) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(f.uri)
            md = pf.metadata
        except Exception as e:
            # unreadable: copied through unchanged (never dropped), and reported
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f.uri, target)
            rep.unparsed.append({"row": 0, "error": f"unreadable Parquet file ({type(e).__name__}): copied unchanged"})
            return
        schema = pf.schema_arrow
        codec = md.row_group(0).column(0).compression.lower() if md.num_row_groups and md.num_columns else "zstd"
        out = _AtomicOut(target, None, _mode_of(f.uri))
        writer = None
        try:
            writer = pq.ParquetWriter(out.raw, schema, compression=codec if codec != "uncompressed" else "none")
            first = 0
            for g in range(md.num_row_groups):
                n = md.row_group(g).num_rows
                gshard = Shard(shard.shard_id, f.uri, "parquet", None, g, g + 1, first, md.row_group(g).total_byte_size)
                first += n
                values: list[dict[str, Any]] = []
                changed = False
                for rows in self._batches(gshard):
                    outcomes = self._outcomes(f.uri, rows, "parquet")
                    for row, oc in zip(rows, outcomes):
                        if row.value is None:
                            rep.lost.append({"row": row.index, "error": row.error})
                            changed = True
                            continue
                        rep.rows_in += 1
                        if oc.kind == "dropped":
                            rep.dropped += 1
                            changed = True
                            continue
                        if oc.kind == "modified":
                            rep.modified += 1
                            changed = True
                        values.append(row.value if oc.kind != "modified" else oc.value)  # type: ignore[arg-type]
                if changed:
                    table = pa.Table.from_pylist(values, schema=schema)
                else:
                    table = pf.read_row_group(g)
                if table.num_rows:
                    writer.write_table(table)
                rep.rows_out += table.num_rows
            writer.close()
            writer = None
            out.commit()
        except BaseException:
            if writer is not None:
                try:
                    writer.close()
                except Exception:
                    pass
            out.abort()
            raise


# ---- entry point -------------------------------------------------------------------------


def parse_from_run(spec: str) -> tuple[str, str]:
    store, sep, run_id = spec.rpartition(":")
    if not sep or not store or not run_id:
        raise RedactError(f"--from-run expects STORE:RUN_ID, got {spec!r}")
    return store, run_id


def _load_run(store_path: str, run_id: str, files: list[InputFile]) -> tuple[Store, dict[str, Any]]:
    store = Store(store_path, create=False)
    manifest = store.read_manifest(run_id)
    if manifest is None:
        raise RedactError(f"no run {run_id!r} in store {store.root}")
    if manifest.get("kind", "scan") != "scan":
        raise RedactError(f"run {run_id} is a {manifest.get('kind')} run, not a scan")
    shards = [s.get("shard_id") for s in manifest.get("shards", [])]
    done = store.done_info(run_id)
    missing = [s for s in shards if s not in done]
    if missing:
        raise RedactError(
            f"run {run_id} is not complete ({len(missing)} of {len(shards)} shards not done): finish it with the same --run-id first"
        )
    inputs = {i.get("uri"): i for i in manifest.get("inputs", [])}
    for f in files:
        i = inputs.get(f.uri)
        if i is None:
            raise RedactError(f"{f.uri} was not scanned by run {run_id}: scan it first, or redact without --from-run")
        if int(i.get("size", -1)) != f.size or float(i.get("mtime", -1)) != f.mtime:
            raise RedactError(f"{f.uri} changed since run {run_id} (size or mtime differ): scan it again")
    return store, manifest


def _run_policy(cfg: dict[str, Any]) -> RedactPolicy:
    """The `redact:` policies of the profile a run was made with (tags if it cannot be loaded)."""
    from workbench.config import load_profile

    for ref in (cfg.get("profile_source"), cfg.get("profile")):
        if not ref:
            continue
        try:
            return RedactPolicy.from_profile(load_profile(ref))
        except ConfigError:
            continue
    log.warning("the run's profile cannot be loaded; redacting with the default policy (tag)")
    return RedactPolicy()


def _check_out_dir(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise RedactError(f"--out {out_dir} exists and is not a directory")
    if out_dir.is_dir() and not force and any(p for p in out_dir.iterdir() if not p.name.startswith(".")):
        raise RedactError(f"the output directory {out_dir} is not empty (use --force to write into it)")


def redact(
    paths: Sequence[str],
    out_dir: str | os.PathLike,
    profile: Profile | None = None,
    *,
    from_run: str | None = None,
    key_store: str | None = None,
    fields: list[str] | None = None,
    id_field: str | None = None,
    verify: bool = True,
    force: bool = False,
    policy: RedactPolicy | None = None,
    progress: Callable[[FileReport], None] | None = None,
) -> RedactReport:
    """Write a redacted copy of `paths` under `out_dir`. Raises RedactError/CorpusError/ConfigError/StoreError.

    Policies: `policy`, else the profile's `redact:` section, else (with `from_run`) the `redact:` section of
    the profile the run was made with. Detectors: the profile's, or with `from_run` the run's findings.
    """
    t0 = time.perf_counter()
    if policy is None and profile is not None:
        policy = RedactPolicy.from_profile(profile)
    out = Path(out_dir).expanduser().resolve()
    targets = plan_outputs(paths, out)
    _check_out_dir(out, force)
    files = [f for f, _ in targets]

    run_source = None
    detect_source = None
    if from_run:
        store_path, run_id = parse_from_run(from_run)
        store, manifest = _load_run(store_path, run_id, files)
        cfg = manifest.get("config") or {}
        run_fields = list(cfg.get("fields") or ["text"])
        if fields and list(fields) != run_fields:
            raise RedactError(f"run {run_id} scanned fields {run_fields}; redact with the same fields (omit --field)")
        fields = run_fields
        if id_field and id_field != cfg.get("id_field"):
            raise RedactError(f"run {run_id} used --id-field {cfg.get('id_field')!r}; redact with the same (omit --id-field)")
        id_field = cfg.get("id_field")
        if policy is None:
            policy = _run_policy(cfg)
        run_source = RunSource(store, run_id, manifest)
        key = store.key
        source = f"run:{store.root}:{run_id}"
        detectors_cfg = cfg.get("detectors") or {}
    else:
        if profile is None:
            raise RedactError("give a --profile (detectors to run) or --from-run STORE:RUN_ID")
        fields = list(fields or profile.fields)
        detect_source = DetectSource(profile.detectors)
        key = Store(key_store).key if key_store else None
        source = f"detect:{profile.name}"
        detectors_cfg = profile.detectors
    assert policy is not None
    for fp in fields:
        try:
            parse_path(fp)
        except ValueError as e:
            raise ConfigError(str(e)) from None

    redactor = Redactor(policy, fields, id_field, detect_source, run_source, key)
    report = RedactReport(str(out), source, policy.model_dump())
    out.mkdir(parents=True, exist_ok=True)
    for f, target in targets:
        rep = redactor.redact_file(f, target)
        report.files.append(rep)
        if progress:
            progress(rep)
    report.counts = {e: dict(c) for e, c in sorted(redactor.counts.items())}
    report.records_dropped = sum(f.dropped for f in report.files)
    report.labels = dict(sorted(redactor.labels.items()))
    if run_source is not None:
        report.stale_findings = run_source.stale_findings
        report.redetected_fields = run_source.redetected_fields
    if verify:
        checker = detect_source or (run_source.redetector if run_source else DetectSource(detectors_cfg))
        report.remaining = rescan([t for _, t in targets], fields, checker)
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


def rescan(outputs: Sequence[Path], fields: list[str], source: DetectSource, batch: int = 512) -> dict[str, int]:
    """Findings per entity in the written output (the verification pass)."""
    existing = [str(p) for p in outputs if p.exists()]
    counts: Counter[str] = Counter()
    if not existing:
        return {}
    from workbench.corpus.records import read_batches

    for shard in plan(expand(existing), shard_bytes=_NO_LIMIT):
        for rb in read_batches(shard, fields, None, batch, _NO_LIMIT):
            for spans in source.detect(rb.texts):
                for s in spans:
                    counts[s.entity_type] += 1
    return dict(sorted(counts.items()))


def write_report(report: RedactReport, path: str | os.PathLike) -> Path:
    from workbench.store import atomic

    p = Path(path)
    atomic.write_json(p, report.to_dict())
    return p

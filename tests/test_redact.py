"""`workbench redact`: every format keeps rows, order, ids and untouched fields; bad records are
copied through and reported; policies; overlap merging; --from-run; output-dir safety; CLI."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import random
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from workbench.config import ConfigError, load_profile
from workbench.detectors.base import Span
from workbench.redact import (
    RedactError,
    RedactPolicy,
    Replacer,
    merge_spans,
    pseudonym_hash,
    redact,
)
from workbench.store import Store

DATA = Path(__file__).parent / "data" / "secrets"
sys.path.insert(0, str(DATA))
import synth  # noqa: E402

RNG = random.Random(1234)
GH = [synth.github_token(RNG) for _ in range(6)]
AWS = [synth.aws_access_key_id(RNG) for _ in range(6)]


def _profile(tmp_path: Path, redact_section: str = "", detectors: str = "  secrets: {}\n", fields: str = "[text]") -> Path:
    p = tmp_path / "profile.yaml"
    p.write_text(f"name: test-redact\nfields: {fields}\ndetectors:\n{detectors}" + (f"redact:\n{redact_section}" if redact_section else ""))
    return p


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read(path: Path) -> bytes:
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes())
    if path.suffix == ".zst":
        return zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes())
    return path.read_bytes()


def _jsonl_lines() -> list[bytes]:
    good = [
        {"id": "r0", "text": f"deploy with {GH[0]} today", "meta": {"note": f"keep {GH[1]}", "n": 1.5}, "tags": ["a", 2]},
        {"id": "r1", "text": "nothing to see here", "meta": {"note": "plain", "n": 2}},
        {"id": "r2", "text": f"AWS key {AWS[0]} and again {GH[0]}", "score": 7, "ok": True, "nested": {"x": [1, None]}},
        {"id": "r3", "text": "café ünïcode — no secret", "emoji": "🔑"},
    ]
    lines = [json.dumps(g, ensure_ascii=False).encode() for g in good]
    lines.insert(2, b'{"id": "bad-json", "text": "unterminated ' + GH[2].encode())  # malformed JSON
    lines.insert(3, b'{"id": "bad-utf8", "text": "\xff\xfe ' + GH[3].encode() + b'"}')  # invalid UTF-8
    lines.append(b'{"id": "num", "text": 12345, "other": "' + GH[4].encode() + b'"}')  # non-string field
    lines.append(b'{"id": "null", "text": null}')
    lines.append(b"")  # empty line
    lines.append(b'["a", "list", "not", "an", "object"]')
    lines.append(json.dumps({"id": "compact", "text": f"k={AWS[1]}"}, separators=(",", ":")).encode())
    return lines


def _write_jsonl(path: Path, lines: list[bytes]) -> None:
    data = b"\n".join(lines) + b"\n"
    if path.suffix == ".gz":
        data = gzip.compress(data)
    elif path.suffix == ".zst":
        data = zstandard.ZstdCompressor().compress(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture(scope="module")
def secrets_profile(tmp_path_factory):
    return load_profile(str(_profile(tmp_path_factory.mktemp("prof"))))


@pytest.mark.parametrize("name", ["data.jsonl", "data.jsonl.gz", "data.jsonl.zst"])
def test_jsonl_every_compression_keeps_rows_ids_and_untouched_fields(tmp_path, secrets_profile, name):
    src = tmp_path / "in" / "sub" / name
    lines = _jsonl_lines()
    _write_jsonl(src, lines)
    before = _sha(src)
    rep = redact([str(tmp_path / "in")], tmp_path / "out", secrets_profile)
    out = tmp_path / "out" / "sub" / name
    assert _sha(src) == before  # the original is untouched
    assert out.exists()
    out_lines = _read(out).split(b"\n")
    assert out_lines[-1] == b"" and len(out_lines) - 1 == len(lines)  # same rows, same order
    for a, b in zip(lines, out_lines):
        try:
            va = json.loads(a)
        except (ValueError, UnicodeDecodeError):
            assert a == b  # unparsed rows are copied byte for byte
            continue
        if not isinstance(va, dict) or not isinstance(va.get("text"), str) or not any(s in va["text"] for s in GH + AWS):
            assert a == b  # nothing to redact: byte-identical
            continue
        vb = json.loads(b)
        assert {k: v for k, v in va.items() if k != "text"} == {k: v for k, v in vb.items() if k != "text"}
        assert not any(s in vb["text"] for s in GH + AWS)
        assert "<GITHUB_TOKEN>" in vb["text"] or "<AWS_ACCESS_KEY_ID>" in vb["text"]
    # untouched field meta.note still holds its token (only `text` is redacted)
    assert GH[1].encode() in _read(out)
    [f] = rep.files
    assert f.rows_in == f.rows_out == len(lines)
    assert sorted(u["row"] for u in f.unparsed) == [2, 3, 8, 9]  # malformed, invalid UTF-8, empty, list
    assert not f.lost
    assert rep.counts == {"AWS_ACCESS_KEY_ID": {"tag": 2}, "GITHUB_TOKEN": {"tag": 2}}
    assert rep.remaining is not None and rep.clean is True
    assert all("\n" not in u["error"] and GH[2] not in u["error"] for u in f.unparsed)
    # the compact line stays compact
    assert out_lines[-2] == b'{"id":"compact","text":"k=<AWS_ACCESS_KEY_ID>"}'


def test_truncated_gzip_keeps_readable_rows_and_reports_the_rest(tmp_path, secrets_profile):
    src = tmp_path / "in" / "t.jsonl.gz"
    rows = [json.dumps({"id": i, "text": f"row {i} {GH[i % 3]}", "pad": "x" * 400}).encode() for i in range(400)]
    full = gzip.compress(b"\n".join(rows) + b"\n")
    src.parent.mkdir(parents=True)
    src.write_bytes(full[: len(full) * 2 // 3])
    rep = redact([str(src)], tmp_path / "out", secrets_profile)
    [f] = rep.files
    assert len(f.lost) == 1 and "truncated" in f.lost[0]["error"]
    out = gzip.decompress((tmp_path / "out" / "t.jsonl.gz").read_bytes()).split(b"\n")[:-1]
    assert len(out) == f.rows_out == f.rows_in > 0
    assert [json.loads(x)["id"] for x in out] == list(range(len(out)))
    assert not any(s.encode() in b"".join(out) for s in GH)


def test_csv_keeps_layout_quoting_and_bad_rows(tmp_path, secrets_profile):
    src = tmp_path / "in" / "t.csv"
    src.parent.mkdir(parents=True)
    raw = (
        b"id,text,amount\r\n"
        b'1,"hello, world",3.5\r\n'
        + b'2,"token ' + GH[0].encode() + b' and ""quoted"", more",7\r\n'
        + b"\r\n"  # blank line
        + b'3,"multi\nline with ' + AWS[0].encode() + b'",8\r\n'
        + b"4,too,many,columns\r\n"
        + b"5,plain,9\r\n"
    )
    src.write_bytes(raw)
    rep = redact([str(src)], tmp_path / "out", secrets_profile)
    out = (tmp_path / "out" / "t.csv").read_bytes()
    in_lines, out_lines = raw.split(b"\r\n"), out.split(b"\r\n")
    assert len(in_lines) == len(out_lines)
    assert in_lines[0] == out_lines[0] and in_lines[1] == out_lines[1] and in_lines[3] == out_lines[3] == b""
    assert in_lines[5:] == out_lines[5:]  # bad row and plain row byte-identical
    rin = list(csv.reader(io.StringIO(raw.decode(), newline="")))
    rout = list(csv.reader(io.StringIO(out.decode(), newline="")))
    assert len(rin) == len(rout)
    for a, b in zip(rin, rout):
        assert len(a) == len(b)
        if a and a[0] in ("2", "3"):
            assert a[0] == b[0] and a[2] == b[2]
            assert not any(s in b[1] for s in GH + AWS)
    assert rout[2][1] == 'token <GITHUB_TOKEN> and "quoted", more'
    assert rout[4][1] == "multi\nline with <AWS_ACCESS_KEY_ID>"
    [f] = rep.files
    assert [u["row"] for u in f.unparsed] == [4]  # the 4-column row (CSV data rows count from 0, blank line included)


def test_text_files(tmp_path, secrets_profile):
    src = tmp_path / "in" / "notes.txt"
    src.parent.mkdir(parents=True)
    src.write_text(f"line one\nkey {GH[0]}\n\nlast {AWS[0]}")  # no final newline
    redact([str(src)], tmp_path / "out", secrets_profile)
    assert (tmp_path / "out" / "notes.txt").read_text() == "line one\nkey <GITHUB_TOKEN>\n\nlast <AWS_ACCESS_KEY_ID>"


def test_parquet_keeps_schema_row_groups_and_untouched_columns(tmp_path, secrets_profile):
    src = tmp_path / "in" / "d.parquet"
    src.parent.mkdir(parents=True)
    n = 300
    msgs = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    schema = pa.schema(
        [("id", pa.int64()), ("text", pa.string()), ("score", pa.float32()),
         ("when", pa.timestamp("ms", tz="UTC")), ("messages", msgs), ("meta", pa.struct([("src", pa.string())]))],
        metadata={b"origin": b"test"},
    )
    texts = [f"row {i} " + (GH[i % 6] if i % 50 == 0 else "clean") for i in range(n)]
    table = pa.table(
        {
            "id": list(range(n)), "text": texts, "score": [i / 3 for i in range(n)],
            "when": [1_700_000_000_000 + i for i in range(n)],
            "messages": [[{"role": "user", "content": f"hi {AWS[i % 6] if i % 75 == 0 else ''}"}] for i in range(n)],
            "meta": [{"src": f"s{i}"} for i in range(n)],
        },
        schema=schema,
    )
    pq.write_table(table, src, row_group_size=100, compression="snappy")
    prof = load_profile(str(_profile(tmp_path, fields="[text, 'messages[].content']")))
    rep = redact([str(src)], tmp_path / "out", prof)
    out = pq.read_table(tmp_path / "out" / "d.parquet")
    table = pq.read_table(src)  # as Parquet stores it (list items are named 'element')
    assert out.schema.equals(table.schema, check_metadata=True)
    assert out.schema.metadata[b"origin"] == b"test"
    assert pq.ParquetFile(tmp_path / "out" / "d.parquet").metadata.num_row_groups == 3
    assert out.num_rows == n
    for col in ("id", "score", "when", "meta"):
        assert out.column(col).equals(table.column(col))
    got = out.column("text").to_pylist()
    for i, (a, b) in enumerate(zip(texts, got)):
        assert b == (f"row {i} <GITHUB_TOKEN>" if i % 50 == 0 else a)
    contents = [m[0]["content"] for m in out.column("messages").to_pylist()]
    assert contents[0] == "hi <AWS_ACCESS_KEY_ID>" and contents[1] == "hi "
    assert rep.files[0].modified == 6 + 4 - 2  # rows 0 and 150 have both
    assert rep.clean is True


def test_policies_mask_pseudonym_drop(tmp_path):
    src = tmp_path / "in" / "a.jsonl"
    _write_jsonl(src, [
        json.dumps({"id": 0, "text": f"gh {GH[0]} aws {AWS[0]}"}).encode(),
        json.dumps({"id": 1, "text": f"again {GH[0]} other {GH[1]}"}).encode(),
        json.dumps({"id": 2, "text": "private " + synth._pem(random.Random(5), "EC PRIVATE KEY", 121)}).encode(),
        json.dumps({"id": 3, "text": "nothing"}).encode(),
    ])
    src2 = tmp_path / "in2" / "b.jsonl"
    _write_jsonl(src2, [json.dumps({"id": 9, "text": f"elsewhere {GH[0]}"}).encode()])
    prof = load_profile(str(_profile(tmp_path, "  default: tag\n  entities:\n    GITHUB_TOKEN: pseudonym\n    AWS_ACCESS_KEY_ID: mask\n    PRIVATE_KEY: drop\n")))
    store = tmp_path / "store"
    rep = redact([str(src), str(src2)], tmp_path / "out", prof, key_store=str(store))
    rows = [json.loads(x) for x in (tmp_path / "out" / "a.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [0, 1, 3]  # the private-key record is dropped
    key = Store(store).key
    p0 = f"<GITHUB_TOKEN_{pseudonym_hash(key, GH[0])[:12]}>"
    p1 = f"<GITHUB_TOKEN_{pseudonym_hash(key, GH[1])[:12]}>"
    assert p0 != p1
    assert rows[0]["text"] == f"gh {p0} aws {'*' * len(AWS[0])}"
    assert rows[1]["text"] == f"again {p0} other {p1}"
    other = json.loads((tmp_path / "out" / "b.jsonl").read_text())
    assert other["text"] == f"elsewhere {p0}"  # same value, same pseudonym across files
    assert rep.records_dropped == 1
    assert rep.counts["PRIVATE_KEY"] == {"drop": 1}
    assert rep.counts["GITHUB_TOKEN"] == {"pseudonym": 4}
    # a second run with the same store key gives the same pseudonyms; another key does not
    rep2 = redact([str(src2)], tmp_path / "out2", prof, key_store=str(store))
    assert json.loads((tmp_path / "out2" / "b.jsonl").read_text())["text"] == f"elsewhere {p0}"
    redact([str(src2)], tmp_path / "out3", prof, key_store=str(tmp_path / "other-store"))
    assert json.loads((tmp_path / "out3" / "b.jsonl").read_text())["text"] != f"elsewhere {p0}"
    assert rep2.clean is True


def test_pseudonym_without_a_store_key_is_a_clear_error(tmp_path):
    src = tmp_path / "in" / "a.jsonl"
    _write_jsonl(src, [b'{"text": "x"}'])
    prof = load_profile(str(_profile(tmp_path, "  default: pseudonym\n")))
    with pytest.raises(RedactError, match="needs a store key"):
        redact([str(src)], tmp_path / "out", prof)


def test_bad_redact_section_is_a_config_error(tmp_path):
    prof = load_profile(str(_profile(tmp_path, "  default: scramble\n")))
    with pytest.raises(ConfigError) as e:
        redact([str(tmp_path)], tmp_path / "o", prof)
    assert "redact" in str(e.value) and "default" in str(e.value) and "\n" not in str(e.value)
    prof = load_profile(str(_profile(tmp_path, "  tag_format: '[{kind}]'\n")))
    with pytest.raises(ConfigError, match="unknown placeholder kind"):
        RedactPolicy.from_profile(prof)


# ---- overlaps ----------------------------------------------------------------------------


class OverlapDetector:
    """Test detector: fixed overlapping spans of several entities on every text containing 'SECRETVALUE'."""

    name = "overlap"

    class Config:  # minimal pydantic-like config for the registry
        @staticmethod
        def model_validate(cfg):
            class C:
                def model_dump(self):
                    return {}

            return C()

    def __init__(self, config=None):
        pass

    def __call__(self, texts):
        out = []
        for t in texts:
            i = t.find("SECRETVALUE")
            if i < 0:
                out.append([])
                continue
            out.append([
                Span("PERSON", i, i + 6, 0.5, "overlap"),  # SECRET
                Span("API_KEY", i + 3, i + 11, 0.9, "overlap"),  # RETVALUE
                Span("PERSON", i + 9, i + 11, 0.5, "overlap"),  # UE (inside)
            ])
        return out


def test_overlapping_findings_leave_no_fragment(tmp_path, monkeypatch):
    from workbench.detectors import registry

    monkeypatch.setitem(registry.DETECTORS, "overlap", f"{__name__}:OverlapDetector")
    src = tmp_path / "in" / "a.jsonl"
    _write_jsonl(src, [json.dumps({"text": f"x SECRETVALUE y {GH[0]} z"}).encode()])
    prof = load_profile(str(_profile(tmp_path, "  entities:\n    PERSON: mask\n    API_KEY: tag\n", detectors="  overlap: {}\n  secrets: {}\n")))
    redact([str(src)], tmp_path / "out", prof)
    text = json.loads((tmp_path / "out" / "a.jsonl").read_text())["text"]
    assert text == "x <API_KEY> y <GITHUB_TOKEN> z"
    for k in range(3, 12):
        for j in range(0, 12 - k):
            assert "SECRETVALUE"[j : j + k] not in text


def test_merge_spans_unions_and_picks_the_strictest_policy():
    pol = RedactPolicy(entities={"A": "mask", "B": "tag", "C": "drop"})
    pieces = merge_spans([(0, 5, "A"), (3, 8, "B"), (8, 10, "A"), (20, 25, "A"), (22, 23, "C")], pol)
    assert [(p.start, p.end, p.entity, p.policy) for p in pieces] == [
        (0, 8, "B", "tag"), (8, 10, "A", "mask"), (20, 25, "C", "drop")
    ]
    r = Replacer(pol, key=None)
    assert r.apply("abcdefghijklmn", pieces[:2]) == "<B>**klmn"


# ---- --from-run ----------------------------------------------------------------------------


def _scan(paths, store, profile, **kw):
    from workbench.pipeline.scan import scan

    return scan([str(p) for p in paths], str(store), profile, executor="local", **kw)


def test_from_run_reuses_findings_and_checks_them(tmp_path, secrets_profile):
    src = tmp_path / "in" / "a.jsonl"
    _write_jsonl(src, [
        json.dumps({"id": "dup", "text": f"one {GH[0]}"}).encode(),
        json.dumps({"id": "dup", "text": f"a longer line first, then {AWS[0]} here"}).encode(),
        json.dumps({"id": "u", "text": f"unique {GH[1]}"}).encode(),
        json.dumps({"id": "x", "text": "plain"}).encode(),
        b"{broken",
    ])
    store = tmp_path / "store"
    res = _scan([src], store, secrets_profile, id_field="id", run_id="r1")
    assert res.findings == 3
    # --from-run with a profile whose detectors would find nothing: the run's findings are used
    other = load_profile(str(_profile(tmp_path, "  entities:\n    GITHUB_TOKEN: pseudonym\n",
                                      detectors="  secrets:\n    rules: [JWT]\n")))
    rep = redact([str(src)], tmp_path / "out", other, from_run=f"{store}:r1")
    lines = (tmp_path / "out" / "a.jsonl").read_text().splitlines()
    key = Store(store).key
    assert json.loads(lines[0])["text"] == f"one <GITHUB_TOKEN_{pseudonym_hash(key, GH[0])[:12]}>"
    assert json.loads(lines[1])["text"] == "a longer line first, then <AWS_ACCESS_KEY_ID> here"
    assert json.loads(lines[2])["text"] == f"unique <GITHUB_TOKEN_{pseudonym_hash(key, GH[1])[:12]}>"
    assert lines[4] == "{broken"
    # both records have id 'dup': the findings of one do not match the other's text (keyed hash),
    # so exactly those two fields were detected again with the run's detectors instead of being
    # mis-applied; record 'u' was redacted from the run's findings alone
    assert rep.stale_findings >= 2 and rep.redetected_fields == 2
    assert rep.source.startswith("run:") and rep.clean is True


def test_from_run_refuses_changed_inputs_and_unknown_runs(tmp_path, secrets_profile):
    src = tmp_path / "in" / "a.jsonl"
    _write_jsonl(src, [json.dumps({"text": f"one {GH[0]}"}).encode()])
    store = tmp_path / "store"
    _scan([src], store, secrets_profile, run_id="r1")
    with pytest.raises(RedactError, match="no run 'nope'"):
        redact([str(src)], tmp_path / "out", secrets_profile, from_run=f"{store}:nope")
    with pytest.raises(RedactError, match="STORE:RUN_ID"):
        redact([str(src)], tmp_path / "out", secrets_profile, from_run="r1")
    with pytest.raises(RedactError, match="same fields"):
        redact([str(src)], tmp_path / "out", secrets_profile, from_run=f"{store}:r1", fields=["body"])
    _write_jsonl(src, [json.dumps({"text": f"two, longer {GH[1]}"}).encode()])
    with pytest.raises(RedactError, match="changed since run r1"):
        redact([str(src)], tmp_path / "out", secrets_profile, from_run=f"{store}:r1")


# ---- safety ------------------------------------------------------------------------------


def test_output_inside_input_is_refused_and_originals_untouched(tmp_path, secrets_profile):
    src = tmp_path / "in" / "a.jsonl"
    _write_jsonl(src, [json.dumps({"text": f"one {GH[0]}"}).encode()])
    before = _sha(src)
    for out in (tmp_path / "in" / "clean", tmp_path / "in"):
        with pytest.raises(RedactError, match="inside the input path"):
            redact([str(tmp_path / "in")], out, secrets_profile)
    with pytest.raises(RedactError, match="inside the input path"):
        redact([str(src)], src, secrets_profile)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    with pytest.raises(RedactError, match="not empty"):
        redact([str(src)], tmp_path / "full", secrets_profile)
    assert _sha(src) == before
    assert not (tmp_path / "in" / "clean").exists()


def test_cli_redact_and_one_line_errors(tmp_path):
    from typer.testing import CliRunner

    from workbench.cli import app

    src = tmp_path / "in" / "a.jsonl"
    _write_jsonl(src, [json.dumps({"text": f"one {GH[0]}"}).encode(), b"{bad"])
    prof = _profile(tmp_path)
    runner = CliRunner()
    r = runner.invoke(app, ["redact", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--profile", str(prof)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out" / "a.jsonl").read_text() == '{"text": "one <GITHUB_TOKEN>"}\n{bad\n'
    report = json.loads((tmp_path / "out" / ".redact-report.json").read_text())
    assert report["clean"] is True and report["counts"] == {"GITHUB_TOKEN": {"tag": 1}}
    assert report["rows_in"] == report["rows_out"] == 2
    assert GH[0] not in json.dumps(report)
    r = runner.invoke(app, ["redact", str(tmp_path / "in"), "--out", str(tmp_path / "in" / "o"), "--profile", str(prof)])
    assert r.exit_code == 2
    assert "inside the input path" in r.output and "Traceback" not in r.output


def test_layout_for_directories_files_and_globs(tmp_path, secrets_profile):
    for rel in ("a/x.jsonl", "a/deep/y.jsonl", "b/z.jsonl", "c/q.jsonl"):
        _write_jsonl(tmp_path / "in" / rel, [json.dumps({"text": f"k {GH[0]}"}).encode()])
    (tmp_path / "in" / "a" / "notes.md").write_text("not a corpus file")
    redact([str(tmp_path / "in" / "a"), str(tmp_path / "in" / "b" / "z.jsonl"), str(tmp_path / "in" / "c" / "*.jsonl")],
           tmp_path / "out", secrets_profile, verify=False)
    got = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert got == ["deep/y.jsonl", "q.jsonl", "x.jsonl", "z.jsonl"]
    # two inputs that would land on the same output path are refused
    _write_jsonl(tmp_path / "in" / "b" / "x.jsonl", [b'{"text": "other"}'])
    with pytest.raises(RedactError, match="same output"):
        redact([str(tmp_path / "in" / "a" / "x.jsonl"), str(tmp_path / "in" / "b" / "x.jsonl")], tmp_path / "out2", secrets_profile)


def test_patterns_and_secrets_overlap_end_to_end(tmp_path):
    """Two real detectors that overlap (Presidio's IP recognizer inside the generic-secret value):
    one merged replacement with the strictest policy, no fragment of either value left."""
    value = "10.20.30.40-Kx9pQ2mZ7vB"
    src = tmp_path / "in" / "a.jsonl"
    _write_jsonl(src, [json.dumps({"text": f'cfg: password = "{value}" and mail bob.smith@example.com'}).encode()])
    prof = load_profile(str(_profile(tmp_path, "  entities:\n    IP_ADDRESS: mask\n    GENERIC_SECRET: tag\n",
                                     detectors="  patterns:\n    entities: [IP_ADDRESS, EMAIL_ADDRESS]\n  secrets: {}\n")))
    rep = redact([str(src)], tmp_path / "out", prof)
    text = json.loads((tmp_path / "out" / "a.jsonl").read_text())["text"]
    assert text == 'cfg: password = "<GENERIC_SECRET>" and mail <EMAIL_ADDRESS>'
    for k in range(3, len(value) + 1):
        for j in range(len(value) - k + 1):
            assert value[j : j + k] not in text
    assert rep.counts == {"EMAIL_ADDRESS": {"tag": 1}, "GENERIC_SECRET": {"tag": 1}}
    assert rep.clean is True


def test_from_run_without_profile_uses_the_runs_redact_policies(tmp_path):
    src = tmp_path / "in" / "a.jsonl"
    _write_jsonl(src, [json.dumps({"text": f"k {GH[0]} pw https://u:Zq9xW3vB7nM2@h.test/x"}).encode()])
    prof_path = _profile(tmp_path, "  entities:\n    PASSWORD: mask\n")
    store = tmp_path / "store"
    _scan([src], store, load_profile(str(prof_path)), run_id="r1")
    redact([str(src)], tmp_path / "out", None, from_run=f"{store}:r1")
    text = json.loads((tmp_path / "out" / "a.jsonl").read_text())["text"]
    assert text == "k <GITHUB_TOKEN> pw https://u:************@h.test/x"


class LabelDetector(OverlapDetector):
    """Test detector: a whole-text label (like the classifiers) on texts containing 'awful'."""

    name = "label"

    def __call__(self, texts):
        return [[Span("TOXIC", 0, len(t), 0.9, "label", extra={"scope": "text"})] if "awful" in t else [] for t in texts]


@pytest.mark.parametrize("policy, kept", [("drop", [0, 2]), ("tag", [0, 1, 2])])
def test_whole_text_labels_replace_nothing_and_drop_only_by_policy(tmp_path, monkeypatch, policy, kept):
    from workbench.detectors import registry

    monkeypatch.setitem(registry.DETECTORS, "label", f"{__name__}:LabelDetector")
    src = tmp_path / "in" / "a.jsonl"
    rows = [{"id": 0, "text": f"fine {GH[0]}"}, {"id": 1, "text": f"awful words {GH[1]}"}, {"id": 2, "text": "ok"}]
    _write_jsonl(src, [json.dumps(r).encode() for r in rows])
    prof = load_profile(str(_profile(tmp_path, f"  entities:\n    TOXIC: {policy}\n", detectors="  label: {}\n  secrets: {}\n")))
    rep = redact([str(src)], tmp_path / "out", prof)
    out = [json.loads(x) for x in (tmp_path / "out" / "a.jsonl").read_text().splitlines()]
    assert [r["id"] for r in out] == kept
    if policy == "tag":
        assert out[1]["text"] == "awful words <GITHUB_TOKEN>"  # the label replaced nothing
    assert rep.labels == {"TOXIC": 1}
    assert rep.records_dropped == (1 if policy == "drop" else 0)


def test_whole_text_labels_from_a_run(tmp_path, monkeypatch):
    from workbench.detectors import registry

    monkeypatch.setitem(registry.DETECTORS, "label", f"{__name__}:LabelDetector")
    src = tmp_path / "in" / "a.jsonl"
    rows = [{"id": 0, "text": f"fine {GH[0]}"}, {"id": 1, "text": f"awful words {GH[1]}"}]
    _write_jsonl(src, [json.dumps(r).encode() for r in rows])
    prof = load_profile(str(_profile(tmp_path, "  entities:\n    TOXIC: drop\n", detectors="  label: {}\n  secrets: {}\n")))
    _scan([src], tmp_path / "store", prof, run_id="r1")
    rep = redact([str(src)], tmp_path / "out", prof, from_run=f"{tmp_path / 'store'}:r1")
    out = [json.loads(x) for x in (tmp_path / "out" / "a.jsonl").read_text().splitlines()]
    assert out == [{"id": 0, "text": "fine <GITHUB_TOKEN>"}]
    assert rep.redetected_fields == 0 and rep.counts["TOXIC"] == {"drop": 1}


def test_cli_exit_code_when_part_of_the_input_is_unreadable(tmp_path):
    from typer.testing import CliRunner

    from workbench.cli import app

    src = tmp_path / "in" / "t.jsonl.gz"
    src.parent.mkdir(parents=True)
    full = gzip.compress(b"\n".join(json.dumps({"text": f"row {i} " + "y" * 300}).encode() for i in range(300)) + b"\n")
    src.write_bytes(full[: len(full) // 2])
    r = CliRunner().invoke(app, ["redact", str(src), "--out", str(tmp_path / "out"), "--profile", str(_profile(tmp_path))])
    assert r.exit_code == 1
    assert "could not be copied" in r.output and "Traceback" not in r.output
    assert (tmp_path / "out" / "t.jsonl.gz").exists()


def test_unreadable_files_are_copied_unchanged_and_reported(tmp_path, secrets_profile):
    (tmp_path / "in").mkdir()
    bad_pq = tmp_path / "in" / "broken.parquet"
    bad_pq.write_bytes(b"PAR1 this is not parquet " + GH[0].encode())
    binary = tmp_path / "in" / "blob.jsonl"
    binary.write_bytes(b'{"text": "x"}\n\x00\x01\x02 ' + GH[1].encode() + b"\n")
    rep = redact([str(tmp_path / "in")], tmp_path / "out", secrets_profile)
    assert (tmp_path / "out" / "broken.parquet").read_bytes() == bad_pq.read_bytes()
    assert (tmp_path / "out" / "blob.jsonl").read_bytes() == binary.read_bytes()
    errors = {Path(f.input).name: [u["error"] for u in f.unparsed] for f in rep.files}
    assert "unreadable Parquet" in errors["broken.parquet"][0] and "binary" in errors["blob.jsonl"][0]

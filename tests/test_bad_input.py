"""Bad input gets a clear error and nothing is lost: every input record is in `records` once."""

import gzip
import json
import os

import pytest

from workbench.store.views import connect

SECRET = "jane.roe@example.com"


@pytest.fixture(scope="module")
def bad_corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad") / "in"
    d.mkdir()
    lines = [
        json.dumps({"text": f"write to {SECRET}"}).encode(),
        b'{"text": "malformed ' + SECRET.encode() + b'"',  # unterminated object
        b'{"text": "bad utf8 \xff\xfe ' + SECRET.encode() + b'"}',
        json.dumps({"text": 42}).encode(),
        json.dumps({"text": ["a", "list"]}).encode(),
        json.dumps({"text": None}).encode(),
        json.dumps({"body": "no text field"}).encode(),
        b"[1, 2, 3]",
        b"",
        json.dumps({"text": "last line without newline, call (212) 555-0199"}).encode(),
    ]
    (d / "mixed.jsonl").write_bytes(b"\n".join(lines))
    (d / "empty.jsonl").write_bytes(b"")
    (d / "binary.jsonl").write_bytes(os.urandom(2000) + b"\x00" * 10)
    raw = b"".join(json.dumps({"text": f"row {i} mail {SECRET}"}).encode() + b"\n" for i in range(200))
    gz = gzip.compress(raw)
    (d / "truncated.jsonl.gz").write_bytes(gz[: len(gz) // 2])
    with open(d / "huge.jsonl", "wb") as f:
        f.write(json.dumps({"text": "before"}).encode() + b"\n")
        f.write(b'{"text": "' + b"a" * (50 * 1024 * 1024) + b'"}\n')
        f.write(json.dumps({"text": f"after {SECRET}"}).encode() + b"\n")
    return d


@pytest.fixture(scope="module")
def scanned(bad_corpus, tmp_path_factory):
    from tests.conftest import workbench_cmd

    store = tmp_path_factory.mktemp("bad") / "store"
    proc = workbench_cmd("scan", str(bad_corpus), "--out", str(store), "--executor", "local", "--run-id", "bad1")
    return proc, store


def test_scan_continues_past_bad_records(scanned):
    proc, store = scanned
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    con = connect(store)
    by_file = dict(con.execute(
        "select regexp_extract(source_uri, '[^/]+$'), count(*) from records group by 1").fetchall())
    # mixed.jsonl: 10 physical lines (the last has no newline), every one accounted for
    assert by_file["mixed.jsonl"] == 10
    assert "empty.jsonl" not in by_file  # an empty file has no records
    assert by_file["binary.jsonl"] == 1
    assert by_file["huge.jsonl"] == 3
    errs = dict(con.execute(
        "select record_id, error from records where status = 'error' and source_uri like '%mixed.jsonl'").fetchall())
    reasons = " | ".join(errs.values())
    assert len(errs) == 8, errs  # lines 1-8 are bad, lines 0 and 9 are fine
    for needle in ("malformed JSON", "invalid UTF-8", "number", "list", "no text field", "empty line"):
        assert needle in reasons, (needle, reasons)
    # the reasons never quote the record's content
    all_errors = " ".join(e for (e,) in con.execute("select error from records where error is not null").fetchall())
    assert SECRET not in all_errors and "jane" not in all_errors


def test_huge_line_is_an_error_and_neighbours_are_scanned(scanned):
    _, store = scanned
    con = connect(store)
    rows = con.execute(
        "select record_id, status, error from records where source_uri like '%huge.jsonl' order by record_id").fetchall()
    statuses = [r[1] for r in rows]
    assert statuses == ["ok", "error", "ok"]
    assert "exceeds max_record_mb" in rows[1][2]
    n = con.execute("select count(*) from findings where source_uri like '%huge.jsonl'").fetchone()[0]
    assert n >= 1  # the e-mail after the huge line


def test_truncated_gzip_reports_the_break(scanned):
    _, store = scanned
    con = connect(store)
    ok, err = con.execute(
        "select count(*) filter (where status='ok'), count(*) filter (where status='error') "
        "from records where source_uri like '%truncated.jsonl.gz'").fetchone()
    assert ok > 0 and err == 1
    (reason,) = con.execute(
        "select error from records where status='error' and source_uri like '%truncated.jsonl.gz'").fetchone()
    assert "truncated gzip" in reason


def test_records_in_equal_ok_plus_error(scanned):
    proc, store = scanned
    con = connect(store)
    total, ok, err = con.execute(
        "select count(*), count(*) filter (where status='ok'), count(*) filter (where status='error') from records"
    ).fetchone()
    assert total == ok + err
    (m_ok, m_err) = con.execute("select records_ok, records_error from runs where run_id='bad1'").fetchone()
    assert (m_ok, m_err) == (ok, err)
    # record ids are unique within the run
    assert con.execute("select count(distinct source_uri || record_id) from records").fetchone()[0] == total


def test_findings_never_hold_the_raw_value(scanned):
    _, store = scanned
    con = connect(store)
    rows = con.execute("select * from findings").fetchall()
    assert rows
    cols = [d[0] for d in con.execute("select * from findings limit 0").description]
    assert "match" not in cols
    for r in rows:
        assert SECRET not in " ".join(str(v) for v in r)


def test_missing_path_is_one_line(wb, tmp_path):
    p = wb("scan", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "s"), "--executor", "local")
    assert p.returncode == 2
    assert "no such file or directory" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_unwritable_store_is_one_line(wb, tmp_path):
    (tmp_path / "in.jsonl").write_text('{"text": "x"}\n')
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    p = wb("scan", str(tmp_path / "in.jsonl"), "--out", str(blocker / "store"), "--executor", "local")
    assert p.returncode == 2
    assert "cannot write to store" in p.stderr and "Traceback" not in p.stderr


def test_profile_typo_is_a_clear_error(wb, tmp_path):
    (tmp_path / "in.jsonl").write_text('{"text": "x"}\n')
    prof = tmp_path / "p.yaml"
    prof.write_text("detectors:\n  patterns:\n    treshold: 0.5\n")
    p = wb("scan", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "s"), "--profile", str(prof), "--executor", "local")
    assert p.returncode == 2
    assert "treshold" in p.stderr and "unknown key" in p.stderr and "Traceback" not in p.stderr
    prof.write_text("detectors:\n  patterns:\n    entities: [EMAIL, PHONE_NUMBER]\n")
    p = wb("scan", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "s"), "--profile", str(prof), "--executor", "local")
    assert p.returncode == 2 and "unknown entity EMAIL" in p.stderr
    p = wb("scan", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "s"), "--profile", "no-such-profile")
    assert p.returncode == 2 and "unknown profile" in p.stderr


def test_lone_surrogate_in_valid_json_is_scanned(wb, tmp_path):
    """JSON may escape a lone surrogate ("\\ud800"): it decodes to a str that spaCy and UTF-8
    encoders reject. The record is scanned (offsets unchanged) and its batch does not fail."""
    src = tmp_path / "sur.jsonl"
    src.write_text(
        '{"text": "mail jane.roe@example.com"}\n'
        '{"text": "bad \\ud800 mail jane.roe@example.com, card 4111 1111 1111 1111"}\n'
    )
    store = tmp_path / "store"
    proc = wb("scan", str(src), "--out", str(store), "--executor", "local")
    assert proc.returncode == 0, proc.stderr
    con = connect(store)
    assert con.execute("select count(*) from records where status = 'ok'").fetchone()[0] == 2
    rows = con.execute("select record_id, entity_type, start from findings order by record_id, start").fetchall()
    text = "bad \ud800 mail jane.roe@example.com, card 4111 1111 1111 1111"
    got = {(r[1], r[2]) for r in rows if r[0].endswith(":1")}
    assert ("EMAIL_ADDRESS", text.index("jane")) in got
    assert ("CREDIT_CARD", text.index("4111")) in got

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from workbench.corpus.fields import FieldPathError, extract, parse_path, set_value
from workbench.corpus.formats import iter_rows
from workbench.corpus.plan import CorpusError, expand, plan
from workbench.corpus.records import read_batches


def rows_of(paths, shard_bytes=64 << 20):
    shards = plan(expand([str(p) for p in paths]), shard_bytes)
    out = []
    for sh in shards:
        out.extend(iter_rows(sh))
    return shards, out


def test_field_paths():
    rec = {"text": "a", "meta": {"summary": "b"}, "messages": [{"content": "c"}, {"content": 5}, {"role": "x"}]}
    assert [(f.name, f.text) for f in extract(rec, "meta.summary")] == [("meta.summary", "b")]
    got = extract(rec, "messages[].content")
    assert [f.name for f in got] == ["messages[0].content", "messages[1].content", "messages[2].content"]
    assert got[0].text == "c" and got[1].text is None and "number" in got[1].problem and got[2].missing
    assert extract(rec, "messages[1].content")[0].problem
    assert extract(rec, "nope")[0].missing
    with pytest.raises(FieldPathError):
        parse_path("a..b")
    set_value(rec, "messages[0].content", "Z")
    set_value(rec, "meta.summary", "Y")
    assert rec["messages"][0]["content"] == "Z" and rec["meta"]["summary"] == "Y"


@pytest.mark.parametrize("shard_bytes", [64, 1000, 4096, 1 << 20])
def test_jsonl_byte_range_shards_cover_every_line_once(tmp_path, shard_bytes):
    p = tmp_path / "a.jsonl"
    lines = [json.dumps({"id": i, "text": "x" * (i % 37)}) for i in range(500)]
    p.write_text("\n".join(lines) + "\n")
    shards, rows = rows_of([p], shard_bytes)
    assert [r.index for r in rows] == list(range(500))
    assert [r.value["id"] for r in rows] == list(range(500))
    if shard_bytes < p.stat().st_size:
        assert len(shards) > 1


@pytest.mark.parametrize("shard_bytes", [50, 300, 1 << 20])
def test_csv_shards_are_quote_aware(tmp_path, shard_bytes):
    p = tmp_path / "a.csv"
    body = ['id,text']
    expect = []
    for i in range(200):
        t = f"line {i}\nwith a newline, and a \"quote\"" if i % 3 == 0 else f"plain {i}"
        body.append(f'{i},"{t.replace(chr(34), chr(34) * 2)}"')
        expect.append(t)
    p.write_text("\n".join(body) + "\n")
    shards, rows = rows_of([p], shard_bytes)
    assert [r.value["text"] for r in rows] == expect
    assert [r.index for r in rows] == list(range(200))


def test_parquet_row_groups_and_compressed_jsonl(tmp_path):
    t = pa.table({"id": list(range(100)), "text": [f"t{i}" for i in range(100)]})
    pq.write_table(t, tmp_path / "a.parquet", row_group_size=10)
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as f:
        for i in range(7):
            f.write(json.dumps({"text": f"g{i}"}) + "\n")
    with open(tmp_path / "c.jsonl.zst", "wb") as f:
        f.write(zstandard.ZstdCompressor().compress(b"".join(json.dumps({"text": f"z{i}"}).encode() + b"\n" for i in range(5))))
    (tmp_path / "d.txt").write_text("one\ntwo\n")
    shards, rows = rows_of([tmp_path], shard_bytes=200)
    assert sum(1 for s in shards if s.format == "parquet") > 1
    texts = sorted(r.value["text"] for r in rows)
    assert len(texts) == 100 + 7 + 5 + 2
    assert "g6" in texts and "z4" in texts and "two" in texts


def test_expand_errors(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        expand([str(tmp_path / "missing.jsonl")])
    (tmp_path / "x.bin").write_bytes(b"\0")
    with pytest.raises(CorpusError, match="unsupported"):
        expand([str(tmp_path / "x.bin")])
    with pytest.raises(CorpusError, match="no files match"):
        expand([str(tmp_path / "*.jsonl")])


def test_plan_is_deterministic(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text("".join(json.dumps({"text": "y" * i}) + "\n" for i in range(300)))
    a = plan(expand([str(p)]), 500)
    b = plan(expand([str(tmp_path)]), 500)
    assert [s.to_dict() for s in a] == [s.to_dict() for s in b]


def test_read_batches_mixed_shapes(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in [
        {"id": "r0", "text": "hello"},
        {"id": "r1", "messages": [{"content": "m0"}, {"content": "m1"}]},
        {"id": "r2", "other": 1},
        {"id": "r3", "text": ["a", "list"]},
    ]) + "\n")
    (sh,) = plan(expand([str(p)]))
    (b,) = list(read_batches(sh, ["text", "messages[].content"], id_field="id"))
    assert b.record_ids == ["r0", "r1", "r2", "r3"]
    assert b.errors[0] is None and b.errors[1] is None
    assert "no text field" in b.errors[2] and "list" in b.errors[3]
    assert b.texts == ["hello", "m0", "m1"]
    assert b.text_field == ["text", "messages[0].content", "messages[1].content"]


def test_csv_bad_rows_are_errors_not_lost(tmp_path):
    p = tmp_path / "a.csv"
    p.write_bytes(b'id,text\n1,fine\n2,too,many,cells\n3,"bad utf8 \xff"\n\n4,"unterminated\n')
    _, rows = rows_of([p])
    by_index = {r.index: r for r in rows}
    assert by_index[0].value == {"id": "1", "text": "fine"}
    assert "columns" in by_index[1].error and "invalid UTF-8" in by_index[2].error
    assert by_index[4].error  # the unterminated quote runs to the end of the file: one bad record
    assert [r.index for r in rows] == [0, 1, 2, 4]  # the blank line is not a record


def test_scan_makes_no_network_connection(tmp_path, monkeypatch):
    """Nothing is downloaded or fetched at scan time (spaCy model, tldextract suffix list, hub)."""
    import socket

    from workbench.config import load_profile
    from workbench.pipeline.scan import scan

    def refuse(*args, **kwargs):
        raise AssertionError("network connection attempted during a scan")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    d = tmp_path / "in"
    d.mkdir()
    (d / "a.jsonl").write_text(json.dumps({"text": "mail ann.lee@example.co.uk or see https://example.org"}) + "\n")
    for engine in ("fast", "presidio"):
        prof = load_profile("pii-default")
        prof.detectors["patterns"]["engine"] = engine
        r = scan([str(d)], str(tmp_path / f"s-{engine}"), prof, executor="local")
        assert r.status == "done" and r.entities.get("EMAIL_ADDRESS") == 1


def test_read_batches_end_at_records_or_characters(tmp_path):
    """A batch ends at batch_records records or once its texts hold batch_chars characters,
    whichever comes first; every record lands in exactly one batch, in order."""
    p = tmp_path / "a.jsonl"
    sizes = [10, 10, 500, 10, 10, 10, 10, 900, 10]
    p.write_text("".join(json.dumps({"id": f"r{i}", "text": "x" * n}) + "\n" for i, n in enumerate(sizes)))
    (sh,) = plan(expand([str(p)]))
    got = [b.record_ids for b in read_batches(sh, ["text"], id_field="id", batch_records=4, batch_chars=515)]
    # r0-r2 reach 520 characters; r3-r6 are 4 records; r7 alone reaches 900; r8 is what is left
    assert got == [["r0", "r1", "r2"], ["r3", "r4", "r5", "r6"], ["r7"], ["r8"]]
    got = [b.record_ids for b in read_batches(sh, ["text"], id_field="id", batch_records=100, batch_chars=None)]
    assert got == [[f"r{i}" for i in range(len(sizes))]]

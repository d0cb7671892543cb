"""Pipeline behaviour: a shard that fails as a whole is reported, the run ends 'failed', and a
re-run with the same id redoes only what is missing."""

import json

import pytest

import workbench.corpus.records as records_mod
from workbench.config import load_profile
from workbench.pipeline.scan import scan
from workbench.store.views import connect


def test_failed_shard_then_resume(tmp_path, monkeypatch):
    d = tmp_path / "in"
    d.mkdir()
    for name in ("a", "b", "c"):
        (d / f"{name}.jsonl").write_text("".join(json.dumps({"text": f"{name}{i} x@example.com"}) + "\n" for i in range(5)))
    real = records_mod.iter_rows

    def flaky(shard, max_record_bytes):
        if shard.uri.endswith("b.jsonl"):
            raise OSError("disk went away")
        return real(shard, max_record_bytes)

    monkeypatch.setattr(records_mod, "iter_rows", flaky)
    profile = load_profile("pii-default")
    r = scan([str(d)], str(tmp_path / "s"), profile, run_id="r", executor="local")
    assert r.status == "failed" and len(r.failed) == 1
    (sid, why) = next(iter(r.failed.items()))
    assert sid.startswith("b.jsonl") and "disk went away" in why
    m = json.loads((tmp_path / "s" / "runs" / "r" / "manifest.json").read_text())
    assert m["status"] == "failed" and sid in m["failed_shards"]
    assert r.records_ok == 10

    monkeypatch.setattr(records_mod, "iter_rows", real)
    r2 = scan([str(d)], str(tmp_path / "s"), profile, run_id="r", executor="local")
    assert r2.status == "done" and r2.shards_skipped == 2 and r2.records_ok == 15
    con = connect(tmp_path / "s")
    assert con.execute("select count(*) from records").fetchone()[0] == 15
    assert con.execute("select count(*) from findings where entity_type='EMAIL_ADDRESS'").fetchone()[0] == 15

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


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(_has_cuda(), reason="this machine has a GPU: the local Ray cluster would have one")
def test_gpu_profile_on_a_cluster_without_gpus_is_a_clear_error(tmp_path, wb):
    (tmp_path / "in.jsonl").write_text('{"text": "x"}\n')
    prof = tmp_path / "gpu.yaml"
    prof.write_text("detectors:\n  patterns: {}\nexecution:\n  num_gpus: 1\n")
    p = wb("scan", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "s"), "--profile", str(prof), timeout=300)
    assert p.returncode == 2, p.stderr
    assert "num_gpus" in p.stderr and "Traceback" not in p.stderr


def test_unset_environment_variable_fails_before_the_run_starts(tmp_path, wb):
    (tmp_path / "in.jsonl").write_text('{"text": "x"}\n')
    env = {"WORKBENCH_NER_MODEL": ""}
    p = wb("scan", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "s"), "--profile", "pii-full", env=env)
    assert p.returncode == 2 and "WORKBENCH_NER_MODEL is not set" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "s" / "runs").exists()  # no half-started run left behind

"""`workbench model scan/bom/verify`: store contract, exit codes, CycloneDX BOM, verification,
local and Ray executors."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from workbench.cli import app
from workbench.store import Store
from workbench.store.views import connect
from workbench.supply import testdata
from workbench.supply.run import scan_paths, scan_to_store, walk_inputs

runner = CliRunner()


def _kinds(results):
    return [(Path(r.path).name, sorted((i.kind, i.rule, i.member) for i in r.issues)) for r in results]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("supply-cli")
    sentinel = root / "SENTINEL"
    mal = root / "mixed"
    (mal / "sub").mkdir(parents=True)
    (mal / "evil.pkl").write_bytes(testdata.p4_call("os", "system", f"touch {sentinel}"))
    (mal / "sub" / "odd.pkl").write_bytes(testdata.p4_call("mylib", "Thing", "x"))
    (mal / "sub" / "clean.pkl").write_bytes(testdata.benign_pickle())
    (mal / "weights.safetensors").write_bytes(testdata.safetensors_raw(
        '{"w": {"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', b"\x00" * 8))
    clean = root / "clean"
    clean.mkdir()
    (clean / "a.pkl").write_bytes(testdata.benign_pickle())
    (clean / "w.safetensors").write_bytes((mal / "weights.safetensors").read_bytes())
    return root, sentinel, mal, clean


def test_scan_writes_findings_records_and_manifest(dirs, tmp_path):
    root, sentinel, mal, _ = dirs
    store = tmp_path / "store"
    res = runner.invoke(app, ["model", "scan", str(mal), "--out", str(store), "--run-id", "m1"])
    assert res.exit_code == 1, res.output
    assert "os.system" in res.output
    con = connect(store)
    rows = con.execute("SELECT entity_type, preview, rule, field, detector, score, record_id, source_uri, "
                       "match_hash, extra FROM findings WHERE run_id = 'm1' ORDER BY score DESC").fetchall()
    assert [(r[0], r[1], r[4]) for r in rows] == [("UNSAFE_GLOBAL", "os.system", "model"),
                                                  ("UNKNOWN_GLOBAL", "mylib.Thing", "model")]
    top = rows[0]
    assert top[2] == "os.system" and top[5] == 1.0 and top[6] == top[7] == str(mal / "evil.pkl")
    assert top[8] == Store(store).hash("os.system")
    extra = json.loads(top[9])
    assert extra["severity"] == "critical" and extra["global"] == "os.system" and extra["format"] == "pickle"
    recs = con.execute("SELECT count(*), sum(n_findings), count(*) FILTER (WHERE status = 'ok') FROM records "
                       "WHERE run_id = 'm1'").fetchone()
    assert recs == (4, 2, 4)
    run = con.execute("SELECT kind, status, n_inputs, records_ok, n_findings FROM runs WHERE run_id='m1'").fetchone()
    assert run == ("model-scan", "done", 4, 4, 2)
    manifest = Store(store).read_manifest("m1")
    shas = {i["name"]: i["sha256"] for i in manifest["inputs"]}
    import hashlib

    assert shas["mixed/evil.pkl"] == hashlib.sha256((mal / "evil.pkl").read_bytes()).hexdigest()
    assert not sentinel.exists()


def test_zip_member_record_id(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    (d / "model.pt").write_bytes(testdata._torch_like_zip(testdata.p4_call("os", "system", "id")))
    store = Store(tmp_path / "s")
    scan_to_store([d], store, run_id="z")
    (row,) = connect(store.root).execute("SELECT record_id, field, source_uri FROM findings").fetchall()
    assert row == (f"{d / 'model.pt'}!archive/data.pkl", "archive/data.pkl", str(d / "model.pt"))


def test_exit_codes_clean_and_errors(dirs, tmp_path):
    _, _, _, clean = dirs
    res = runner.invoke(app, ["model", "scan", str(clean), "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["model", "scan", str(tmp_path / "nope"), "--out", str(tmp_path / "s")])
    assert res.exit_code == 2 and "no such file or directory" in res.output
    assert "Traceback" not in res.output
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "dangling.pt").symlink_to(tmp_path / "missing-target")
    res = runner.invoke(app, ["model", "scan", str(broken), "--out", str(tmp_path / "s")])
    assert res.exit_code == 2, res.output
    bad_policy = tmp_path / "p.yaml"
    bad_policy.write_text("deny: [1nope]\n")
    res = runner.invoke(app, ["model", "scan", str(clean), "--out", str(tmp_path / "s"), "--config", str(bad_policy)])
    assert res.exit_code == 2 and "policy" in res.output


def test_fail_on_threshold(dirs, tmp_path):
    root, _, mal, _ = dirs
    d = tmp_path / "only-unknown"
    d.mkdir()
    shutil.copy(mal / "sub" / "odd.pkl", d)
    args = ["model", "scan", str(d), "--out", str(tmp_path / "s")]
    assert runner.invoke(app, args).exit_code == 1
    assert runner.invoke(app, args + ["--fail-on", "high"]).exit_code == 0


def test_resume_skips_done_shards(dirs, tmp_path):
    _, _, mal, _ = dirs
    store = Store(tmp_path / "s")
    first = scan_to_store([mal], store, run_id="r", files_per_shard=2)
    assert first.skipped_shards == 0 and len(first.results) == 4
    again = scan_to_store([mal], store, run_id="r", files_per_shard=2)
    assert again.skipped_shards == 2 and again.results == []
    assert again.counts == first.counts and again.exit_code() == first.exit_code() == 1
    n = connect(store.root).execute("SELECT count(*) FROM findings WHERE run_id='r'").fetchone()[0]
    assert n == first.n_findings == 2


def test_walk_inputs_names_and_symlinked_files(tmp_path):
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    (blobs / "abc123").write_bytes(testdata.benign_pickle())
    snap = tmp_path / "snapshots" / "rev1"
    snap.mkdir(parents=True)
    (snap / "model.pkl").symlink_to(blobs / "abc123")  # Hugging Face cache layout
    (snap / "loop").symlink_to(snap, target_is_directory=True)
    inputs = walk_inputs([snap])
    assert [i.name for i in inputs] == ["rev1/model.pkl"]


def test_local_pools_match_serial(dirs):
    _, _, mal, _ = dirs
    files = [i.path for i in walk_inputs([mal])]
    serial = scan_paths(files, executor="serial")
    for executor in ("process", "thread"):
        pooled = scan_paths(files, executor=executor, workers=2)
        assert _kinds(serial) == _kinds(pooled)
        assert [r.sha256 for r in serial] == [r.sha256 for r in pooled]


def test_ray_tasks_match_serial(dirs):
    ray = pytest.importorskip("ray")
    _, _, mal, _ = dirs
    files = [i.path for i in walk_inputs([mal])]
    serial = scan_paths(files, executor="serial")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        distributed = scan_paths(files, executor="ray")
    finally:
        ray.shutdown()
    assert _kinds(serial) == _kinds(distributed)


# ---- BOM ----------------------------------------------------------------------------------


def test_bom_is_valid_cyclonedx_and_verifies(dirs, tmp_path):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    _, _, mal, _ = dirs
    work = tmp_path / "model"
    shutil.copytree(mal, work)
    bom = tmp_path / "bom.json"
    res = runner.invoke(app, ["model", "bom", str(work), "--out", str(bom)])
    assert res.exit_code == 0, res.output
    text = bom.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    doc = json.loads(text)
    assert doc["specVersion"] == "1.6"
    comps = {c["name"]: c for c in doc["components"]}
    assert set(comps) == {"model/evil.pkl", "model/sub/odd.pkl", "model/sub/clean.pkl", "model/weights.safetensors"}
    import hashlib

    evil = comps["model/evil.pkl"]
    assert evil["type"] == "machine-learning-model"
    assert evil["hashes"] == [{"alg": "SHA-256", "content": hashlib.sha256((work / "evil.pkl").read_bytes()).hexdigest()}]
    props = {p["name"]: p["value"] for p in evil["properties"]}
    assert props["workbench:format"] == "pickle" and props["workbench:size"] == str((work / "evil.pkl").stat().st_size)
    assert props["workbench:scan.max_severity"] == "critical"
    assert any("UNSAFE_GLOBAL os.system" in p["value"] for p in evil["properties"] if p["name"] == "workbench:scan.finding")

    res = runner.invoke(app, ["model", "verify", str(work), "--bom", str(bom)])
    assert res.exit_code == 0 and "OK: 4 unchanged" in res.output

    (work / "weights.safetensors").write_bytes(b"tampered")
    (work / "sub" / "clean.pkl").unlink()
    (work / "new.bin").write_bytes(b"\x00")
    res = runner.invoke(app, ["model", "verify", str(work), "--bom", str(bom)])
    assert res.exit_code == 1
    out = res.output
    assert "added   model/new.bin" in out and "removed model/sub/clean.pkl" in out
    assert "changed model/weights.safetensors" in out


def test_bom_verify_errors(tmp_path, dirs):
    _, _, _, clean = dirs
    res = runner.invoke(app, ["model", "verify", str(clean), "--bom", str(tmp_path / "none.json")])
    assert res.exit_code == 2 and "BOM not found" in res.output
    (tmp_path / "x.json").write_text('{"hello": 1}')
    res = runner.invoke(app, ["model", "verify", str(clean), "--bom", str(tmp_path / "x.json")])
    assert res.exit_code == 2 and "not a CycloneDX" in res.output


def test_help_has_examples():
    for cmd in ("scan", "bom", "verify"):
        res = runner.invoke(app, ["model", cmd, "--help"])
        assert res.exit_code == 0 and "Example" in res.output

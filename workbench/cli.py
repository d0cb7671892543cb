"""The `workbench` command line: parses, calls the library, prints. No scanning logic lives here."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console

app = typer.Typer(
    help="Workbench: scan AI training data, logs, model outputs and model files for security issues.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """One clear line on stderr and a non-zero exit: how every user error ends."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


# ---- data plane: scan / query / runs ---------------------------------------------------

import logging
import os
import time
from pathlib import Path
from typing import Any, Optional

from rich.table import Table

log = logging.getLogger("workbench")


def _user_errors():
    """The exceptions that are user errors: printed as one line, never a traceback."""
    from workbench.config import ConfigError
    from workbench.corpus.plan import CorpusError
    from workbench.store import StoreError

    return (ConfigError, CorpusError, StoreError)


class _Progress:
    """A live progress bar on a terminal; plain periodic log lines otherwise."""

    def __init__(self, total_bytes: int, interval: float = 5.0):
        self.total = max(total_bytes, 1)
        self.records = self.bytes = self.findings = self.shards = 0
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.interval = interval
        self.live = err_console.is_terminal
        self.bar = None
        if self.live:
            from rich.progress import (BarColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self.bar = Progress(
                TextColumn("[bold]scan"),
                BarColumn(),
                TextColumn("{task.fields[records]} records  {task.fields[mb]} MB  {task.fields[rate]} MB/s"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            )
            self.task = self.bar.add_task("scan", total=self.total, records=0, mb="0.0", rate="0.0")
            self.bar.start()

    def __call__(self, event: dict[str, Any]) -> None:
        if "shard_done" in event:
            self.shards += 1
            return
        self.records += event.get("records", 0)
        self.bytes += event.get("bytes", 0)
        self.findings += event.get("findings", 0)
        elapsed = time.perf_counter() - self.t0
        rate = self.bytes / 1e6 / elapsed if elapsed > 0 else 0.0
        if self.bar is not None:
            self.bar.update(self.task, completed=min(self.bytes, self.total), records=self.records,
                            mb=f"{self.bytes / 1e6:.1f}", rate=f"{rate:.2f}")
        elif elapsed - self.last >= self.interval:
            self.last = elapsed
            left = (self.total - self.bytes) / (rate * 1e6) if rate > 0 else float("nan")
            err_console.print(
                f"scan: {self.records} records, {self.bytes / 1e6:.1f}/{self.total / 1e6:.1f} MB, "
                f"{rate:.2f} MB/s, {self.findings} findings, ETA {left:.0f}s", highlight=False)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


@app.command(
    epilog="Example: workbench scan data/ 'logs/*.jsonl.gz' --out store --field text --field 'messages[].content'"
)
def scan(
    paths: list[str] = typer.Argument(..., help="Files, directories or globs: .jsonl[.gz|.zst], .parquet, .csv, .txt"),
    out: Path = typer.Option(..., "--out", "-o", help="Store directory (created if missing)."),
    profile: str = typer.Option("pii-default", "--profile", "-p",
                                help="Profile name in configs/ or a path to a profile .yaml."),
    field: Optional[list[str]] = typer.Option(
        None, "--field", "-f",
        help="Text field to scan; repeatable. Nested: meta.summary; chat logs: messages[].content. "
             "Default: the profile's fields (text)."),
    id_field: Optional[str] = typer.Option(None, "--id-field", help="Field holding a record id (default: <file>:<row>)."),
    run_id: Optional[str] = typer.Option(None, "--run-id", help="Run id; re-run with the same id to resume."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster to join (default: RAY_ADDRESS, else a local Ray)."),
    executor: str = typer.Option("ray", "--executor", help="'ray' (default) or 'local' (in-process, no Ray)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Number of Ray workers (default: as many as fit)."),
    store_matches: bool = typer.Option(False, "--store-matches",
                                       help="Also store the raw matched text (off by default; recorded in the manifest)."),
    json_out: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log details to stderr."),
) -> None:
    """Scan a corpus for PII and write findings to a Parquet store.

    Each input record becomes one row of the `records` table (status ok/error, never lost);
    each detected span one row of `findings` (keyed hash and masked preview, never the raw
    value unless --store-matches). Ends with a summary: records, findings per entity, MB/s.
    """
    import json as _json

    _setup_logging(verbose)
    from workbench.config import load_profile
    from workbench.pipeline.scan import result_dict
    from workbench.pipeline.scan import scan as run_scan

    prog: dict[str, _Progress] = {}

    def on_start(rid: str, n_shards: int, n_skipped: int, todo_bytes: int) -> None:
        resumed = f", resuming: {n_skipped} already done" if n_skipped else ""
        err_console.print(f"run [bold]{rid}[/] ({n_shards} shards{resumed})", highlight=False)
        prog["p"] = _Progress(todo_bytes)

    def on_progress(event: dict[str, Any]) -> None:
        if "p" in prog:
            prog["p"](event)

    try:
        prof = load_profile(profile)
        result = run_scan(
            [str(p) for p in paths], str(out), prof, fields=field, id_field=id_field, run_id=run_id,
            executor=executor, address=address, store_matches=store_matches or None, workers=workers,
            progress=on_progress, on_start=on_start,
        )
    except _user_errors() as e:
        fail(str(e))
    finally:
        if "p" in prog:
            prog["p"].stop()
    if json_out:
        console.print_json(_json.dumps(result_dict(result), default=str))
    else:
        _print_summary(result)
    if result.failed:
        for sid, why in result.failed.items():
            err_console.print(f"[red]shard {sid} failed:[/] {why}", highlight=False)
        fail(f"{len(result.failed)} shard(s) failed; re-run with --run-id {result.run_id} to retry them", code=1)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _print_summary(r: Any) -> None:
    t = Table(title=f"run {r.run_id}: {r.status}", show_header=True, header_style="bold")
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_row("inputs", f"{len(r.inputs)} files, {sum(i.size for i in r.inputs) / 1e6:.2f} MB")
    t.add_row("shards", f"{r.shards_total} ({r.shards_skipped} resumed)" if r.shards_skipped else str(r.shards_total))
    t.add_row("records ok", str(r.records_ok))
    t.add_row("records error", str(r.records_error))
    t.add_row("findings", str(r.findings))
    t.add_row("throughput", f"{r.mb_per_s:.2f} MB/s ({r.bytes / 1e6:.2f} MB in {r.seconds:.1f} s)")
    console.print(t)
    if r.entities:
        e = Table(title="findings per entity type", header_style="bold")
        e.add_column("entity_type")
        e.add_column("findings", justify="right")
        for name, n in sorted(r.entities.items(), key=lambda kv: (-kv[1], kv[0])):
            e.add_row(name, str(n))
        console.print(e)
    console.print(f"store: {r.store}   explore: workbench query {r.store} \"SELECT * FROM findings LIMIT 10\"",
                  highlight=False, soft_wrap=True)


@app.command(
    epilog="Example: workbench query store \"SELECT entity_type, count(*) n FROM findings GROUP BY 1 ORDER BY n DESC\""
)
def query(
    store: Path = typer.Argument(..., help="Store directory."),
    sql: str = typer.Argument(..., help="DuckDB SQL over the views findings, records, probes, runs."),
    format: str = typer.Option("table", "--format", help="Output format: table, csv or json."),
    output: Optional[Path] = typer.Option(None, "--output", help="Write the result to a .parquet (or .csv/.json) file."),
    limit: int = typer.Option(1000, "--limit", help="Rows shown in table format (files get every row)."),
) -> None:
    """Run DuckDB SQL over a store's tables.

    Views: `findings` (one row per detected span), `records` (one row per input record),
    `probes` (one row per probed sample), `runs` (one row per run, from the manifests).
    """
    import duckdb

    from workbench.store.views import connect

    if format not in ("table", "csv", "json"):
        fail("--format must be table, csv or json")
    try:
        con = connect(store)
        rel = con.sql(sql)
    except _user_errors() as e:
        fail(str(e))
    except duckdb.Error as e:
        fail(f"SQL error: {str(e).splitlines()[0]}")
    if rel is None:
        return
    try:
        tbl = rel.arrow()
        if hasattr(tbl, "read_all"):
            tbl = tbl.read_all()
    except duckdb.Error as e:
        fail(f"SQL error: {str(e).splitlines()[0]}")
    if output is not None:
        _write_output(tbl, output)
        err_console.print(f"wrote {tbl.num_rows} rows to {output}", highlight=False)
        return
    _print_arrow(tbl, format, limit)


def _write_output(tbl: Any, output: Path) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    output.parent.mkdir(parents=True, exist_ok=True)
    suffix = output.suffix.lower()
    if suffix == ".parquet":
        pq.write_table(tbl, output)
    elif suffix == ".csv":
        pacsv.write_csv(tbl, output)
    elif suffix in (".json", ".jsonl"):
        import json as _json

        with open(output, "w") as f:
            for row in tbl.to_pylist():
                f.write(_json.dumps(row, default=str) + "\n")
    else:
        fail(f"--output must end in .parquet, .csv or .json (got {output.name})")


def _print_arrow(tbl: Any, format: str, limit: int) -> None:
    import json as _json
    import sys as _sys

    if format == "csv":
        import pyarrow.csv as pacsv

        import io

        sink = io.BytesIO()
        pacsv.write_csv(tbl, sink)
        _sys.stdout.write(sink.getvalue().decode())
        return
    if format == "json":
        _sys.stdout.write(_json.dumps(tbl.to_pylist(), default=str, indent=1) + "\n")
        return
    t = Table(header_style="bold")
    for name in tbl.column_names:
        t.add_column(name, overflow="fold")
    for row in tbl.slice(0, limit).to_pylist():
        t.add_row(*["" if v is None else str(v) for v in row.values()])
    console.print(t)
    if tbl.num_rows > limit:
        err_console.print(f"({tbl.num_rows} rows, {limit} shown; use --limit or --output)", highlight=False)


@app.command(epilog="Example: workbench runs store")
def runs(
    store: Path = typer.Argument(..., help="Store directory."),
    json_out: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List the runs in a store: status, inputs, counts and duration."""
    import json as _json

    from workbench.store import Store
    from workbench.store.views import runs_table

    try:
        tbl = runs_table(Store(store, create=False)).drop_columns(["manifest"])
    except _user_errors() as e:
        fail(str(e))
    if json_out:
        console.print_json(_json.dumps(tbl.to_pylist(), default=str))
        return
    t = Table(header_style="bold")
    for c in ("run_id", "kind", "status", "profile", "started_at", "duration_s", "n_inputs", "input_bytes",
              "records_ok", "records_error", "n_findings", "shards_failed"):
        t.add_column(c)
    for row in tbl.to_pylist():
        t.add_row(*[("" if row[c] is None else str(row[c])) for c in (
            "run_id", "kind", "status", "profile", "started_at", "duration_s", "n_inputs", "input_bytes",
            "records_ok", "records_error", "n_findings", "shards_failed")])
    console.print(t)
    if not tbl.num_rows:
        err_console.print("no runs in this store", highlight=False)


# ---- secrets + redaction (issue 4) -----------------------------------------------------

# ---- model plane: probes, canaries (issue 5) --------------------------------------------

# ---- supply chain: model artifact scanning (issue 8) ------------------------------------


def main() -> None:
    app()


if __name__ == "__main__":
    main()

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

    def __init__(self, total_bytes: int, interval: float | None = None):
        self.total = max(total_bytes, 1)
        self.records = self.bytes = self.findings = self.shards = 0
        self.t0 = time.perf_counter()
        self.last = 0.0
        # seconds between plain log lines when stderr is not a terminal
        self.interval = interval if interval is not None else float(os.environ.get("WORKBENCH_PROGRESS_SECONDS", "5"))
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
        elif elapsed - self.last >= self.interval or self.bytes >= self.total:
            self.last = elapsed
            left = max(0.0, self.total - self.bytes) / (rate * 1e6) if rate > 0 else float("nan")
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
    t.add_row("throughput", f"{r.mb_per_s:.2f} MB/s ({r.bytes / 1e6:.2f} MB of records read in {r.seconds:.1f} s)")
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
    cols = [("run_id", "run"), ("kind", "kind"), ("status", "status"), ("profile", "profile"),
            ("started_at", "started"), ("duration_s", "secs"), ("n_inputs", "inputs"), ("records_ok", "ok"),
            ("records_error", "errors"), ("n_findings", "findings"), ("shards_failed", "failed")]
    for _, header in cols:
        t.add_column(header, no_wrap=header in ("run", "started"))
    for row in tbl.to_pylist():
        t.add_row(*[("" if row[c] is None else str(row[c])) for c, _ in cols])
    console.print(t)
    if not tbl.num_rows:
        err_console.print("no runs in this store", highlight=False)


# ---- secrets + redaction -------------------------------------------------------------


def _redact_errors():
    from workbench.config import ConfigError
    from workbench.corpus.plan import CorpusError
    from workbench.redact import RedactError
    from workbench.store import StoreError

    return (ConfigError, CorpusError, StoreError, RedactError)


@app.command(
    "redact",
    epilog="Examples: workbench redact data/ --out clean/ --profile secrets --store store/  |  "
    "workbench redact data/ --out clean/ --from-run store:20260101-120000-abc123",
)
def redact_cmd(
    paths: list[str] = typer.Argument(..., help="Files, directories or globs: .jsonl[.gz|.zst], .parquet, .csv, .txt"),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory for the cleaned copy (same layout; not inside an input)."),
    profile: Optional[str] = typer.Option(
        None, "--profile", "-p",
        help="Profile (detectors, fields, `redact:` policies). Default: pii-default; with --from-run the run's "
             "profile, and only its `redact:` policies are used."),
    from_run: Optional[str] = typer.Option(
        None, "--from-run", help="STORE:RUN_ID: reuse the findings of an earlier scan instead of detecting again."),
    store: Optional[str] = typer.Option(
        None, "--store", help="Store whose key makes pseudonyms (needed for the `pseudonym` policy without --from-run)."),
    field: Optional[list[str]] = typer.Option(
        None, "--field", "-f", help="Text field to redact; repeatable (default: the profile's fields, or the run's)."),
    id_field: Optional[str] = typer.Option(None, "--id-field", help="Field holding a record id (default: <file>:<row>)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write the JSON report here (default: OUT/.redact-report.json)."),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Re-scan the output and report what remains (default: on)."),
    force: bool = typer.Option(False, "--force", help="Write into a non-empty output directory."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log details to stderr."),
) -> None:
    """Write a redacted copy of a corpus: same formats, layout, row order and untouched fields.

    Each finding is replaced per its entity's policy from the profile's `redact:` section:
    tag (<EMAIL_ADDRESS>, default), mask (****), pseudonym (keyed hash: the same value gives
    the same pseudonym everywhere) or drop (the whole record). Rows that cannot be parsed are
    copied through unchanged and listed. The output is re-scanned: the report shows what remains.
    """
    import json as _json

    _setup_logging(verbose)
    from workbench.config import load_profile
    from workbench.redact import redact, write_report

    try:
        prof = load_profile(profile) if profile else (None if from_run else load_profile("pii-default"))
        result = redact(
            [str(p) for p in paths], out, prof, from_run=from_run, key_store=store, fields=field,
            id_field=id_field, verify=verify, force=force,
        )
        report_path = write_report(result, report or (Path(result.out_dir) / ".redact-report.json"))
    except _redact_errors() as e:
        fail(str(e))
    if json_out:
        console.print_json(_json.dumps(result.to_dict(), default=str))
    else:
        t = Table(title=f"redact -> {result.out_dir}", show_header=True, header_style="bold")
        t.add_column("entity")
        t.add_column("policy")
        t.add_column("replaced", justify="right")
        t.add_column("remaining", justify="right")
        for ent, pols in result.counts.items():
            for pol, n in sorted(pols.items()):
                left = "-" if result.remaining is None else str(result.remaining.get(ent, 0))
                t.add_row(ent, pol, str(n), left)
        console.print(t)
        unparsed = sum(len(f.unparsed) for f in result.files)
        console.print(
            f"{len(result.files)} files, {result.rows_in} rows in, {result.rows_out} rows out "
            f"({result.records_dropped} dropped by policy, {sum(f.modified for f in result.files)} modified, "
            f"{unparsed} unparsed and copied unchanged), {result.seconds:.1f}s; report: {report_path}",
            highlight=False,
        )
        if unparsed:
            err_console.print(f"[yellow]warning:[/] {unparsed} row(s) could not be parsed and were copied unchanged "
                              f"(not redacted); see the report", highlight=False)
    lost = sum(len(f.lost) for f in result.files)
    if lost:
        fail(f"{lost} unreadable remainder(s) of the input (truncated or corrupt gzip/zstd streams) could not be "
             f"copied: the output holds every row before each break; see the report", code=1)
    if result.clean is False:
        left = {e: n for e, n in (result.remaining or {}).items() if n and e in result.counts}
        fail(f"the re-scan still finds redacted types in the output: {left}", code=1)


# ---- model plane: probes, canaries ----------------------------------------------------

from pathlib import Path  # noqa: E402 (also imported above; this section stands alone)

from rich.table import Table  # noqa: E402
from typer.core import TyperGroup as _TyperGroup  # noqa: E402


class _ProbeGroup(_TyperGroup):
    """`workbench probe PATH ...` runs the `run` subcommand; `workbench probe exposure ...` its own."""

    def parse_args(self, ctx, args):  # type: ignore[override]
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


probe_app = typer.Typer(
    cls=_ProbeGroup, no_args_is_help=True, rich_markup_mode="rich",
    help="Memorization probes of a language model: membership scores, k-extractability, canary exposure.\n\n"
         "Example: workbench probe samples.jsonl --model ./my-model --out store",
)
canary_app = typer.Typer(no_args_is_help=True, rich_markup_mode="rich",
                         help="Canaries (Carlini et al. 2019): make canaries to plant into a fine-tuning set.")
app.add_typer(probe_app, name="probe")
app.add_typer(canary_app, name="canary")


def _probe_engine_opts(values: list[str] | None) -> dict:
    import yaml as _yaml

    out = {}
    for v in values or []:
        key, sep, val = v.partition("=")
        if not sep or not key:
            fail(f"--engine-opt {v!r}: use KEY=VALUE (e.g. gpu_memory_utilization=0.5)")
        out[key.strip()] = _yaml.safe_load(val)
    return out


def _probe_run(data: dict, config_file: str | None, engine_opt: list[str] | None = None) -> None:
    opts = _probe_engine_opts(engine_opt)
    if opts:
        data["engine_options"] = opts
    from workbench.probes.audit import run_audit
    from workbench.probes.canaries import CanaryError
    from workbench.probes.config import ConfigError, build_config, load_config
    from workbench.probes.engines import EngineError
    from workbench.store import StoreError

    try:
        if config_file:
            cfg = load_config(config_file, {k: v for k, v in data.items() if v not in (None, [], False)})
        else:
            cfg = build_config({k: v for k, v in data.items() if v is not None}, source="options")
        for p in cfg.inputs + ([cfg.canaries] if cfg.canaries else []):
            if not Path(p).is_file():
                fail(f"no such file: {p}")
        manifest = run_audit(cfg, progress=lambda m: err_console.print(m, highlight=False))
    except (ConfigError, CanaryError, EngineError, StoreError) as e:
        fail(str(e))
    counts = manifest["counts"]
    console.print(f"run [bold]{manifest['run_id']}[/] ({manifest['status']}): {counts['probe_rows']} probe rows, "
                  f"{counts['records_error']} errors -> {Path(cfg.store).resolve()}", highlight=False)
    scores = manifest.get("membership", {}).get("scores", {})
    if scores:
        t = Table(header_style="bold", title="membership (members vs non-members)")
        for c in ("score", "AUC", "TPR@1%FPR", "TPR@0.1%FPR", "member if"):
            t.add_column(c)
        for name, m in scores.items():
            t.add_row(name, f"{m['auc']:.3f}", f"{m['tpr_at_1pct_fpr']:.3f}", f"{m['tpr_at_0.1pct_fpr']:.3f}",
                      m["direction"])
        console.print(t)
    if manifest["status"] != "done":
        fail(f"{len(manifest['failed_shards'])} shard(s) failed: {', '.join(manifest['failed_shards'][:5])} "
             f"(re-run with --run-id {manifest['run_id']} to retry them)", code=1)


_PROBE_EPILOG = (
    "Example: workbench probe samples.jsonl --model ./models/gpt2-ft --engine vllm "
    "--probes scores,extraction --prefix-len 50 --suffix-len 50 --out store\n\n"
    "Then: workbench query store \"SELECT sample_id, loss, min_k, extractable FROM probes ORDER BY loss LIMIT 10\""
)


@probe_app.command("run", epilog=_PROBE_EPILOG)
def probe_run(
    paths: list[Path] = typer.Argument(None, help="JSONL files of samples: {\"id\", \"text\", \"label\"?} per line "
                                                  "(label: member | non-member)."),
    model: str = typer.Option(None, "--model", "-m", help="Local path of the model to probe (loaded offline)."),
    out: str = typer.Option(None, "--out", "-o", help="Store directory to write into."),
    engine: str = typer.Option(None, "--engine", help="hf (transformers; CPU/any) or vllm (GPU). Default: hf."),
    reference_model: str = typer.Option(None, "--reference-model", help="Local path of a reference model: adds "
                                        "ref_ratio = loss(model) / loss(reference)."),
    probes: str = typer.Option(None, "--probes", help="Comma-separated: scores,extraction,exposure "
                               "(default scores,extraction; exposure needs --canaries)."),
    canaries: str = typer.Option(None, "--canaries", help="Canary manifest (from `workbench canary make`)."),
    min_k: float = typer.Option(None, "--min-k", help="K of Min-K% / Min-K%++ as a fraction (default 0.2)."),
    prefix_len: int = typer.Option(None, "--prefix-len", help="k-extractability prefix tokens (default 50)."),
    suffix_len: int = typer.Option(None, "--suffix-len", help="k-extractability suffix tokens (default 50)."),
    cross_check: bool = typer.Option(False, "--cross-check", help="Also decode greedily and record whether "
                                     "generation agrees with the one-pass verdict (extra.generate_agrees)."),
    shard_size: int = typer.Option(None, "--shard-size", help="Samples per shard, the unit of resume (256)."),
    run_id: str = typer.Option(None, "--run-id", help="Resume this run (skips shards already done)."),
    engine_opt: list[str] = typer.Option(None, "--engine-opt", help="Engine option KEY=VALUE, repeatable "
                                         "(dtype, device, gpu_memory_utilization, max_model_len, ...)."),
    config: str = typer.Option(None, "--config", help="Audit config YAML (configs/memorization.yaml); "
                               "options given here override it."),
) -> None:
    """Probe a model with samples and write the `probes` table (kind='probe' run) into a store."""
    data = {
        "inputs": [str(p) for p in paths] if paths else None, "model": model, "store": out, "engine": engine,
        "reference_model": reference_model, "canaries": canaries, "min_k_fraction": min_k,
        "prefix_len": prefix_len, "suffix_len": suffix_len, "cross_check": cross_check or None,
        "shard_size": shard_size, "run_id": run_id,
        "probes": [p.strip() for p in probes.split(",") if p.strip()] if probes else None,
    }
    _probe_run(data, config, engine_opt)


@probe_app.command("exposure", epilog="Example: workbench probe exposure canaries/manifest.json "
                   "--model ./models/gpt2-ft --out store")
def probe_exposure(
    manifest: Path = typer.Argument(..., help="Canary manifest written by `workbench canary make`."),
    model: str = typer.Option(..., "--model", "-m", help="Local path of the fine-tuned model."),
    out: str = typer.Option(..., "--out", "-o", help="Store directory to write into."),
    engine: str = typer.Option("hf", "--engine", help="hf or vllm."),
    max_enumerate: int = typer.Option(100_000, "--max-enumerate", help="Rank exactly among all candidates "
                                      "when the randomness space has at most this many."),
    n_samples: int = typer.Option(2_000, "--samples", help="Else: candidates sampled for the skew-normal fit."),
    seed: int = typer.Option(0, "--seed", help="Seed of the candidate sample."),
    run_id: str = typer.Option(None, "--run-id", help="Resume this run."),
    engine_opt: list[str] = typer.Option(None, "--engine-opt", help="Engine option KEY=VALUE, repeatable."),
) -> None:
    """Exposure of each canary: log2|R| - log2 rank among candidates of its randomness space."""
    data = {"inputs": [], "model": model, "store": out, "engine": engine, "canaries": str(manifest),
            "probes": ["exposure"], "run_id": run_id,
            "exposure": {"max_enumerate": max_enumerate, "n_samples": n_samples, "seed": seed}}
    _probe_run(data, None, engine_opt)


@canary_app.command("make", epilog="Example: workbench canary make --format \"my account number is {9 digits}\" "
                    "--repeats 1,4,16,64 --holdout 2 --seed 7 --out canaries/")
def canary_make(
    fmt: list[str] = typer.Option(..., "--format", "-f", help="Canary format with placeholders {N digits}, "
                                  "{N letters}, {N hex}, {N alnum}. Repeatable."),
    out: Path = typer.Option(..., "--out", "-o", help="Directory for canaries.jsonl (to plant) and manifest.json."),
    repeats: str = typer.Option("1,4,16,64", "--repeats", help="Comma-separated repeat counts."),
    per_repeat: int = typer.Option(1, "--per-repeat", help="Canaries per format and repeat count."),
    holdout: int = typer.Option(1, "--holdout", help="Canaries per format made but never planted (controls)."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the secrets."),
) -> None:
    """Write canaries as JSONL for planting into a fine-tuning set, plus a manifest for `probe exposure`."""
    import json as _json

    from workbench.probes.canaries import CanaryError, make_canaries

    try:
        reps = [int(x) for x in repeats.split(",") if x.strip()]
    except ValueError:
        fail(f"--repeats {repeats!r}: give comma-separated integers, e.g. 1,4,16,64")
    try:
        cset = make_canaries(fmt, reps, per_repeat=per_repeat, holdout=holdout, seed=seed)
        out.mkdir(parents=True, exist_ok=True)
        lines = cset.planting_lines(shuffle_seed=seed)
        (out / "canaries.jsonl").write_text("".join(_json.dumps(x) + "\n" for x in lines))
        (out / "manifest.json").write_text(_json.dumps(cset.to_manifest(), indent=2) + "\n")
    except CanaryError as e:
        fail(str(e))
    except OSError as e:
        fail(f"cannot write to {out}: {e.strerror or e}")
    console.print(f"{len(cset.canaries)} canaries ({sum(c.repeats == 0 for c in cset.canaries)} held out), "
                  f"{len(lines)} lines to plant -> {out / 'canaries.jsonl'}; manifest -> {out / 'manifest.json'}",
                  highlight=False)


# ---- supply chain: model artifact scanning --------------------------------------------

model_app = typer.Typer(
    help="Model artifacts: scan pickles, zips, safetensors, GGUF, ONNX, Keras without loading them; "
    "write a CycloneDX ML-BOM; verify files against it.",
    no_args_is_help=True,
)
app.add_typer(model_app, name="model")

_SEVERITIES = ["info", "low", "medium", "high", "critical"]


def _model_findings_table(results, limit: int = 50) -> None:
    from rich.table import Table

    rows = [(r, i) for r in results for i in r.issues]
    if not rows:
        return
    t = Table(show_lines=False)
    for col in ("file", "member", "kind", "severity", "rule"):
        t.add_column(col, overflow="fold")
    order = {s: k for k, s in enumerate(reversed(_SEVERITIES))}
    rows.sort(key=lambda ri: (order[ri[1].severity], ri[0].path))
    for r, i in rows[:limit]:
        t.add_row(r.path, i.member, i.kind, i.severity, i.rule)
    console.print(t)
    if len(rows) > limit:
        console.print(f"... and {len(rows) - limit} more (query the store for all of them)")


@model_app.command("scan")
def model_scan(
    paths: list[str] = typer.Argument(..., help="Files or directories (a Hugging Face snapshot, a checkpoint folder)."),
    out: str = typer.Option(..., "--out", "-o", help="Store directory to write findings, records and the manifest to."),
    run_id: str = typer.Option(None, "--run-id", help="Run id (default: a new one). Re-using one resumes the run."),
    config: str = typer.Option(None, "--config", "-c", help="Policy YAML (default: configs/model-scan.yaml)."),
    workers: int = typer.Option(None, "--workers", "-j", help="Local worker threads (default: CPU count; "
                                "used once the input is over 64 MiB)."),
    use_ray: bool = typer.Option(False, "--ray", help="Run one Ray task per file (local Ray unless --address)."),
    address: str = typer.Option(None, "--address", help="Ray cluster address (implies --ray), e.g. ray://head:10001."),
    fail_on: str = typer.Option("info", "--fail-on", help="Lowest severity that makes the exit code 1."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the summary line."),
) -> None:
    """Scan model artifacts by parsing their bytes (never loading them) and store the findings.

    Exit code: 0 clean, 1 findings, 2 errors (unreadable files, bad arguments).

    Example: [bold]workbench model scan ~/.cache/huggingface/hub/models--org--name/snapshots/abc --out store[/]
    then [bold]workbench query store "SELECT entity_type, preview, source_uri FROM findings"[/]
    """
    from workbench.store import Store, StoreError, check_run_id
    from workbench.supply.policy import PolicyError
    from workbench.supply.run import ScanInputError, scan_to_store

    if fail_on not in _SEVERITIES:
        fail(f"--fail-on must be one of {', '.join(_SEVERITIES)}")
    try:
        if run_id:
            check_run_id(run_id)
        store = Store(out)
        run = scan_to_store(paths, store, run_id=run_id, policy_path=config,
                            executor="ray" if (use_ray or address) else "auto", workers=workers, address=address)
    except (ScanInputError, PolicyError, StoreError) as e:
        fail(str(e))
    if not quiet:
        _model_findings_table(run.results)
        for r in run.errors:
            err_console.print(f"[red]error:[/] {r.error}", highlight=False)
    c = run.counts
    sev = ", ".join(f"{n} {s}" for s, n in sorted(run.severities.items(), key=lambda x: -_SEVERITIES.index(x[0])))
    console.print(f"run {run.run_id}: {c['records_ok'] + c['records_error']} files, {c['findings']} findings"
                  f"{' (' + sev + ')' if sev else ''}, {c['records_error']} errors"
                  f"{f', {run.skipped_shards} shards resumed' if run.skipped_shards else ''} -> {store.root}",
                  highlight=False)
    raise typer.Exit(run.exit_code(fail_on))


@model_app.command("bom")
def model_bom(
    paths: list[str] = typer.Argument(..., help="Files or directories to describe."),
    out: str = typer.Option(..., "--out", "-o", help="Where to write the CycloneDX 1.6 JSON BOM."),
    config: str = typer.Option(None, "--config", "-c", help="Policy YAML (default: configs/model-scan.yaml)."),
    workers: int = typer.Option(None, "--workers", "-j", help="Local worker threads (default: CPU count)."),
    use_ray: bool = typer.Option(False, "--ray", help="Run one Ray task per file."),
    address: str = typer.Option(None, "--address", help="Ray cluster address (implies --ray)."),
) -> None:
    """Write a CycloneDX 1.6 ML-BOM: one component per file with SHA-256, size, format and scan results.

    Component names are relative to each argument ('<dir name>/<path inside>' or '<file name>'),
    so a BOM made for ./model verifies ./model elsewhere.

    Example: [bold]workbench model bom ./my-model --out my-model.cdx.json[/]
    """
    from workbench.supply.bom import make_bom
    from workbench.supply.policy import PolicyError
    from workbench.supply.run import ScanInputError

    try:
        results = make_bom(paths, out, policy_path=config, executor="ray" if (use_ray or address) else "auto",
                           workers=workers, address=address)
    except (ScanInputError, PolicyError, OSError) as e:
        fail(str(e))
    n = sum(len(r.issues) for r in results)
    errors = [r for r in results if r.error]
    for r in errors:
        err_console.print(f"[red]error:[/] {r.error}", highlight=False)
    console.print(f"wrote {out}: {len(results)} components, {n} scan findings recorded", highlight=False)
    raise typer.Exit(2 if errors else 0)


@model_app.command("verify")
def model_verify(
    paths: list[str] = typer.Argument(..., help="The files or directories the BOM was made from."),
    bom: str = typer.Option(..., "--bom", "-b", help="CycloneDX JSON BOM written by `workbench model bom`."),
) -> None:
    """Check files against a BOM: report added, removed and changed (SHA-256 mismatch) files.

    Exit code: 0 when everything matches, 1 on any difference, 2 on errors.

    Example: [bold]workbench model verify ./my-model --bom my-model.cdx.json[/]
    """
    from workbench.supply.bom import BomError, verify_bom
    from workbench.supply.run import ScanInputError

    try:
        v = verify_bom(paths, bom)
    except (BomError, ScanInputError) as e:
        fail(str(e))
    for name in v.added:
        console.print(f"[yellow]added[/]   {name}", highlight=False)
    for name in v.removed:
        console.print(f"[red]removed[/] {name}", highlight=False)
    for name, old, new in v.changed:
        console.print(f"[red]changed[/] {name} (sha256 {old[:12]}… -> {new[:12]}…)", highlight=False)
    status = "OK" if v.ok else "MISMATCH"
    console.print(f"{status}: {v.unchanged} unchanged, {len(v.added)} added, {len(v.removed)} removed, "
                  f"{len(v.changed)} changed", highlight=False)
    raise typer.Exit(0 if v.ok else 1)



def main() -> None:
    app()


if __name__ == "__main__":
    main()

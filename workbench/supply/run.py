"""Model scans over many files: walk the inputs, run `scan_file` per file on a local executor
(serial or a process pool) or as Ray tasks, and write findings, records and a manifest into the
store (kind='model-scan'), so `workbench runs` and `workbench query` see model scans beside
data scans.

Shards are groups of files in sorted path order; a shard's outputs are written whole and marked
done, so re-running with the same run id skips finished shards.
"""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Sequence

import pyarrow as pa

from workbench.store import FINDINGS, RECORDS, Store, new_run_id
from workbench.supply.issues import SEVERITY_ORDER, FileResult
from workbench.supply.policy import DEFAULT_POLICY, Policy, load_policy
from workbench.supply.scanner import scan_file

log = logging.getLogger(__name__)
DETECTOR = "model"


class ScanInputError(ValueError):
    """A path that does not exist or holds no files (a user error)."""


@dataclass(frozen=True)
class InputFile:
    path: str  # absolute path, symlinks not resolved (a Hugging Face snapshot links into blobs/)
    name: str  # stable name relative to the argument: '<dir name>/<relative path>' or '<file name>'


def walk_inputs(paths: Sequence[str | os.PathLike]) -> list[InputFile]:
    """Every regular file under the given files and directories, sorted, without duplicates.
    Symlinked files are followed; symlinked directories are not (no loops)."""
    out: dict[str, InputFile] = {}
    for p in paths:
        p = Path(p)
        if not p.exists() and not p.is_symlink():
            raise ScanInputError(f"no such file or directory: {p}")
        ap = Path(os.path.abspath(p))
        if ap.is_dir():
            for root, dirs, files in os.walk(ap, followlinks=False):
                dirs.sort()
                for f in sorted(files):
                    full = Path(root) / f
                    rel = full.relative_to(ap).as_posix()
                    out.setdefault(str(full), InputFile(str(full), f"{ap.name}/{rel}"))
        else:
            out.setdefault(str(ap), InputFile(str(ap), ap.name))
    if not out:
        raise ScanInputError("no files to scan under " + ", ".join(str(p) for p in paths))
    return sorted(out.values(), key=lambda f: f.path)


# Below this many bytes in total, a pool costs more than it saves. The default pool is threads:
# hashing (hashlib) and reading release the GIL, and the parsers only touch headers.
POOL_MIN_BYTES = 64 << 20


def scan_paths(files: Sequence[str], policy: Policy | None = None, executor: str = "auto",
               workers: int | None = None, address: str | None = None, hash: bool = True,
               on_result: Callable[[FileResult], None] | None = None) -> list[FileResult]:
    """Scan files; results in input order. executor: 'auto' | 'serial' | 'thread' | 'process' | 'ray'."""
    policy = policy or load_policy()
    files = list(files)
    if address:
        executor = "ray"
    if executor == "auto":
        n_cpu = workers or os.cpu_count() or 1
        total = sum(os.path.getsize(f) for f in files if os.path.isfile(f))
        executor = "thread" if len(files) >= 2 and n_cpu > 1 and total >= POOL_MIN_BYTES else "serial"
    if executor == "serial":
        results = []
        for f in files:
            results.append(scan_file(f, policy, hash))
            if on_result:
                on_result(results[-1])
        return results
    if executor in ("thread", "process"):
        n = workers or min(len(files), os.cpu_count() or 1)
        if executor == "thread":
            pool = ThreadPoolExecutor(max_workers=n)
        else:
            import multiprocessing as mp
            import sys

            # spawn (no inherited threads or locks) unless __main__ cannot be re-imported (stdin, REPL);
            # workers import only the scanner (not pyarrow or the store)
            main_file = getattr(sys.modules.get("__main__"), "__file__", None)
            ctx = "spawn" if main_file and os.path.exists(main_file) else "fork"
            pool = ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context(ctx))
        with pool as ex:
            results = []
            for r in ex.map(scan_file, files, [policy] * len(files), [hash] * len(files)):
                results.append(r)
                if on_result:
                    on_result(r)
            return results
    if executor == "ray":
        return _scan_ray(files, policy, hash, address, workers, on_result)
    raise ValueError(f"unknown executor {executor!r} (serial, thread, process, ray)")


def _scan_ray(files: list[str], policy: Policy, hash: bool, address: str | None, workers: int | None,
              on_result) -> list[FileResult]:
    import ray

    started = False
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False, include_dashboard=False)
        started = True
    try:
        task = ray.remote(num_cpus=1, max_retries=2)(scan_file)
        pol = ray.put(policy)
        limit = workers or max(1, int(ray.cluster_resources().get("CPU", 1))) * 2
        pending: dict = {}
        results: dict[int, FileResult] = {}
        nxt = 0
        while nxt < len(files) or pending:
            while nxt < len(files) and len(pending) < limit:
                pending[task.remote(files[nxt], pol, hash)] = nxt
                nxt += 1
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                i = pending.pop(ref)
                try:
                    results[i] = ray.get(ref)
                except Exception as e:  # a task that failed after its retries: an error record
                    results[i] = FileResult(path=files[i], error=f"ray task failed: {type(e).__name__}")
                if on_result:
                    on_result(results[i])
        return [results[i] for i in range(len(files))]
    finally:
        if started:
            ray.shutdown()


# ---- store -------------------------------------------------------------------------------

def findings_table(store: Store, results: Iterable[FileResult]) -> pa.Table:
    rows = []
    for r in results:
        for i in r.issues:
            rid = f"{r.path}!{i.member}" if i.member else r.path
            extra = {"severity": i.severity, "detail": i.detail, "format": r.format, "sha256": r.sha256}
            extra.update(i.extra)
            rows.append({
                "source_uri": r.path, "record_id": rid, "field": i.member, "detector": DETECTOR,
                "entity_type": i.kind, "start": int(i.start), "end": int(i.end), "score": i.score,
                "match_hash": store.hash(i.value), "preview": i.value[:200], "rule": i.rule,
                "extra": json.dumps(extra, sort_keys=True, default=str),
            })
    return pa.Table.from_pylist(rows, schema=FINDINGS)


def records_table(results: Iterable[FileResult]) -> pa.Table:
    rows = [{
        "source_uri": r.path, "record_id": r.path, "status": "error" if r.error else "ok", "error": r.error,
        "n_chars": int(r.size), "n_findings": len(r.issues),
    } for r in results]
    return pa.Table.from_pylist(rows, schema=RECORDS)


@dataclass
class ModelScanRun:
    run_id: str
    results: list[FileResult] = field(default_factory=list)  # files scanned by this call
    skipped_shards: int = 0  # shards already done under this run id (resumed)
    counts: dict = field(default_factory=dict)  # whole run, resumed shards included
    severities: dict = field(default_factory=dict)  # severity -> findings, whole run

    @property
    def n_findings(self) -> int:
        return int(self.counts.get("findings", 0))

    @property
    def errors(self) -> list[FileResult]:
        return [r for r in self.results if r.error]

    def exit_code(self, fail_on: str = "info") -> int:
        """0 clean, 1 findings at or above `fail_on`, 2 files that could not be read."""
        if self.counts.get("records_error"):
            return 2
        floor = SEVERITY_ORDER.index(fail_on)
        bad = any(n and SEVERITY_ORDER.index(sev) >= floor for sev, n in self.severities.items())
        return 1 if bad else 0


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def scan_to_store(paths: Sequence[str | os.PathLike], store: Store, run_id: str | None = None,
                  policy_path: str | None = None, executor: str = "auto", workers: int | None = None,
                  address: str | None = None, files_per_shard: int = 64,
                  on_result: Callable[[FileResult], None] | None = None) -> ModelScanRun:
    """Scan model artifacts and write the run into the store."""
    policy = load_policy(policy_path)
    inputs = walk_inputs(paths)
    run_id = run_id or new_run_id()
    shards = [inputs[i : i + files_per_shard] for i in range(0, len(inputs), files_per_shard)]
    shard_ids = [f"files-{k:05d}" for k in range(len(shards))]
    t0 = time.time()
    previous = store.read_manifest(run_id) or {}
    manifest = {
        "run_id": run_id, "kind": "model-scan", "status": "running",
        "config": {"profile": "model-scan", "policy": str(Path(policy_path).resolve()) if policy_path
                   else str(DEFAULT_POLICY), "executor": executor, "address": address, "store_matches": False,
                   "files_per_shard": files_per_shard},
        "started_at": previous.get("started_at") or _now(), "finished_at": None, "duration_s": None,
        "inputs": [{"uri": f.path, "name": f.name} for f in inputs],
        "shards": [{"shard_id": sid, "files": [f.path for f in sh]} for sid, sh in zip(shard_ids, shards)],
        "counts": {},
    }
    store.write_manifest(run_id, manifest)
    run = ModelScanRun(run_id)
    done_info = store.done_info(run_id)
    per_file: dict[str, dict] = {}
    counts = {"shards_done": 0, "shards_failed": 0, "records_ok": 0, "records_error": 0, "findings": 0}
    todo: dict[str, list[InputFile]] = {}
    for sid, shard in zip(shard_ids, shards):
        if sid in done_info:
            info = done_info[sid]
            run.skipped_shards += 1
            for k in ("records_ok", "records_error", "findings"):
                counts[k] += int(info.get(k, 0))
            counts["shards_done"] += 1
            per_file.update(info.get("files", {}))
            for sev, n in info.get("severities", {}).items():
                run.severities[sev] = run.severities.get(sev, 0) + n
        else:
            todo[sid] = shard

    def write_shard(sid: str, results: list[FileResult]) -> None:
        store.write_table("findings", run_id, sid, findings_table(store, results))
        store.write_table("records", run_id, sid, records_table(results))
        files = {r.path: {"size": r.size, "mtime": r.mtime, "sha256": r.sha256, "format": r.format}
                 for r in results}
        info = {"records_ok": sum(1 for r in results if not r.error),
                "records_error": sum(1 for r in results if r.error),
                "findings": sum(len(r.issues) for r in results), "files": files, "severities": {}}
        for r in results:
            for i in r.issues:
                info["severities"][i.severity] = info["severities"].get(i.severity, 0) + 1
                run.severities[i.severity] = run.severities.get(i.severity, 0) + 1
        store.mark_done(run_id, sid, info)
        per_file.update(files)
        for k in ("records_ok", "records_error", "findings"):
            counts[k] += info[k]
        counts["shards_done"] += 1

    # One executor for the whole run (one pool, one Ray session); a shard is written as soon as
    # all of its files are back, in whatever order they finish.
    shard_of = {f.path: sid for sid, shard in todo.items() for f in shard}
    waiting: dict[str, dict[str, FileResult]] = {sid: {} for sid in todo}

    def collect(r: FileResult) -> None:
        sid = shard_of[r.path]
        waiting[sid][r.path] = r
        if len(waiting[sid]) == len(todo[sid]):
            write_shard(sid, [waiting[sid][f.path] for f in todo[sid]])
        if on_result:
            on_result(r)

    pending = [f.path for shard in todo.values() for f in shard]
    if pending:
        run.results = scan_paths(pending, policy, executor, workers, address, on_result=collect)
    for inp in manifest["inputs"]:
        inp.update(per_file.get(inp["uri"], {}))
    run.counts = counts
    manifest.update(status="done", finished_at=_now(), duration_s=round(time.time() - t0, 3), counts=counts)
    store.write_manifest(run_id, manifest)
    return run

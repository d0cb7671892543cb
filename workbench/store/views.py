"""DuckDB over a store: views `findings`, `records`, `probes` (hive-partitioned Parquet) and `runs`."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from workbench.store.schema import TABLES
from workbench.store.store import Store

RUN_COLUMNS = pa.schema(
    [
        ("run_id", pa.string()),
        ("kind", pa.string()),
        ("status", pa.string()),
        ("profile", pa.string()),
        ("started_at", pa.string()),
        ("finished_at", pa.string()),
        ("duration_s", pa.float64()),
        ("n_inputs", pa.int64()),
        ("input_bytes", pa.int64()),
        ("n_shards", pa.int64()),
        ("shards_done", pa.int64()),
        ("shards_failed", pa.int64()),
        ("records_ok", pa.int64()),
        ("records_error", pa.int64()),
        ("n_findings", pa.int64()),
        ("store_matches", pa.bool_()),
        ("manifest", pa.string()),
    ]
)


def runs_table(store: Store) -> pa.Table:
    import json

    rows = []
    for m in store.manifests():
        counts = m.get("counts", {})
        inputs = m.get("inputs", [])
        rows.append(
            {
                "run_id": m.get("run_id"),
                "kind": m.get("kind", "scan"),
                "status": m.get("status"),
                "profile": (m.get("config") or {}).get("profile"),
                "started_at": m.get("started_at"),
                "finished_at": m.get("finished_at"),
                "duration_s": m.get("duration_s"),
                "n_inputs": len(inputs),
                "input_bytes": sum(int(i.get("size") or 0) for i in inputs),
                "n_shards": len(m.get("shards", [])),
                "shards_done": counts.get("shards_done"),
                "shards_failed": counts.get("shards_failed"),
                "records_ok": counts.get("records_ok"),
                "records_error": counts.get("records_error"),
                "n_findings": counts.get("findings"),
                "store_matches": bool((m.get("config") or {}).get("store_matches", False)),
                "manifest": json.dumps(m, sort_keys=True, default=str),
            }
        )
    return pa.Table.from_pylist(rows, schema=RUN_COLUMNS)


def connect(store_root: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the store's views defined."""
    store = Store(store_root, create=False)
    con = duckdb.connect()
    for name, schema in TABLES.items():
        files = list((store.root / name).glob("run_id=*/*.parquet"))
        if files:
            glob = str(store.root / name / "*" / "*.parquet").replace("'", "''")
            con.execute(
                f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{glob}', "
                "hive_partitioning = true, union_by_name = true)"
            )
        else:
            empty = pa.schema([pa.field("run_id", pa.string())] + list(schema)).empty_table()
            con.register(f"_{name}_empty", empty)
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM _{name}_empty")
    con.register("_runs", runs_table(store))
    con.execute("CREATE VIEW runs AS SELECT * FROM _runs")
    return con

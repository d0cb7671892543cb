"""Arrow schemas of the store's tables: the contract every part of workbench shares.

`run_id` is not a column inside the Parquet files: it is the hive partition
(`findings/run_id=<id>/<shard>.parquet`) and DuckDB / Ray read it from the path.
"""

from __future__ import annotations

import pyarrow as pa

FINDINGS = pa.schema(
    [
        ("source_uri", pa.string()),
        ("record_id", pa.string()),
        ("field", pa.string()),
        ("detector", pa.string()),
        ("entity_type", pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("score", pa.float64()),
        ("match_hash", pa.string()),
        ("preview", pa.string()),
        ("rule", pa.string()),
        ("extra", pa.string()),  # JSON text
    ]
)

# Only written when the user opted in with --store-matches (recorded in the run manifest).
FINDINGS_WITH_MATCH = FINDINGS.append(pa.field("match", pa.string()))

RECORDS = pa.schema(
    [
        ("source_uri", pa.string()),
        ("record_id", pa.string()),
        ("status", pa.string()),  # 'ok' | 'error'
        ("error", pa.string()),
        ("n_chars", pa.int64()),
        ("n_findings", pa.int64()),
    ]
)

PROBES = pa.schema(
    [
        ("sample_id", pa.string()),
        ("model", pa.string()),
        ("engine", pa.string()),
        ("n_tokens", pa.int64()),
        ("loss", pa.float64()),
        ("zlib_ratio", pa.float64()),
        ("lowercase_ratio", pa.float64()),
        ("min_k", pa.float64()),
        ("min_k_fraction", pa.float64()),
        ("min_k_pp", pa.float64()),
        ("ref_ratio", pa.float64()),
        ("prefix_len", pa.int64()),
        ("suffix_len", pa.int64()),
        ("extractable", pa.bool_()),
        ("matched_suffix_tokens", pa.int64()),
        ("exposure", pa.float64()),
        ("label", pa.string()),
        ("extra", pa.string()),  # JSON text
    ]
)

TABLES = {"findings": FINDINGS, "records": RECORDS, "probes": PROBES}

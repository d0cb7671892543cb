"""`ray job submit` entrypoint for a PII scan.

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python jobs/scan_pii.py --config configs/scan-job.yaml

The job joins the cluster it was submitted to (RAY_ADDRESS is set by Ray for the driver) and
runs the same pipeline as `workbench scan`. Relative paths in the config are resolved against
--base (default: the current directory, i.e. the uploaded working dir); give absolute paths
(shared storage) on a real cluster.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the working dir, when run from a checkout

from workbench.config import ConfigError, load_profile  # noqa: E402
from workbench.corpus.plan import CorpusError  # noqa: E402
from workbench.pipeline.job import load_scan_job  # noqa: E402
from workbench.pipeline.scan import result_dict, scan  # noqa: E402
from workbench.store import StoreError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="scan job YAML (see configs/scan-job.yaml)")
    ap.add_argument("--base", default=".", help="directory that relative paths in the config are relative to")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("jobs.scan_pii")
    try:
        job = load_scan_job(args.config, base=args.base)
        profile = load_profile(job.profile)
        last = {"t": 0}

        def progress(ev: dict) -> None:
            if "shard_done" in ev:
                last["t"] += 1
                info = ev["shard_done"]
                log.info("shard %s done: %d records, %d findings", info["shard_id"],
                         info["records_ok"] + info["records_error"], info["findings"])

        result = scan(job.inputs, job.out, profile, fields=job.fields, id_field=job.id_field, run_id=job.run_id,
                      executor="ray", workers=job.workers, store_matches=job.store_matches or None,
                      progress=progress)
    except (ConfigError, CorpusError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    summary = result_dict(result)
    summary.pop("inputs")
    print(json.dumps(summary, indent=1, default=str))
    if result.failed:
        print(f"error: {len(result.failed)} shard(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

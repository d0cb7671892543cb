"""`ray job submit` entrypoint for a memorization audit of a language model.

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python jobs/memorization_audit.py --config configs/memorization.yaml [--set key=value ...]

Samples are spread over Ray actors, each holding one model (`ray.num_actors`, `ray.num_gpus` per
actor: 1 on a GPU node, 0 on CPU); the driver writes the `probes` table, the run manifest and
the membership evaluation into the store (`store:`; on a real cluster, shared storage). Re-submit
with `--set run_id=<id>` to resume a run. Exit status: 0 done, 1 some shards failed, 2 bad config.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the working dir, when run from a checkout

import yaml  # noqa: E402

from workbench.probes.audit import ray_executor, run_audit  # noqa: E402
from workbench.probes.canaries import CanaryError  # noqa: E402
from workbench.probes.config import ConfigError, load_config  # noqa: E402
from workbench.probes.engines import EngineError  # noqa: E402
from workbench.store import StoreError  # noqa: E402


def _overrides(items: list[str]) -> dict:
    """`a.b=value` pairs (values parsed as YAML) into a nested dict."""
    out: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: use KEY=VALUE (e.g. ray.num_actors=4)")
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="audit YAML (see configs/memorization.yaml)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config value, e.g. --set model=/models/ft --set ray.num_gpus=1")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("jobs.memorization_audit")
    try:
        cfg = load_config(args.config, _overrides(args.set))
        manifest = run_audit(cfg, executor=ray_executor, progress=log.info)
    except (ConfigError, CanaryError, EngineError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({k: manifest[k] for k in ("run_id", "status", "counts", "duration_s", "membership")},
                     indent=1, default=str))
    if manifest["status"] != "done":
        print(f"error: shards failed: {', '.join(manifest['failed_shards'])}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Session-wide fixtures of the probe tests: a tiny GPT-2 trained once per session on synthetic text with
planted canaries (workbench.probes.synthetic), and one HF-engine audit of it in a store.

Import the fixtures you use into a test module (`from probes_fixtures import probe_fixture`); the
builds are cached in this module, so each happens once per session however many modules import them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_CACHE: dict = {}

# k-extractability on the sentence samples: short prefix/suffix so that most sentences qualify.
PREFIX_LEN, SUFFIX_LEN = 8, 8


def _fixture(tmp_path_factory):
    if "fx" not in _CACHE:
        import torch

        torch.set_num_threads(1)
        from workbench.probes.synthetic import build_fixture

        _CACHE["fx"] = build_fixture(tmp_path_factory.mktemp("probe-model"), epochs=30, seed=0)
    return _CACHE["fx"]


def _hf_audit(tmp_path_factory):
    if "hf" not in _CACHE:
        from workbench.probes.audit import run_audit
        from workbench.probes.config import build_config

        fx = _fixture(tmp_path_factory)
        store = tmp_path_factory.mktemp("probe-store") / "store"
        cfg = build_config({
            "inputs": [str(fx.samples)], "model": str(fx.trained), "engine": "hf", "store": str(store),
            "run_id": "hf-trained", "probes": ["scores", "extraction", "exposure"], "canaries": str(fx.canary_manifest),
            "prefix_len": PREFIX_LEN, "suffix_len": SUFFIX_LEN, "cross_check": True, "shard_size": 150,
        })
        manifest = run_audit(cfg)
        _CACHE["hf"] = (store, manifest)
    return _CACHE["hf"]


@pytest.fixture(scope="session")
def probe_fixture(tmp_path_factory):
    return _fixture(tmp_path_factory)


@pytest.fixture(scope="session")
def hf_audit(tmp_path_factory) -> tuple[Path, dict]:
    """(store path, manifest) of an HF-engine audit of the trained model: scores, extraction, exposure."""
    return _hf_audit(tmp_path_factory)


def probe_rows(store: Path, run_id: str) -> dict[str, dict]:
    from workbench.store.views import connect

    con = connect(store)
    cur = con.execute("SELECT * FROM probes WHERE run_id = ?", [run_id])
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    return {r["sample_id"] + ("#exposure" if r["exposure"] is not None else ""): r for r in rows}

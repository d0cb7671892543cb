"""Shared fixtures. Feature-specific fixtures live in their own test modules."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
PII_BENCH = SHARED / "benchmarks" / "pii"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:
        has_cuda = False
    if not has_cuda:
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def sample_corpus(tmp_path_factory) -> Path:
    """The bundled sample corpus (planted PII, labels beside it in <dir>-labels/)."""
    from workbench.corpus.sample import generate

    d = tmp_path_factory.mktemp("sample") / "corpus"
    generate(d, records=120, seed=11)
    return d


def workbench_cmd(*args: str, env: dict | None = None, timeout: float = 600, check: bool = False):
    """Run the real `workbench` console script in a subprocess."""
    exe = Path(sys.executable).parent / "workbench"
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f"workbench {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def wb():
    return workbench_cmd


def have(cmd: str) -> bool:
    return shutil.which(cmd) is not None

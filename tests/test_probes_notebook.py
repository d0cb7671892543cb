"""notebooks/memorization_audit.ipynb runs top to bottom against a store the tests created."""

from __future__ import annotations

import os

import nbformat
from nbclient import NotebookClient

from probes_fixtures import hf_audit, probe_fixture  # noqa: F401
from tests.conftest import REPO


def test_memorization_notebook_executes(hf_audit, monkeypatch):
    store, manifest = hf_audit
    monkeypatch.setenv("WORKBENCH_STORE", str(store))
    monkeypatch.setenv("WORKBENCH_RUN_ID", "hf-trained")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend renders the figures
    nb = nbformat.read(REPO / "notebooks" / "memorization_audit.ipynb", as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}).execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    images = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                 if "image/png" in o.get("data", {}))
    assert "run hf-trained: 412 samples, 12 canaries" in text
    loss_auc = manifest["membership"]["scores"]["loss"]["auc"]
    assert f"loss             {loss_auc:6.3f}" in text
    assert "     64" in text and "extractable" in text
    assert images >= 3  # histograms, ROC curves, exposure plot

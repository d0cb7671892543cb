"""GPU checks of the HF engine (CUDA + the Triton token_stats kernel): same numbers and verdicts as on CPU.

Skipped without CUDA (run on a lent GPU machine: /work/notes/gpu-probes.sh).
"""

from __future__ import annotations

import numpy as np
import pytest

from probes_fixtures import probe_fixture  # noqa: F401


@pytest.mark.gpu
def test_hf_engine_cuda_matches_cpu(probe_fixture):
    from workbench.probes import ProbeRunner, ProbeSettings, make_engine, read_samples

    samples = read_samples(probe_fixture.samples)
    settings = ProbeSettings(probes=["scores", "extraction"], prefix_len=8, suffix_len=8, cross_check=True)
    rows = {}
    for device in ("cpu", "cuda"):
        eng = make_engine("hf", str(probe_fixture.trained), device=device)
        rows[device] = ProbeRunner(eng, settings).rows(samples)
    for c, g in zip(rows["cpu"], rows["cuda"]):
        for col in ("loss", "zlib_ratio", "lowercase_ratio", "min_k", "min_k_pp"):
            assert g[col] == pytest.approx(c[col], rel=1e-3, abs=1e-4), (c["sample_id"], col)
        assert g["extractable"] == c["extractable"] and g["matched_suffix_tokens"] == c["matched_suffix_tokens"]
        if g["extractable"] is not None:
            assert '"generate_agrees": true' in g["extra"], g
    assert sum(bool(r["extractable"]) for r in rows["cuda"]) > 0
    assert np.isfinite([r["min_k_pp"] for r in rows["cuda"] if r["min_k_pp"] is not None]).all()

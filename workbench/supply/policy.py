"""The scan policy: which pickle globals are allowed, which are denied, and the parser limits.

Loaded from YAML (default: configs/model-scan.yaml) and validated with pydantic, so a typo in a
custom policy is one clear error instead of a silently weaker scan.
"""

from __future__ import annotations

import _compat_pickle
import re
from functools import cached_property
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "configs" / "model-scan.yaml"

# Globals are written `module.qualname`; parts are Python identifiers (dunders included).
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")

SAFE, UNKNOWN, DANGEROUS = "safe", "unknown", "dangerous"


class PolicyError(ValueError):
    """A policy file that cannot be read or does not validate (a user error)."""


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_container_depth: int = Field(4, ge=1, le=16)
    max_decompressed_bytes: int = Field(2 << 30, ge=1 << 10)
    crc_check_max_bytes: int = Field(64 << 20, ge=0)
    safetensors_max_header_bytes: int = Field(100_000_000, ge=1024)
    gguf_max_string_bytes: int = Field(64 << 20, ge=1024)
    gguf_max_array_depth: int = Field(1, ge=0, le=8)
    gguf_max_dims: int = Field(4, ge=1, le=8)
    max_pickle_ops: int = Field(50_000_000, ge=1000)


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    allow: list[str] = Field(default_factory=list)
    deny: list[str] = Field(default_factory=list)
    torchscript_allow_prefixes: list[str] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)

    @field_validator("allow", "deny", "torchscript_allow_prefixes")
    @classmethod
    def _names(cls, values: list[str]) -> list[str]:
        bad = [v for v in values if not isinstance(v, str) or not _NAME.match(v)]
        if bad:
            raise ValueError(f"not a dotted Python name: {bad[0]!r}")
        return values

    @cached_property
    def _allow(self) -> frozenset[str]:
        return frozenset(self.allow)

    @cached_property
    def _deny(self) -> frozenset[str]:
        return frozenset(self.deny)

    def classify(self, module: str, name: str, torchscript: bool = False) -> str:
        """SAFE, UNKNOWN or DANGEROUS for the global `module.name`: dangerous if any spelling (as
        written, or as the unpickler maps a Python 2 name) is denied, safe if one is allowed."""
        verdicts = {self._classify_one(full, torchscript) for full in _spellings(module, name)}
        if DANGEROUS in verdicts:
            return DANGEROUS
        return SAFE if SAFE in verdicts else UNKNOWN

    def _classify_one(self, full: str, torchscript: bool) -> str:
        if full in self._allow:
            return SAFE
        parts = full.split(".")
        # The name itself or any dotted tail of it (`torch.serialization.os.system` reaches
        # `os.system` by attribute lookup) under a denied entry.
        for i in range(len(parts)):
            for j in range(i + 1, len(parts) + 1):
                if ".".join(parts[i:j]) in self._deny:
                    return DANGEROUS
        if torchscript and any(
            full == p or full.startswith(p + ".") for p in self.torchscript_allow_prefixes
        ):
            if not any(p.startswith("__") and p.endswith("__") and p != "__torch__" for p in parts):
                return SAFE
        return UNKNOWN


def _spellings(module: str, name: str) -> list[str]:
    """The global as written and as the unpickler's Python 2 compatibility maps it."""
    out = [f"{module}.{name}"]
    if (module, name) in _compat_pickle.NAME_MAPPING:
        m, n = _compat_pickle.NAME_MAPPING[(module, name)]
        out.append(f"{m}.{n}")
    elif module in _compat_pickle.IMPORT_MAPPING:
        out.append(f"{_compat_pickle.IMPORT_MAPPING[module]}.{name}")
    return out


def load_policy(path: str | Path | None = None) -> Policy:
    """Read and validate a policy YAML file (default: configs/model-scan.yaml)."""
    p = Path(path) if path is not None else DEFAULT_POLICY
    try:
        raw = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise PolicyError(f"policy file not found: {p}") from None
    except (OSError, yaml.YAMLError) as e:
        raise PolicyError(f"cannot read policy {p}: {str(e).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise PolicyError(f"policy {p} must be a mapping with allow/deny/limits")
    try:
        return Policy.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise PolicyError(f"policy {p}: {where}: {err['msg']}") from None

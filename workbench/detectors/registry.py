"""The detector registry: names used in profiles -> detector classes (imported lazily).

A detector class has a nested pydantic `Config` model (unknown keys forbidden) and is built
with `cls(config)`; see `workbench.detectors.base`. Lazy imports keep a patterns-only scan
from importing torch.
"""

from __future__ import annotations

import atexit
import gc
import importlib
from typing import Any

from pydantic import ValidationError

DETECTORS: dict[str, str] = {
    "patterns": "workbench.detectors.fastpatterns:PatternsEngineDetector",  # engine: fast | presidio
    "ner": "workbench.detectors.ner:NerDetector",
    "classify": "workbench.detectors.classify:ClassifyDetector",
    "injection": "workbench.detectors.injection:InjectionDetector",
    "secrets": "workbench.detectors.secrets:SecretsDetector",
}


def detector_class(name: str) -> type:
    from workbench.config import ConfigError

    try:
        target = DETECTORS[name]
    except KeyError:
        raise ConfigError(f"unknown detector {name!r} (known: {', '.join(sorted(DETECTORS))})") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def validate_detector_config(name: str, cfg: dict[str, Any]) -> dict[str, Any]:
    from workbench.config import ConfigError, _format_validation_error

    cls = detector_class(name)
    try:
        return cls.Config.model_validate(cfg).model_dump()
    except ValidationError as e:
        raise ConfigError(f"detectors.{name}: {_format_validation_error(e)}") from None


def build_detectors(detectors: dict[str, dict[str, Any]]) -> list[Any]:
    """Instantiate every detector of a profile (models load here, once per worker).

    Then `gc.freeze()`: the detectors, their models and every module imported so far live as
    long as the worker, and the cyclic garbage collector would walk all of them (about 480,000
    objects with Presidio and spaCy loaded, 0.3 CPU-s a time) on each full collection while
    the scan allocates. Frozen objects are still freed when their reference count drops to
    zero, but never by the cyclic collector: detectors built and dropped again and again in one
    process (not what workers do) keep their reference cycles until exit."""
    out = []
    for name, cfg in detectors.items():
        cls = detector_class(name)
        out.append(cls(cls.Config.model_validate(cfg)))
    gc.collect()
    gc.freeze()
    return out


# frozen objects go back to the collector at exit, so that extensions see them released
atexit.register(gc.unfreeze)

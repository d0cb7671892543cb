"""Detector `injection`: pattern rules for well-known prompt-injection phrasings (no model).

A zero-model baseline for chat logs, prompts and model outputs: rules are regular expressions
in a YAML file (default configs/injection_rules.yaml; see that file for the format). A text that
matches gets ONE finding covering the whole text (start=0, end=len(text)), like the `classify`
detector, with entity type PROMPT_INJECTION, the highest matching rule's score, its id as
`rule`, and in `extra` all matched rule ids and the offsets of the first match.

The same rules can run inside `classify` (`injection_rules: true`) so a model and the rules
give one combined finding per text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import yaml
from pydantic import Field

from workbench.config import CONFIG_DIR, ConfigError, Strict
from workbench.detectors.base import Span

NAME = "injection"
DEFAULT_RULES = CONFIG_DIR / "injection_rules.yaml"


class RuleSpec(Strict):
    id: str
    pattern: str
    score: float = Field(0.8, ge=0, le=1)
    entity_type: str | None = None
    description: str = ""


class RuleFile(Strict):
    version: int = 1
    entity_type: str = "PROMPT_INJECTION"
    rules: list[RuleSpec]


@dataclass(frozen=True)
class Rule:
    id: str
    regex: re.Pattern
    score: float
    entity_type: str


def _rules_path(rules: str) -> Path:
    if rules == "default":
        return DEFAULT_RULES
    p = Path(rules).expanduser()
    if not p.is_file():
        cand = CONFIG_DIR / rules
        if cand.is_file():
            return cand
        raise ConfigError(f"injection rules file not found: {rules}")
    return p


@lru_cache(maxsize=16)
def load_rules(rules: str = "default", disabled: tuple[str, ...] = ()) -> tuple[Rule, ...]:
    """Compile a rule file ('default' = configs/injection_rules.yaml). ConfigError on bad input."""
    path = _rules_path(rules)
    try:
        data = yaml.safe_load(path.read_text())
        spec = RuleFile.model_validate(data)
    except Exception as e:  # noqa: BLE001 - one line for the user
        raise ConfigError(f"injection rules {path}: {type(e).__name__}: {str(e).splitlines()[0]}") from None
    out, seen = [], set()
    for r in spec.rules:
        if r.id in seen:
            raise ConfigError(f"injection rules {path}: duplicate rule id {r.id!r}")
        seen.add(r.id)
        if r.id in disabled:
            continue
        try:
            rx = re.compile(r.pattern, re.IGNORECASE | re.MULTILINE)
        except re.error as e:
            raise ConfigError(f"injection rules {path}: rule {r.id}: bad pattern ({e})") from None
        out.append(Rule(r.id, rx, r.score, r.entity_type or spec.entity_type))
    unknown = set(disabled) - seen
    if unknown:
        raise ConfigError(f"injection rules {path}: disabled rules not in the file: {', '.join(sorted(unknown))}")
    return tuple(out)


def match_rules(rules: Sequence[Rule], text: str) -> Span | None:
    """One whole-text Span for the best matching rule, or None."""
    hits: list[tuple[Rule, re.Match]] = []
    for r in rules:
        m = r.regex.search(text)
        if m:
            hits.append((r, m))
    if not hits:
        return None
    best, m = max(hits, key=lambda h: (h[0].score, -h[1].start()))
    extra: dict[str, Any] = {
        "scope": "text",
        "rules": [r.id for r, _ in hits],
        "match_start": m.start(),
        "match_end": m.end(),
    }
    return Span(best.entity_type, 0, len(text), best.score, NAME, best.id, extra)


class InjectionConfig(Strict):
    rules: str = Field("default", description="rule file: 'default' (configs/injection_rules.yaml) or a path")
    disabled: list[str] = Field(default_factory=list, description="rule ids to switch off")
    threshold: float = Field(0.0, ge=0, le=1, description="drop findings whose rule score is below this")


class InjectionDetector:
    """Detector `injection`: one whole-text finding per text that matches an injection rule."""

    name = NAME
    Config = InjectionConfig

    def __init__(self, config: InjectionConfig | None = None):
        self.config = config or InjectionConfig()
        self.rules = load_rules(self.config.rules, tuple(self.config.disabled))

    def __call__(self, texts: Sequence[str]) -> list[list[Span]]:
        out = []
        for t in texts:
            s = match_rules(self.rules, t) if t else None
            out.append([s] if s is not None and s.score >= self.config.threshold else [])
        return out

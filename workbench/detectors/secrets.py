"""Detector `secrets`: API keys, tokens, private keys and passwords, from YAML rules.

Rules live in YAML (built-in: configs/secrets-rules.yaml; users add files with `rule_files`).
Each rule has an id, an entity type, a Python regex (the secret is its named group `secret`,
else the whole match), literal keywords, an optional entropy floor, an allowlist of placeholder
patterns and an optional validator (see the header of configs/secrets-rules.yaml).

Speed: every rule's regex is compiled into ONE hyperscan database in prefilter mode
(HS_FLAG_PREFILTER: hyperscan reports a superset of the true matches, even for constructs it
cannot run exactly such as lookbehinds and back-references), so one multi-pattern pass over a
text tells which rules can match at all. Only those rules then run Python `re` to confirm and
to get exact offsets. A rule hyperscan cannot compile even in prefilter mode falls back to its
literal keywords in the same database; a rule with neither always runs `re` (logged once).

Hyperscan scans bytes, Python `re` scans str: each text is given to hyperscan as ASCII with
every non-ASCII character replaced by `?` (one byte per character), and rules are compiled
with `re.ASCII`, so character classes mean the same thing on both sides.

A bad rule file is a `RuleFileError` (a `ConfigError`): one line naming the file and rule id.
Findings never carry the secret: the pipeline stores its keyed hash and masked preview.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import yaml
from pydantic import Field, model_validator

from workbench.config import CONFIG_DIR, ConfigError, Strict
from workbench.detectors.base import Span

log = logging.getLogger(__name__)

NAME = "secrets"
BUILTIN_RULES = CONFIG_DIR / "secrets-rules.yaml"

_RULE_KEYS = {
    "id", "entity", "regex", "keywords", "ignore_case", "entropy", "allowlist", "context_allowlist",
    "validator", "score", "generic", "description",
}
CONTEXT_CHARS = 64  # how much text before the secret `context_allowlist` sees
_REQUIRED = ("id", "entity", "regex")
_FILE_KEYS = {"rules", "allowlist", "version", "description"}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_ENTITY = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")


class RuleFileError(ConfigError):
    """A rule file that cannot be used: one line naming the file and the rule."""


# ---- validators (named in rules as `validator: <name>`) ---------------------------------


def _b64url_json(part: str) -> Any:
    pad = "=" * (-len(part.rstrip("=")) % 4)
    raw = base64.urlsafe_b64decode(part.rstrip("=") + pad)
    return json.loads(raw)


def validate_jwt(secret: str) -> bool:
    """A JWT's header and payload are base64url JSON objects; the header names an `alg`."""
    parts = secret.split(".")
    if len(parts) != 3:
        return False
    try:
        header = _b64url_json(parts[0])
        payload = _b64url_json(parts[1])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return False
    return isinstance(header, dict) and "alg" in header and isinstance(payload, dict)


VALIDATORS: dict[str, Callable[[str], bool]] = {"jwt": validate_jwt}


def shannon_entropy(s: str) -> float:
    """Shannon entropy of the characters of `s`, in bits per character."""
    n = len(s)
    if n == 0:
        return 0.0
    return -sum((c / n) * math.log2(c / n) for c in Counter(s).values())


# ---- rules -----------------------------------------------------------------------------


@dataclass(eq=False)
class Rule:
    id: str
    entity: str
    regex: re.Pattern[str]
    pattern: str
    keywords: list[str] = field(default_factory=list)
    ignore_case: bool = False
    entropy: float | None = None
    allowlist: list[re.Pattern[str]] = field(default_factory=list)
    context_allowlist: list[re.Pattern[str]] = field(default_factory=list)
    validator: str | None = None
    score: float = 0.9
    generic: bool = False
    description: str = ""
    source: str = ""
    group: str | int = 0

    def candidates(self, text: str, global_allow: Sequence[re.Pattern[str]]):
        """Yield (start, end, secret) for each confirmed match of this rule in `text`."""
        check = VALIDATORS.get(self.validator) if self.validator else None
        for m in self.regex.finditer(text):
            start, end = m.span(self.group)
            if start < 0 or end <= start:
                continue
            secret = text[start:end]
            if self.entropy is not None and shannon_entropy(secret) < self.entropy:
                continue
            if any(a.search(secret) for a in self.allowlist) or any(a.search(secret) for a in global_allow):
                continue
            if self.context_allowlist:
                before = text[max(0, m.start() - CONTEXT_CHARS) : start]
                if any(a.search(before) for a in self.context_allowlist):
                    continue
            if check is not None and not check(secret):
                continue
            yield start, end, secret


def _compile(pattern: str, flags: int, where: str, what: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags)
    except re.error as e:
        raise RuleFileError(f"{where}: {what}: invalid regex ({e})") from None


def _parse_rule(raw: Any, where: str, index: int) -> Rule:
    if not isinstance(raw, dict):
        raise RuleFileError(f"{where}: rule #{index + 1}: expected a mapping")
    rid = raw.get("id")
    label = f"rule {rid!r}" if rid else f"rule #{index + 1}"
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        raise RuleFileError(
            f"{where}: {label}: unknown key {', '.join(map(repr, unknown))} (known: {', '.join(sorted(_RULE_KEYS))})"
        )
    missing = [k for k in _REQUIRED if raw.get(k) in (None, "")]
    if missing:
        raise RuleFileError(f"{where}: {label}: missing field {', '.join(map(repr, missing))}")
    if not isinstance(rid, str) or not _ID.match(rid):
        raise RuleFileError(f"{where}: {label}: id must be letters, digits, '-' and '_' (at most 64 characters)")
    entity = raw["entity"]
    if not isinstance(entity, str) or not _ENTITY.match(entity):
        raise RuleFileError(f"{where}: {label}: entity must be UPPER_SNAKE_CASE, e.g. MY_API_KEY")
    if not isinstance(raw["regex"], str):
        raise RuleFileError(f"{where}: {label}: regex must be a string")
    ignore_case = raw.get("ignore_case", False)
    if not isinstance(ignore_case, bool):
        raise RuleFileError(f"{where}: {label}: ignore_case must be true or false")
    flags = re.ASCII | (re.IGNORECASE if ignore_case else 0)
    regex = _compile(raw["regex"], flags, where, label)
    if regex.match(""):
        raise RuleFileError(f"{where}: {label}: regex matches the empty string")
    group: str | int = "secret" if "secret" in regex.groupindex else 0
    keywords = raw.get("keywords") or []
    if not isinstance(keywords, list) or not all(isinstance(k, str) and k for k in keywords):
        raise RuleFileError(f"{where}: {label}: keywords must be a list of non-empty strings")
    entropy = raw.get("entropy")
    if entropy is not None and (isinstance(entropy, bool) or not isinstance(entropy, (int, float)) or not 0 <= entropy <= 8):
        raise RuleFileError(f"{where}: {label}: entropy must be a number of bits per character between 0 and 8")
    allow_raw = raw.get("allowlist") or []
    if not isinstance(allow_raw, list) or not all(isinstance(a, str) for a in allow_raw):
        raise RuleFileError(f"{where}: {label}: allowlist must be a list of regexes")
    allow = [_compile(a, re.IGNORECASE, where, f"{label}: allowlist") for a in allow_raw]
    ctx_raw = raw.get("context_allowlist") or []
    if not isinstance(ctx_raw, list) or not all(isinstance(a, str) for a in ctx_raw):
        raise RuleFileError(f"{where}: {label}: context_allowlist must be a list of regexes")
    ctx_allow = [_compile(a, re.IGNORECASE, where, f"{label}: context_allowlist") for a in ctx_raw]
    validator = raw.get("validator")
    if validator is not None and validator not in VALIDATORS:
        raise RuleFileError(f"{where}: {label}: unknown validator {validator!r} (known: {', '.join(VALIDATORS)})")
    score = raw.get("score", 0.9)
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 1:
        raise RuleFileError(f"{where}: {label}: score must be a number between 0 and 1")
    generic = raw.get("generic", False)
    if not isinstance(generic, bool):
        raise RuleFileError(f"{where}: {label}: generic must be true or false")
    return Rule(
        id=rid, entity=entity, regex=regex, pattern=raw["regex"], keywords=list(keywords),
        ignore_case=ignore_case, entropy=None if entropy is None else float(entropy), allowlist=allow,
        context_allowlist=ctx_allow, validator=validator, score=float(score), generic=generic,
        description=str(raw.get("description", "")), source=where, group=group,
    )


def load_rule_file(path: str | Path) -> tuple[list[Rule], list[re.Pattern[str]]]:
    """Parse one rule file: (rules, file-level allowlist). Raises RuleFileError."""
    p = Path(path)
    where = f"rule file {p}"
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RuleFileError(f"{where}: not found") from None
    except OSError as e:
        raise RuleFileError(f"{where}: cannot read ({e.strerror or e})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise RuleFileError(f"{where}: invalid YAML" + (f" at line {mark.line + 1}" if mark else "")) from None
    if not isinstance(data, dict):
        raise RuleFileError(f"{where}: expected a mapping with a `rules:` list")
    unknown = sorted(set(data) - _FILE_KEYS)
    if unknown:
        raise RuleFileError(f"{where}: unknown key {', '.join(map(repr, unknown))} (known: {', '.join(sorted(_FILE_KEYS))})")
    rules_raw = data.get("rules")
    if not isinstance(rules_raw, list) or not rules_raw:
        raise RuleFileError(f"{where}: missing field 'rules' (a non-empty list)")
    allow_raw = data.get("allowlist") or []
    if not isinstance(allow_raw, list) or not all(isinstance(a, str) for a in allow_raw):
        raise RuleFileError(f"{where}: allowlist must be a list of regexes")
    allow = [_compile(a, re.IGNORECASE, where, "allowlist") for a in allow_raw]
    rules = [_parse_rule(r, where, i) for i, r in enumerate(rules_raw)]
    return rules, allow


def resolve_rule_file(name: str) -> Path:
    p = Path(name).expanduser()
    if p.is_file() or p.is_absolute():
        return p
    for candidate in (CONFIG_DIR / name, CONFIG_DIR / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    return p


# ---- the compiled rule set --------------------------------------------------------------


class RuleSet:
    """All active rules, with one hyperscan database over them."""

    def __init__(self, rules: list[Rule], allowlist: list[re.Pattern[str]]):
        self.rules = rules
        self.allowlist = allowlist
        self.always: list[int] = []  # rules without any prefilter: always confirmed with re
        self._db = None
        self._scratch = None
        self._pattern_rule: list[int] = []  # hyperscan pattern id -> rule index
        self._build_hyperscan()

    def _build_hyperscan(self) -> None:
        try:
            import hyperscan
        except ImportError:  # no wheel for this platform: correct results, Python `re` speed
            log.warning("hyperscan is not installed: the secrets detector runs every rule with Python re (slow)")
            self.always = list(range(len(self.rules)))
            return
        self._db, self._pattern_rule, self.always = _compile_database(tuple(self.rules))
        if self._db is not None:
            self._scratch = hyperscan.Scratch(self._db)

    def candidate_rules(self, text: str) -> list[int]:
        """Indices of the rules that may match `text` (one hyperscan pass)."""
        if self._db is None:
            return list(self.always)
        hit: set[int] = set(self.always)
        pattern_rule = self._pattern_rule

        def on_match(pid: int, _from: int, _to: int, _flags: int, _ctx: Any) -> None:
            hit.add(pattern_rule[pid])

        self._db.scan(text.encode("ascii", "replace"), match_event_handler=on_match, scratch=self._scratch)
        return sorted(hit)

    def find(self, text: str) -> list[Span]:
        spans: list[Span] = []
        for i in self.candidate_rules(text):
            rule = self.rules[i]
            for start, end, secret in rule.candidates(text, self.allowlist):
                extra: dict[str, Any] = {"rule_source": Path(rule.source.removeprefix("rule file ")).name}
                if rule.entropy is not None:
                    extra["entropy"] = round(shannon_entropy(secret), 3)
                spans.append(Span(rule.entity, start, end, rule.score, NAME, rule.id, extra))
        return resolve_overlaps(spans, {r.id for r in self.rules if r.generic})


def _hs_flags(rule: Rule, prefilter: bool = True) -> int:
    import hyperscan

    f = hyperscan.HS_FLAG_SINGLEMATCH | (hyperscan.HS_FLAG_CASELESS if rule.ignore_case else 0)
    return f | (hyperscan.HS_FLAG_PREFILTER | hyperscan.HS_FLAG_ALLOWEMPTY if prefilter else 0)


@lru_cache(maxsize=16)
def _compile_database(rules: tuple[Rule, ...]) -> tuple[Any, list[int], list[int]]:
    """One hyperscan block-mode database over `rules`: (db, pattern id -> rule index, always-run rules).

    Each rule's regex is compiled in prefilter mode; a rule hyperscan rejects contributes its
    keywords as literals instead, and a rule with neither is returned in always-run.
    """
    import hyperscan

    def entries(i: int, rule: Rule, check: bool) -> list[tuple[bytes, int]]:
        expr = rule.pattern.encode("ascii", "replace")
        if check:
            try:
                hyperscan.Database().compile(expressions=[expr], flags=[_hs_flags(rule)])
            except hyperscan.HyperscanError as e:
                log.info("secrets rule %s: hyperscan cannot prefilter its regex (%s); using its keywords", rule.id, e)
                return [(re.escape(kw).encode("ascii", "replace"), _hs_flags(rule, prefilter=False)) for kw in rule.keywords]
        return [(expr, _hs_flags(rule))]

    def build(check: bool):
        exprs, flags, owner, always = [], [], [], []
        for i, rule in enumerate(rules):
            got = entries(i, rule, check)
            if not got:
                log.warning("secrets rule %s has no hyperscan-compatible regex and no keywords: it runs on every text", rule.id)
                always.append(i)
            for expr, f in got:
                exprs.append(expr)
                flags.append(f)
                owner.append(i)
        db = None
        if exprs:
            db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            db.compile(expressions=exprs, ids=list(range(len(exprs))), flags=flags)
        return db, owner, always

    try:
        return build(check=False)  # the common case: every regex prefilters
    except hyperscan.HyperscanError:
        return build(check=True)


def resolve_overlaps(spans: list[Span], generic_rules: set[str]) -> list[Span]:
    """Drop generic findings that overlap a specific one, and same-entity duplicates.

    A span of a generic rule (e.g. `password = "..."`) overlapping a span of a specific rule
    (the value is a GitHub token) is dropped; of overlapping spans with the same entity type
    the longest is kept. Spans of different specific entities are all kept.
    """
    if len(spans) < 2:
        return sorted(spans, key=lambda s: (s.start, s.end, s.entity_type))
    specific = [s for s in spans if s.rule not in generic_rules]
    generic = [s for s in spans if s.rule in generic_rules]
    kept = [g for g in generic if not any(s.start < g.end and g.start < s.end for s in specific)]
    candidates = sorted(specific + kept, key=lambda s: (-(s.end - s.start), s.start, s.rule))
    out: list[Span] = []
    for s in candidates:
        if any(o.entity_type == s.entity_type and o.start < s.end and s.start < o.end for o in out):
            continue
        out.append(s)
    return sorted(out, key=lambda s: (s.start, s.end, s.entity_type))


@lru_cache(maxsize=16)
def _load_files(files: tuple[tuple[str, float], ...]) -> tuple[tuple[Rule, ...], tuple[re.Pattern[str], ...]]:
    rules: list[Rule] = []
    allow: list[re.Pattern[str]] = []
    seen: dict[str, str] = {}
    for path, _mtime in files:
        r, a = load_rule_file(path)
        for rule in r:
            if rule.id in seen:
                raise RuleFileError(f"rule file {path}: rule {rule.id!r}: duplicate id (already defined in {seen[rule.id]})")
            seen[rule.id] = path
        rules.extend(r)
        allow.extend(a)
    return tuple(rules), tuple(allow)


def _file_key(path: Path) -> tuple[str, float]:
    try:
        return str(path), path.stat().st_mtime
    except OSError:
        return str(path), 0.0


def load_rules(rule_files: Sequence[str] = (), builtin: bool = True) -> tuple[list[Rule], list[re.Pattern[str]]]:
    """Load the built-in rules (unless `builtin` is false) plus the given rule files."""
    paths = ([BUILTIN_RULES] if builtin else []) + [resolve_rule_file(f) for f in rule_files]
    rules, allow = _load_files(tuple(_file_key(p) for p in paths))
    return list(rules), list(allow)


# ---- the detector -----------------------------------------------------------------------


class SecretsConfig(Strict):
    rule_files: list[str] = Field(
        default_factory=list, description="extra YAML rule files (same format as configs/secrets-rules.yaml)"
    )
    builtin_rules: bool = Field(True, description="load the built-in rules (configs/secrets-rules.yaml)")
    rules: list[str] | Literal["all"] = Field(
        "all", description="rule ids or entity types to run (default: all loaded rules)"
    )
    disabled: list[str] = Field(default_factory=list, description="rule ids or entity types to skip")
    min_score: float = Field(0.0, ge=0, le=1, description="drop findings whose rule score is below this")

    @model_validator(mode="after")
    def _check_rules(self) -> "SecretsConfig":
        # Raises RuleFileError (a ConfigError: one line naming the file and rule) for bad files.
        rules, _ = load_rules(self.rule_files, self.builtin_rules)
        if not rules:
            raise ValueError("no rules loaded (builtin_rules is false and no rule_files given)")
        names = {r.id for r in rules} | {r.entity for r in rules}
        for key, wanted in (("rules", [] if self.rules == "all" else self.rules), ("disabled", self.disabled)):
            unknown = [w for w in wanted if w not in names]
            if unknown:
                raise ValueError(f"{key}: unknown rule id or entity {', '.join(unknown)}")
        if not select_rules(rules, self):
            raise ValueError("every rule is disabled")
        return self


def select_rules(rules: list[Rule], config: SecretsConfig) -> list[Rule]:
    wanted = None if config.rules == "all" else set(config.rules)
    off = set(config.disabled)
    return [
        r for r in rules
        if (wanted is None or r.id in wanted or r.entity in wanted)
        and r.id not in off and r.entity not in off and r.score >= config.min_score
    ]


class SecretsDetector:
    """Detector `secrets`: YAML rules, one hyperscan prefilter pass, Python `re` confirmation."""

    name = NAME
    Config = SecretsConfig

    def __init__(self, config: SecretsConfig | None = None):
        self.config = config or SecretsConfig()
        rules, allow = load_rules(self.config.rule_files, self.config.builtin_rules)
        self.ruleset = RuleSet(select_rules(rules, self.config), allow)

    @property
    def rules(self) -> list[Rule]:
        return self.ruleset.rules

    def entities(self) -> list[str]:
        return sorted({r.entity for r in self.rules})

    def __call__(self, texts: Sequence[str]) -> list[list[Span]]:
        find = self.ruleset.find
        return [find(t) if t else [] for t in texts]

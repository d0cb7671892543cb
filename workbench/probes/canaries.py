"""Canaries (Carlini et al. 2019, "The Secret Sharer"): make them, plant them, measure their exposure.

A canary format is text with randomness placeholders, e.g. ``"my account number is {9 digits}"``.
Placeholders: ``{N digits}`` (0-9), ``{N letters}`` (a-z), ``{N hex}`` (0-9a-f), ``{N alnum}``
(0-9a-z). The randomness space R of a format is every way to fill its placeholders
(``|R| = 10**9`` for nine digits).

Exposure of a canary c (log-perplexity = total negative log-likelihood of the text):

    exposure(c) = log2 |R| - log2 rank(c)

where rank(c) is 1 + the number of candidates r in R with a strictly lower log-perplexity than c.
When |R| is small enough every candidate is scored (``method = "exact"``). Otherwise a uniform
sample of R is scored, a skew-normal (``scipy.stats.skewnorm``) is fitted to the sample's
log-perplexities and ``exposure = -log2 F(ppl(c))`` with F the fitted CDF (``method =
"skewnorm"``), capped at log2 |R| (rank >= 1).
"""

from __future__ import annotations

import itertools
import math
import random
import re
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np

ALPHABETS = {
    "digits": "0123456789",
    "letters": "abcdefghijklmnopqrstuvwxyz",
    "hex": "0123456789abcdef",
    "alnum": "0123456789abcdefghijklmnopqrstuvwxyz",
}
_PLACEHOLDER = re.compile(r"\{(\d+) (" + "|".join(ALPHABETS) + r")\}")

MANIFEST_VERSION = 1


class CanaryError(ValueError):
    """A bad canary format or manifest (a user error)."""


@dataclass(frozen=True)
class CanaryFormat:
    """A parsed format: literal pieces between placeholders, and each placeholder's alphabet/length."""

    template: str
    literals: tuple[str, ...]  # len(slots) + 1 pieces
    slots: tuple[tuple[str, int], ...]  # (alphabet name, length)

    @classmethod
    def parse(cls, template: str) -> "CanaryFormat":
        literals, slots, pos = [], [], 0
        for m in _PLACEHOLDER.finditer(template):
            n = int(m.group(1))
            if n < 1 or n > 64:
                raise CanaryError(f"placeholder {m.group(0)!r}: length must be 1..64")
            literals.append(template[pos : m.start()])
            slots.append((m.group(2), n))
            pos = m.end()
        literals.append(template[pos:])
        if not slots:
            kinds = ", ".join("{N " + k + "}" for k in ALPHABETS)
            raise CanaryError(f"canary format {template!r} has no placeholder (use one of {kinds})")
        if any("{" in lit or "}" in lit for lit in literals):
            raise CanaryError(f"canary format {template!r} has an unknown placeholder")
        return cls(template, tuple(literals), tuple(slots))

    @property
    def prefix(self) -> str:
        """The literal text before the first placeholder."""
        return self.literals[0]

    def positions(self) -> list[str]:
        """The alphabet of every random character position."""
        return [ALPHABETS[a] for a, n in self.slots for _ in range(n)]

    @property
    def log2_space(self) -> float:
        return float(sum(math.log2(len(alpha)) for alpha in self.positions()))

    @property
    def space_size(self) -> int:
        return math.prod(len(alpha) for alpha in self.positions())

    def fill(self, secret: str) -> str:
        """The canary text for `secret` (the concatenation of all random characters)."""
        out, i = [self.literals[0]], 0
        for (alpha, n), lit in zip(self.slots, self.literals[1:]):
            out.append(secret[i : i + n])
            out.append(lit)
            i += n
        return "".join(out)

    def random_secret(self, rng: random.Random) -> str:
        return "".join(rng.choice(alpha) for alpha in self.positions())

    def enumerate_secrets(self):
        for chars in itertools.product(*self.positions()):
            yield "".join(chars)


@dataclass
class Canary:
    id: str
    format: str
    secret: str
    text: str
    repeats: int  # 0 = held out (generated, never planted): the control
    log2_space: float


@dataclass
class CanarySet:
    canaries: list[Canary]
    seed: int
    formats: list[str]
    repeats: list[int]
    per_repeat: int
    holdout: int
    version: int = MANIFEST_VERSION
    extra: dict = field(default_factory=dict)

    def to_manifest(self) -> dict:
        return {
            "version": self.version,
            "seed": self.seed,
            "formats": self.formats,
            "repeats": self.repeats,
            "per_repeat": self.per_repeat,
            "holdout": self.holdout,
            "canaries": [asdict(c) for c in self.canaries],
            "extra": self.extra,
        }

    @classmethod
    def from_manifest(cls, m: dict) -> "CanarySet":
        try:
            if int(m.get("version", 0)) != MANIFEST_VERSION:
                raise CanaryError(f"unsupported canary manifest version {m.get('version')!r}")
            canaries = [Canary(**c) for c in m["canaries"]]
            return cls(canaries, int(m["seed"]), list(m["formats"]), list(m["repeats"]),
                       int(m["per_repeat"]), int(m["holdout"]), extra=dict(m.get("extra") or {}))
        except (KeyError, TypeError) as e:
            raise CanaryError(f"not a canary manifest (missing or bad field: {e})") from None

    def planting_lines(self, shuffle_seed: int | None = None) -> list[dict]:
        """One JSON object per planted copy (held-out canaries are never planted)."""
        lines = [
            {"id": f"{c.id}#{i}", "canary_id": c.id, "text": c.text}
            for c in self.canaries
            for i in range(c.repeats)
        ]
        if shuffle_seed is not None:
            random.Random(shuffle_seed).shuffle(lines)
        return lines


def make_canaries(
    formats: Sequence[str],
    repeats: Sequence[int] = (1, 4, 16, 64),
    per_repeat: int = 1,
    holdout: int = 1,
    seed: int = 0,
) -> CanarySet:
    """For each format: `per_repeat` canaries at every repeat count, plus `holdout` never planted.

    Secrets are drawn with `random.Random(seed)` and are distinct within a format.
    """
    if not formats:
        raise CanaryError("give at least one canary format")
    if any(r < 1 for r in repeats):
        raise CanaryError("repeat counts must be >= 1 (held-out canaries are set with holdout)")
    if per_repeat < 1 or holdout < 0:
        raise CanaryError("per_repeat must be >= 1 and holdout >= 0")
    rng = random.Random(seed)
    canaries: list[Canary] = []
    for fi, template in enumerate(formats):
        fmt = CanaryFormat.parse(template)
        plan = [r for r in repeats for _ in range(per_repeat)] + [0] * holdout
        if len(plan) > fmt.space_size:
            raise CanaryError(f"format {template!r} has only {fmt.space_size} possible values")
        used: set[str] = set()
        for j, r in enumerate(plan):
            secret = fmt.random_secret(rng)
            while secret in used:
                secret = fmt.random_secret(rng)
            used.add(secret)
            canaries.append(Canary(f"canary-f{fi}-{j:03d}-r{r}", template, secret, fmt.fill(secret), r,
                                   fmt.log2_space))
    return CanarySet(canaries, seed, list(formats), list(repeats), per_repeat, holdout)


# ---- exposure -----------------------------------------------------------------------------------


@dataclass
class Exposure:
    canary_id: str
    exposure: float
    method: str  # "exact" | "skewnorm"
    rank: float  # exact rank, or the estimated one (|R| * F)
    n_candidates: int
    log_perplexity: float
    log2_space: float
    fit: dict | None = None  # skew-normal parameters


def exposure_exact(canary_nll: float, candidate_nll: np.ndarray, log2_space: float) -> tuple[float, float]:
    """Rank = 1 + #candidates with strictly lower log-perplexity (the canary itself is among them)."""
    rank = 1 + int(np.sum(candidate_nll < canary_nll))
    return log2_space - math.log2(rank), float(rank)


def exposure_skewnorm(canary_nll: float, sample_nll: np.ndarray, log2_space: float) -> tuple[float, float, dict]:
    from scipy import stats

    a, loc, scale = stats.skewnorm.fit(np.asarray(sample_nll, dtype=np.float64))
    logcdf = float(stats.skewnorm.logcdf(canary_nll, a, loc=loc, scale=scale))
    exposure = min(log2_space, -logcdf / math.log(2)) if math.isfinite(logcdf) else log2_space
    exposure = max(exposure, 0.0)
    rank = 2.0 ** (log2_space - exposure)
    return exposure, rank, {"a": float(a), "loc": float(loc), "scale": float(scale), "logcdf": logcdf}


def compute_exposure(
    canaries: Sequence[Canary],
    nll: Callable[[list[str]], np.ndarray],
    max_enumerate: int = 100_000,
    n_samples: int = 2_000,
    seed: int = 0,
    batch: int = 512,
) -> list[Exposure]:
    """Exposure of every canary. `nll(texts)` returns each text's total negative log-likelihood.

    Canaries of one format share the candidate scores (the randomness space is the format's).
    """
    out: list[Exposure] = []
    by_format: dict[str, list[Canary]] = {}
    for c in canaries:
        by_format.setdefault(c.format, []).append(c)
    for template, group in by_format.items():
        fmt = CanaryFormat.parse(template)
        own = np.asarray(nll([c.text for c in group]), dtype=np.float64)
        if fmt.space_size <= max_enumerate:
            scores = []
            it = fmt.enumerate_secrets()
            while True:
                chunk = list(itertools.islice(it, batch))
                if not chunk:
                    break
                scores.append(np.asarray(nll([fmt.fill(s) for s in chunk]), dtype=np.float64))
            cand = np.concatenate(scores)
            for c, v in zip(group, own):
                e, rank = exposure_exact(v, cand, fmt.log2_space)
                out.append(Exposure(c.id, e, "exact", rank, len(cand), float(v), fmt.log2_space))
        else:
            rng = random.Random(f"{seed}:{template}")
            secrets = {c.secret for c in group}
            sample = []
            while len(sample) < n_samples:
                s = fmt.random_secret(rng)
                if s not in secrets:  # sample R minus the canaries themselves
                    sample.append(s)
            cand = np.concatenate([
                np.asarray(nll([fmt.fill(s) for s in sample[i : i + batch]]), dtype=np.float64)
                for i in range(0, len(sample), batch)
            ])
            for c, v in zip(group, own):
                e, rank, fit = exposure_skewnorm(v, cand, fmt.log2_space)
                out.append(Exposure(c.id, e, "skewnorm", rank, len(cand), float(v), fmt.log2_space, fit))
    order = {c.id: i for i, c in enumerate(canaries)}
    out.sort(key=lambda e: order[e.canary_id])
    return out

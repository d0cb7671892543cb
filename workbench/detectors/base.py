"""What every detector shares: the Span it returns and the batch-call protocol.

A detector is a plain object: built once from its configuration (models load in the
constructor), then called on a batch of texts; it returns, for each text, a list of Spans.
It never sees record ids, files or the store: the pipeline attaches those.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence


@dataclass(frozen=True)
class Span:
    """One detected span in a text: character offsets [start, end) (Python string indices)."""

    entity_type: str
    start: int
    end: int
    score: float
    detector: str
    rule: str = ""
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


_new = object.__new__
_set = object.__setattr__


def make_span(
    entity_type: str, start: int, end: int, score: float, detector: str, rule: str, extra: dict[str, Any]
) -> Span:
    """`Span(entity_type, start, end, score, detector, rule, extra)`, the same object, built in
    half the time: the frozen dataclass's `__init__` sets each field through
    `object.__setattr__`; this sets the instance dict at once. For detectors that return tens
    of thousands of spans per batch (the fast pattern engine)."""
    span = _new(Span)
    _set(
        span,
        "__dict__",
        {
            "entity_type": entity_type,
            "start": start,
            "end": end,
            "score": score,
            "detector": detector,
            "rule": rule,
            "extra": extra,
        },
    )
    return span


class Detector(Protocol):
    name: str

    def __call__(self, texts: Sequence[str]) -> list[list[Span]]: ...


def windows(n: int, size: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Split [0, n) (characters or tokens) into windows [ws, we) of at most `size`, overlapping by `overlap`.

    Returns (ws, we, own_start, own_end). The own ranges partition [0, n): a span (or a token's
    prediction) is taken from the window that owns its start, where it has at least overlap//2
    units of context on each side (except at the ends of the text). n == 0 gives no windows.
    """
    if n <= 0:
        return []
    if size <= 0:
        raise ValueError("window size must be positive")
    overlap = max(0, min(overlap, size - 1))
    if n <= size:
        return [(0, n, 0, n)]
    step = size - overlap
    out = []
    ws = 0
    while True:
        we = min(n, ws + size)
        last = we == n
        own_start = 0 if ws == 0 else out[-1][3]
        own_end = n if last else we - overlap // 2
        out.append((ws, we, own_start, own_end))
        if last:
            return out
        ws += step


# ------------------------------------------------------------ texts every detector can take


_SURROGATE = re.compile("[\ud800-\udfff]")


def scannable(texts: Sequence[str]) -> list[str]:
    """Texts with lone surrogates (valid JSON such as "\\ud800" decodes to one) replaced by
    U+FFFD, one code point for one, so offsets stay the same. spaCy, Hyperscan and every
    UTF-8 encoder reject them: unreplaced, one such record would fail its whole batch."""
    return [t if t.isascii() or not _SURROGATE.search(t) else _SURROGATE.sub("\ufffd", t) for t in texts]


# ------------------------------------------------------------ compiled artefacts kept on disk


def cache_dir(kind: str) -> Path:
    """Where detectors keep what they compile once per machine (`kind`: "hyperscan",
    "digitdfa"): `$WORKBENCH_CACHE/<kind>`, default ~/.cache/workbench/<kind>. Files there are
    only ever read as data (no pickle), and a missing or unwritable directory only means
    compiling again."""
    return Path(os.environ.get("WORKBENCH_CACHE") or Path.home() / ".cache" / "workbench") / kind

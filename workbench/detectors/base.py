"""What every detector shares: the Span it returns and the batch-call protocol.

A detector is a plain object: built once from its configuration (models load in the
constructor), then called on a batch of texts; it returns, for each text, a list of Spans.
It never sees record ids, files or the store: the pipeline attaches those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


class Detector(Protocol):
    name: str

    def __call__(self, texts: Sequence[str]) -> list[list[Span]]: ...

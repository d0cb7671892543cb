"""A simple JSONL reader for probe samples: one {"id", "text", "label"?} object per line.

Lines are addressed by their 0-based index so a shard is a line range; a bad line becomes an error
sample (it never stops the shard). The corpus readers may replace this later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

LABELS = ("member", "non-member")


@dataclass
class Sample:
    id: str
    text: str
    label: str | None = None
    error: str | None = None


def count_lines(path: str | Path) -> int:
    n = 0
    with open(path, "rb") as f:
        for _ in f:
            n += 1
    return n


def read_samples(path: str | Path, start: int = 0, stop: int | None = None) -> list[Sample]:
    path = Path(path)
    out: list[Sample] = []
    with open(path, "rb") as f:
        for i, raw in enumerate(f):
            if i < start:
                continue
            if stop is not None and i >= stop:
                break
            default_id = f"{path.name}:{i}"
            if not raw.strip():
                out.append(Sample(default_id, "", error="empty line"))
                continue
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                out.append(Sample(default_id, "", error="not valid JSON"))
                continue
            if not isinstance(obj, dict):
                out.append(Sample(default_id, "", error="not a JSON object"))
                continue
            sid = str(obj.get("id", default_id))
            text, label = obj.get("text"), obj.get("label")
            if not isinstance(text, str) or not text:
                out.append(Sample(sid, "", error="missing or empty 'text'"))
                continue
            if label is not None and label not in LABELS:
                out.append(Sample(sid, text, None, error=f"label must be one of {LABELS}"))
                continue
            out.append(Sample(sid, text, label))
    return out

"""Field paths: which text fields of a record to scan.

Grammar: segments separated by dots; a segment is a key, optionally followed by `[]` (every
element of a list) or `[N]` (element N). Examples:

- `text`                 top-level key
- `meta.summary`         nested key
- `messages[].content`   chat logs: one field per message, named `messages[0].content`, ...

`extract(record, path)` returns one `FieldValue` per concrete field; a missing key, a null or
a non-string value is reported as a problem with a reason that never quotes the content.
Missing and null fields are flagged `missing` (records of mixed shapes are normal: a record is
an error only when none of the requested fields is there); a value of the wrong type is not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_SEGMENT = re.compile(r"^(?P<key>[^\[\]]+)(?:\[(?P<index>\d*)\])?$")


class FieldPathError(ValueError):
    pass


@dataclass(frozen=True)
class Segment:
    key: str
    index: int | None  # element N
    each: bool  # []


@dataclass(frozen=True)
class FieldValue:
    name: str  # concrete field name, e.g. messages[2].content
    text: str | None
    problem: str | None = None  # why there is no text
    missing: bool = False  # absent or null (as opposed to present with a wrong type)


def parse_path(path: str) -> tuple[Segment, ...]:
    if not path or path.strip() != path:
        raise FieldPathError(f"invalid field path {path!r}")
    segs = []
    for part in path.split("."):
        m = _SEGMENT.match(part)
        if not m:
            raise FieldPathError(
                f"invalid field path {path!r}: segment {part!r} (use key, key[] or key[N], joined by dots)"
            )
        idx = m.group("index")
        segs.append(
            Segment(
                m.group("key"),
                int(idx) if idx not in (None, "") else None,
                idx == "",
            )
        )
    return tuple(segs)


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, (list, tuple)):
        return "list"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def extract(record: Any, path: str | tuple[Segment, ...]) -> list[FieldValue]:
    segs = parse_path(path) if isinstance(path, str) else path
    out: list[FieldValue] = []

    def walk(node: Any, i: int, name: str) -> None:
        if i == len(segs):
            if isinstance(node, str):
                out.append(FieldValue(name, node))
            elif node is None:
                out.append(FieldValue(name, None, f"field {name!r} is null", missing=True))
            else:
                out.append(FieldValue(name, None, f"field {name!r} is {_type_name(node)}, expected a string"))
            return
        seg = segs[i]
        sub = f"{name}.{seg.key}" if name else seg.key
        if not isinstance(node, dict):
            out.append(FieldValue(sub, None, f"field {name or '(record)'!r} is {_type_name(node)}, expected an object"))
            return
        if seg.key not in node:
            out.append(FieldValue(sub, None, f"missing field {sub!r}", missing=True))
            return
        child = node[seg.key]
        if child is None:
            out.append(FieldValue(sub, None, f"field {sub!r} is null", missing=True))
            return
        if seg.each or seg.index is not None:
            if not isinstance(child, list):
                out.append(FieldValue(sub, None, f"field {sub!r} is {_type_name(child)}, expected a list"))
                return
            if seg.each:
                for j, el in enumerate(child):
                    walk(el, i + 1, f"{sub}[{j}]")
            elif seg.index < len(child):
                walk(child[seg.index], i + 1, f"{sub}[{seg.index}]")
            else:
                out.append(FieldValue(f"{sub}[{seg.index}]", None, f"field {sub!r} has no element {seg.index}"))
            return
        walk(child, i + 1, sub)

    walk(record, 0, "")
    return out


def set_value(record: Any, name: str, value: str) -> None:
    """Set a concrete field (as named by `extract`, e.g. `messages[2].content`) in place."""
    segs = parse_path(name)
    node = record
    for k, seg in enumerate(segs):
        last = k == len(segs) - 1
        if seg.index is not None:
            node = node[seg.key]
            if last:
                node[seg.index] = value
                return
            node = node[seg.index]
        else:
            if last:
                node[seg.key] = value
                return
            node = node[seg.key]

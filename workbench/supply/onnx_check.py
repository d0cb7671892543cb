"""ONNX: a minimal protobuf wire-format walk (no `onnx` package needed) that finds every
TensorProto's `external_data` entries and checks that `location` stays inside the model's
directory: no absolute paths, no `..`, no symlink that resolves outside.

Walked messages (field numbers from onnx.proto3): ModelProto.graph=7, .functions=25;
GraphProto.node=1, .initializer=5, .sparse_initializer=15; NodeProto.attribute=5;
AttributeProto.t=5, .g=6, .tensors=10, .graphs=11, .sparse_tensor=22, .sparse_tensors=23;
SparseTensorProto.values=1, .indices=2; FunctionProto.node=7; TensorProto.name=8,
.external_data=13 (StringStringEntryProto key=1 value=2), .data_location=14.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from workbench.supply.issues import MALFORMED_HEADER, PATH_TRAVERSAL, Issue

_CHILDREN = {
    "model": {7: "graph", 25: "function"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "function": {7: "node"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
}
MAX_DEPTH = 64


class _Bad(Exception):
    def __init__(self, detail: str, pos: int):
        super().__init__(detail)
        self.pos = pos


def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    shift = v = 0
    while True:
        if pos >= end or shift > 63:
            raise _Bad("truncated or overlong varint", pos)
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v, pos
        shift += 7


def _fields(buf, start: int, end: int):
    """Yield (field number, wire type, value or (start, end) for length-delimited)."""
    pos = start
    while pos < end:
        tag, pos = _varint(buf, pos, end)
        field, wt = tag >> 3, tag & 7
        if field == 0:
            raise _Bad("field number 0", pos)
        if wt == 0:
            v, pos = _varint(buf, pos, end)
            yield field, wt, v
        elif wt == 1:
            if pos + 8 > end:
                raise _Bad("truncated fixed64", pos)
            pos += 8
        elif wt == 5:
            if pos + 4 > end:
                raise _Bad("truncated fixed32", pos)
            pos += 4
        elif wt == 2:
            n, pos = _varint(buf, pos, end)
            if pos + n > end:
                raise _Bad(f"length {n} runs past its message", pos)
            yield field, wt, (pos, pos + n)
            pos += n
        else:
            raise _Bad(f"unsupported wire type {wt}", pos)


def looks_like_onnx(buf, size: int) -> bool:
    """ModelProto starts with ir_version (field 1, varint) in files written by onnx."""
    try:
        for field, wt, _ in _fields(buf, 0, min(size, 64)):
            return field == 1 and wt == 0
    except _Bad:
        return False
    return False


def external_locations(buf, size: int) -> list[tuple[str, str, int]]:
    """(tensor name, location, offset of the entry) for every external_data location."""
    out: list[tuple[str, str, int]] = []
    stack = [("model", 0, size, 0)]
    while stack:
        kind, start, end, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _Bad("messages nested too deep", start)
        if kind == "tensor":
            name = ""
            locs: list[tuple[str, int]] = []
            for field, wt, v in _fields(buf, start, end):
                if field == 8 and wt == 2:
                    name = bytes(buf[v[0] : v[1]]).decode("utf-8", "replace")
                elif field == 13 and wt == 2:
                    key = val = None
                    for f2, w2, v2 in _fields(buf, v[0], v[1]):
                        if w2 == 2 and f2 in (1, 2):
                            s = bytes(buf[v2[0] : v2[1]]).decode("utf-8", "surrogateescape")
                            if f2 == 1:
                                key = s
                            else:
                                val = s
                    if key == "location" and val is not None:
                        locs.append((val, v[0]))
            out += [(name, loc, off) for loc, off in locs]
            continue
        children = _CHILDREN.get(kind, {})
        for field, wt, v in _fields(buf, start, end):
            if wt == 2 and field in children:
                stack.append((children[field], v[0], v[1], depth + 1))
    return out


def location_problem(location: str, model_dir: Path | None) -> str | None:
    if not location:
        return "empty location"
    if "\x00" in location:
        return "NUL byte in location"
    if location.startswith(("/", "\\")) or PureWindowsPath(location).drive or PureWindowsPath(location).is_absolute():
        return "absolute path"
    parts = PurePosixPath(location.replace("\\", "/")).parts
    if ".." in parts:
        return "'..' component"
    if model_dir is not None:
        target = model_dir / location
        try:
            real = Path(os.path.realpath(target))
            base = Path(os.path.realpath(model_dir))
        except OSError:
            return None
        if real != base and base not in real.parents:
            return "resolves outside the model directory (symlink)"
    return None


def check_onnx(buf, size: int, member: str, model_dir: Path | None) -> tuple[list[Issue], dict]:
    issues: list[Issue] = []
    info: dict = {"external_data": 0}
    try:
        locs = external_locations(buf, size)
    except _Bad as b:
        issues.append(Issue(MALFORMED_HEADER, "high", "onnx.protobuf", member, b.pos, b.pos,
                            "onnx.protobuf", f"ONNX protobuf does not parse: {b}"))
        return issues, info
    info["external_data"] = len(locs)
    for name, loc, off in locs:
        why = location_problem(loc, model_dir)
        if why:
            issues.append(Issue(PATH_TRAVERSAL, "critical", "onnx.external_data", member, off, off,
                                loc, f"tensor {name!r} external_data location {loc!r}: {why}",
                                {"tensor": name, "location": loc}))
    return issues, info

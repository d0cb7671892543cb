"""safetensors header validation, exactly as the format requires and a little stricter.

Layout: 8-byte little-endian header size N, N bytes of UTF-8 JSON starting with `{`, then the byte
buffer. Every tensor's `data_offsets` must tile the buffer from 0 to its end with no gap and no
overlap, and match `shape` x dtype size. Duplicate JSON keys are rejected here although the
reference loader (serde) silently keeps the last one: two tools could then read different tensors.
"""

from __future__ import annotations

import json
import struct

from workbench.supply.issues import DUPLICATE_KEY, MALFORMED_HEADER, Issue

DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32,
    "I64": 64, "U64": 64, "F64": 64, "C64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}
_TENSOR_KEYS = {"dtype", "shape", "data_offsets"}
_U64_MAX = (1 << 64) - 1


def looks_like_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 9:
        return False
    n = struct.unpack_from("<Q", head)[0]
    return 2 <= n <= size - 8 and head[8:9] == b"{"


def check_safetensors(buf, size: int, member: str, max_header: int = 100_000_000) -> tuple[list[Issue], dict]:
    issues: list[Issue] = []
    info: dict = {"tensors": 0}

    def bad(rule: str, detail: str, start: int = 0, end: int = 0, kind: str = MALFORMED_HEADER,
            value: str = "", severity: str = "high") -> None:
        issues.append(Issue(kind, severity, f"safetensors.{rule}", member, start, end,
                            value or rule, detail))

    if size < 8:
        bad("header_too_small", f"file of {size} bytes has no 8-byte header size")
        return issues, info
    n = struct.unpack_from("<Q", buf, 0)[0]
    if n > max_header:
        bad("header_too_large", f"header size {n} exceeds the {max_header}-byte limit", 0, 8)
        return issues, info
    if 8 + n > size:
        bad("header_incomplete", f"header size {n} runs past the end of the {size}-byte file", 0, 8)
        return issues, info
    raw = bytes(buf[8 : 8 + n])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        bad("header_not_utf8", f"header is not UTF-8 ({e.reason})", 8 + e.start, 8 + e.end)
        return issues, info
    if not text.startswith("{"):
        bad("header_start", "header does not start with '{'", 8, 9)
        return issues, info

    dupes: list[str] = []

    def pairs(items):
        d = {}
        for k, v in items:
            if k in d:
                dupes.append(k)
            d[k] = v
        return d

    try:
        header = json.loads(text, object_pairs_hook=pairs)
    except (json.JSONDecodeError, RecursionError) as e:
        bad("header_json", f"header is not valid JSON: {getattr(e, 'msg', 'too deep')}", 8, 8 + n)
        return issues, info
    for k in dupes:
        bad("duplicate_key", f"key {k!r} appears more than once in the header", 8, 8 + n,
            kind=DUPLICATE_KEY, value=k)
    if not isinstance(header, dict):
        bad("header_type", "header is not a JSON object", 8, 8 + n)
        return issues, info

    meta = header.get("__metadata__")
    if meta is not None and not (
        isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())
    ):
        bad("metadata", "__metadata__ must map strings to strings", 8, 8 + n, severity="medium")

    buffer_len = size - 8 - n
    spans: list[tuple[int, int, str]] = []
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(t, dict):
            bad("tensor_info", f"tensor {name!r} is not an object", 8, 8 + n, value=name)
            continue
        if set(t) != _TENSOR_KEYS:
            bad("tensor_fields", f"tensor {name!r} has fields {sorted(t)}, expected {sorted(_TENSOR_KEYS)}",
                8, 8 + n, value=name)
            continue
        dtype, shape, offs = t["dtype"], t["shape"], t["data_offsets"]
        if dtype not in DTYPE_BITS:
            bad("dtype", f"tensor {name!r} has unknown dtype {dtype!r}", 8, 8 + n, value=name)
            continue
        if not (isinstance(shape, list) and all(type(d) is int and 0 <= d <= _U64_MAX for d in shape)):
            bad("shape", f"tensor {name!r} has an invalid shape", 8, 8 + n, value=name)
            continue
        if not (isinstance(offs, list) and len(offs) == 2
                and all(type(o) is int and 0 <= o <= _U64_MAX for o in offs)):
            bad("data_offsets", f"tensor {name!r} has invalid data_offsets", 8, 8 + n, value=name)
            continue
        begin, end = offs
        if end < begin:
            bad("data_offsets", f"tensor {name!r} ends before it begins", 8, 8 + n, value=name)
            continue
        nbits = DTYPE_BITS[dtype]
        for d in shape:
            nbits *= d
        if nbits > _U64_MAX:
            bad("overflow", f"tensor {name!r}: shape x dtype size overflows 64 bits", 8, 8 + n, value=name)
            continue
        if nbits % 8:
            bad("misaligned", f"tensor {name!r} does not fill whole bytes", 8, 8 + n, value=name)
            continue
        if nbits // 8 != end - begin:
            bad("size_mismatch", f"tensor {name!r}: shape and dtype give {nbits // 8} bytes, "
                f"data_offsets give {end - begin}", 8, 8 + n, value=name)
            continue
        spans.append((begin, end, name))

    info["tensors"] = len(spans)
    spans.sort()
    cursor = 0
    for begin, end, name in spans:
        if begin > cursor:
            bad("gap", f"bytes {cursor}..{begin} of the buffer belong to no tensor (before {name!r})",
                8 + n + cursor, 8 + n + begin, value=name)
        elif begin < cursor:
            bad("overlap", f"tensor {name!r} overlaps the tensor before it", 8 + n + begin,
                8 + n + min(end, cursor), value=name)
        cursor = max(cursor, end)
    if cursor != buffer_len:
        which = "past the end of" if cursor > buffer_len else "short of"
        bad("buffer_coverage", f"tensors end at byte {cursor}, {which} the {buffer_len}-byte buffer",
            8 + n + min(cursor, buffer_len), size)
    return issues, info

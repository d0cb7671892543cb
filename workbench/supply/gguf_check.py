"""GGUF header validation by bounds-checked parsing (little-endian, versions 1-3).

Checks string lengths and array counts against the bytes left, array nesting depth, n_dims,
dimension products (no 64-bit overflow), tensor types, alignment (a power of two), tensor data
offsets (aligned, inside the file, no overlap), duplicate keys and tensor names; and hands every
`tokenizer.chat_template*` string to the chat template check.
"""

from __future__ import annotations

import struct

from workbench.supply import chat_template
from workbench.supply.issues import CHAT_TEMPLATE_CODE, DUPLICATE_KEY, MALFORMED_HEADER, Issue

# ggml type id -> (block size in elements, bytes per block)
GGML_TYPES = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
    9: (32, 40), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210),
    15: (256, 292), 16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18),
    21: (256, 110), 22: (256, 82), 23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4),
    27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2), 34: (256, 54), 35: (256, 66),
    39: (32, 17), 40: (64, 36), 41: (128, 18),
}
# value type -> fixed size (strings = 8, arrays = 9 are variable)
_SCALARS = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_FMT = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_I64_MAX = (1 << 63) - 1


class _Bad(Exception):
    def __init__(self, rule: str, detail: str, pos: int):
        super().__init__(detail)
        self.rule, self.detail, self.pos = rule, detail, pos


class _Reader:
    def __init__(self, buf, size: int, version: int, max_string: int):
        self.buf, self.size, self.pos = buf, size, 0
        self.wide = version >= 2  # v1 used 32-bit lengths and counts
        self.max_string = max_string

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise _Bad("out_of_bounds", f"{what} of {n} bytes runs past the end of the file", self.pos)

    def u32(self) -> int:
        self.need(4, "u32")
        v = struct.unpack_from("<I", self.buf, self.pos)[0]
        self.pos += 4
        return v

    def u64(self) -> int:
        self.need(8, "u64")
        v = struct.unpack_from("<Q", self.buf, self.pos)[0]
        self.pos += 8
        return v

    def count(self) -> int:
        return self.u64() if self.wide else self.u32()

    def string(self, what: str, keep: bool = False) -> str | None:
        at = self.pos
        n = self.count()
        if n > self.max_string:
            raise _Bad("string_length", f"{what} length {n} exceeds the {self.max_string}-byte limit", at)
        self.need(n, what)
        s = bytes(self.buf[self.pos : self.pos + n]).decode("utf-8", "replace") if keep else None
        self.pos += n
        return s


def check_gguf(buf, size: int, member: str, max_string: int = 64 << 20, max_depth: int = 1,
               max_dims: int = 4) -> tuple[list[Issue], dict]:
    issues: list[Issue] = []
    info: dict = {"tensors": 0, "kv": 0}

    def bad(rule: str, detail: str, start: int, end: int = 0, kind: str = MALFORMED_HEADER,
            value: str = "", severity: str = "high") -> None:
        issues.append(Issue(kind, severity, f"gguf.{rule}", member, start, end or start, value or rule, detail))

    if size < 24 or bytes(buf[0:4]) != b"GGUF":
        bad("magic", "not a GGUF file (magic or header missing)", 0, 4)
        return issues, info
    version = struct.unpack_from("<I", buf, 4)[0]
    if version not in (1, 2, 3):
        bad("version", f"unsupported GGUF version {version}", 4, 8, value=str(version))
        return issues, info
    r = _Reader(buf, size, version, max_string)
    r.pos = 8
    try:
        n_tensors = r.count()
        n_kv = r.count()
        # every kv needs at least a key length, a type and a 1-byte value; every tensor info
        # at least a name length, n_dims, type and offset
        if n_kv * (8 + 4 + 1) > size - r.pos:
            raise _Bad("kv_count", f"{n_kv} key/value pairs cannot fit in the file", 16)
        if n_tensors * (8 + 4 + 4 + 8) > size - r.pos:
            raise _Bad("tensor_count", f"{n_tensors} tensors cannot fit in the file", 8)
        info["kv"], info["tensors"] = n_kv, n_tensors

        keys: set[str] = set()
        alignment = 32
        for _ in range(n_kv):
            kpos = r.pos
            key = r.string("key", keep=True)
            if key in keys:
                bad("duplicate_key", f"metadata key {key!r} appears twice", kpos, r.pos,
                    kind=DUPLICATE_KEY, value=key)
            keys.add(key)
            vtype = r.u32()
            vpos = r.pos
            want = key == "general.alignment" or key.startswith("tokenizer.chat_template")
            value = _value(r, vtype, 0, max_depth, keep=want)
            if key == "general.alignment":
                if vtype != 4 or not isinstance(value, int) or value <= 0 or value & (value - 1):
                    bad("alignment", f"general.alignment must be a u32 power of two, got {value!r}",
                        vpos, r.pos, value=str(value))
                else:
                    alignment = value
            elif key.startswith("tokenizer.chat_template") and isinstance(value, str):
                for f in chat_template.analyze(value):
                    issues.append(Issue(
                        CHAT_TEMPLATE_CODE, f.severity, f"gguf.chat_template:{f.construct}", member,
                        vpos, r.pos, f.construct,
                        f"{key} uses {f.construct!r}: executable template code beyond plain formatting",
                        {"key": key, "template_offset": f.offset}))

        names: set[str] = set()
        tensors: list[tuple[int, int, str, int]] = []
        for _ in range(n_tensors):
            tpos = r.pos
            name = r.string("tensor name", keep=True)
            if name in names:
                bad("duplicate_tensor", f"tensor {name!r} appears twice", tpos, r.pos,
                    kind=DUPLICATE_KEY, value=name)
            names.add(name)
            n_dims = r.u32()
            if n_dims > max_dims:
                raise _Bad("n_dims", f"tensor {name!r} has {n_dims} dimensions (at most {max_dims})", tpos)
            dims = [r.u64() for _ in range(n_dims)]
            ttype = r.u32()
            offset = r.u64()
            n = 1
            for d in dims:
                if d > _I64_MAX or (d and n > _I64_MAX // d):
                    raise _Bad("dims_overflow", f"tensor {name!r}: dimensions {dims} overflow int64", tpos)
                n *= d
            if ttype not in GGML_TYPES:
                bad("tensor_type", f"tensor {name!r} has unknown ggml type {ttype}", tpos, r.pos, value=name)
                continue
            block, bsize = GGML_TYPES[ttype]
            if dims and dims[0] % block:
                bad("block_size", f"tensor {name!r}: first dimension {dims[0]} is not a multiple of "
                    f"the block size {block}", tpos, r.pos, value=name)
                continue
            tensors.append((offset, n // block * bsize, name, tpos))

        data_start = r.pos + (-r.pos % alignment)
        data_len = size - data_start
        if n_tensors and data_len < 0:
            raise _Bad("data_section", "tensor data section starts past the end of the file", r.pos)
        tensors.sort()
        cursor = 0
        for offset, nbytes, name, tpos in tensors:
            if offset % alignment:
                bad("tensor_alignment", f"tensor {name!r} offset {offset} is not aligned to {alignment}",
                    tpos, value=name)
            if offset + nbytes > data_len:
                bad("tensor_bounds", f"tensor {name!r} ({nbytes} bytes at {offset}) runs past the end "
                    "of the file", tpos, value=name)
            if offset < cursor:
                bad("tensor_overlap", f"tensor {name!r} overlaps the tensor before it", tpos, value=name)
            cursor = max(cursor, offset + nbytes)
    except _Bad as b:
        bad(b.rule, b.detail, b.pos)
    return issues, info


def _value(r: _Reader, vtype: int, depth: int, max_depth: int, keep: bool):
    if vtype in _SCALARS:
        n = _SCALARS[vtype]
        r.need(n, "value")
        v = struct.unpack_from(_FMT[vtype], r.buf, r.pos)[0]
        r.pos += n
        return v
    if vtype == 8:
        return r.string("string value", keep=keep)
    if vtype == 9:
        apos = r.pos
        if depth + 1 > max_depth:
            raise _Bad("array_depth", f"arrays nested deeper than {max_depth}", apos)
        etype = r.u32()
        count = r.count()
        if etype == 9:
            min_size = 12
        elif etype == 8:
            min_size = 8 if r.wide else 4
        elif etype in _SCALARS:
            min_size = _SCALARS[etype]
        else:
            raise _Bad("value_type", f"unknown array element type {etype}", apos)
        if count * min_size > r.size - r.pos:
            raise _Bad("array_count", f"array of {count} elements cannot fit in the file", apos)
        if etype in _SCALARS:
            r.pos += count * min_size
            return None
        for _ in range(count):
            _value(r, etype, depth + 1, max_depth, keep=False)
        return None
    raise _Bad("value_type", f"unknown value type {vtype}", r.pos - 4)

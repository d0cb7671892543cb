"""A pickle opcode walker that never unpickles: it reads opcodes, simulates the stack and the memo
symbolically, and reports every global the stream would import.

Robust to broken streams by design: it walks until STOP or until the bytes stop making sense, and
reports what it saw up to that point, because a real unpickler runs every REDUCE before the break.
Handles protocols 0-5, GLOBAL / STACK_GLOBAL / INST / OBJ / NEWOBJ(_EX) / REDUCE, memo
PUT / GET / MEMOIZE indirection, STRING operands, EXT1/2/4, frames, and stacked pickles.
"""

from __future__ import annotations

import codecs
import struct
from dataclasses import dataclass, field
from typing import Any

_U4 = struct.Struct("<I")
_I4 = struct.Struct("<i")
_U2 = struct.Struct("<H")
_U8 = struct.Struct("<Q")
_F8 = struct.Struct(">d")

HIGHEST_PROTOCOL = 5
_BIG = 4096  # string/bytes operands longer than this are kept as a length, not copied


class _Mark:
    __slots__ = ()


class Unknown:
    """A value the walker cannot know (result of a call, a missing memo entry, a big blob)."""

    __slots__ = ("why",)

    def __init__(self, why: str = ""):
        self.why = why


@dataclass
class Global:
    module: str
    name: str
    opcode: str
    pos: int
    end: int

    @property
    def full(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass
class Call:
    func: Any
    args: Any
    opcode: str
    pos: int
    state: Any = None


@dataclass
class Persistent:
    pid: Any


@dataclass
class Event:
    """Something the caller should judge: a missing memo key, an unresolved global, an EXT opcode."""

    kind: str  # 'missing_memo' | 'unresolved_global' | 'extension' | 'big_protocol'
    pos: int
    end: int
    detail: str


@dataclass
class PickleReport:
    start: int
    end: int = 0  # offset after STOP, or of the break
    complete: bool = False  # reached STOP
    error: str | None = None  # why the walk stopped early
    error_pos: int = 0
    protocol: int | None = None
    n_ops: int = 0
    globals: list[Global] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


class _Break(Exception):
    def __init__(self, msg: str, pos: int):
        super().__init__(msg)
        self.pos = pos


def _line(buf, pos: int, stop: int) -> tuple[bytes, int]:
    nl = buf.find(b"\n", pos, stop)
    if nl < 0:
        raise _Break("truncated line operand", pos)
    return bytes(buf[pos:nl]), nl + 1


def _take(buf, pos: int, n: int, stop: int) -> int:
    if n < 0 or pos + n > stop:
        raise _Break(f"operand of {n} bytes runs past the end", pos)
    return pos + n


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _blob(buf, pos: int, n: int, as_text: bool):
    if n > _BIG:
        return Unknown(f"{n}-byte operand")
    raw = bytes(buf[pos : pos + n])
    if as_text:
        return raw.decode("utf-8", "surrogateescape")
    return raw


def walk(buf, start: int = 0, stop: int | None = None, max_ops: int = 50_000_000,
         joblib_arrays: bool = True) -> PickleReport:
    """Walk one pickle starting at `start`. `buf` is bytes, bytearray or mmap (indexable, find)."""
    stop = len(buf) if stop is None else stop
    rep = PickleReport(start=start)
    stack: list[Any] = []
    metastack: list[list[Any]] = []
    memo: dict[int, Any] = {}
    pos = start

    def pop():
        if not stack:
            raise _Break("stack underflow", op_pos)
        return stack.pop()

    def pop_mark() -> list[Any]:
        nonlocal stack
        if not metastack:
            raise _Break("MARK missing", op_pos)
        items = stack
        stack = metastack.pop()
        return items

    def add_global(module: str, name: str, opname: str, end: int) -> Global:
        g = Global(module, name, opname, op_pos, end)
        rep.globals.append(g)
        return g

    def get_memo(key: int, end: int):
        if key in memo:
            return memo[key]
        rep.events.append(Event("missing_memo", op_pos, end, f"GET of memo key {key} that was never PUT"))
        return Unknown("missing memo")

    op_pos = pos
    try:
        while True:
            if pos >= stop:
                raise _Break("stream ends before STOP", pos)
            if rep.n_ops >= max_ops:
                raise _Break(f"more than {max_ops} opcodes", pos)
            op_pos = pos
            op = buf[pos]
            pos += 1
            rep.n_ops += 1

            if op == 0x80:  # PROTO
                pos = _take(buf, pos, 1, stop)
                proto = buf[pos - 1]
                if proto > HIGHEST_PROTOCOL:
                    raise _Break(f"unsupported pickle protocol {proto}", op_pos)
                if rep.protocol is None:
                    rep.protocol = proto
            elif op == 0x95:  # FRAME: 8-byte length, opcodes continue inside
                pos = _take(buf, pos, 8, stop)
            elif op == 0x2E:  # STOP
                rep.complete = True
                rep.end = pos
                return rep
            elif op == 0x28:  # MARK
                metastack.append(stack)
                stack = []
            elif op == 0x30:  # POP
                if stack:
                    stack.pop()
                else:
                    pop_mark()
            elif op == 0x31:  # POP_MARK
                pop_mark()
            elif op == 0x32:  # DUP
                v = pop()
                stack += [v, v]
            # ---- constants
            elif op == 0x4E:  # NONE
                stack.append(None)
            elif op == 0x88:
                stack.append(True)
            elif op == 0x89:
                stack.append(False)
            elif op == 0x49:  # INT (line)
                data, pos = _line(buf, pos, stop)
                if data == b"00":
                    stack.append(False)
                elif data == b"01":
                    stack.append(True)
                else:
                    try:
                        stack.append(int(data, 0 if data.strip().lower().startswith((b"0x",)) else 10))
                    except ValueError:
                        raise _Break("INT operand is not a number", op_pos) from None
            elif op == 0x4C:  # LONG (line)
                data, pos = _line(buf, pos, stop)
                try:
                    stack.append(int(data.rstrip(b"L") or b"x"))
                except ValueError:
                    raise _Break("LONG operand is not a number", op_pos) from None
            elif op == 0x46:  # FLOAT (line)
                data, pos = _line(buf, pos, stop)
                try:
                    stack.append(float(data))
                except ValueError:
                    raise _Break("FLOAT operand is not a number", op_pos) from None
            elif op == 0x4A:  # BININT
                pos = _take(buf, pos, 4, stop)
                stack.append(_I4.unpack_from(buf, pos - 4)[0])
            elif op == 0x4B:  # BININT1
                pos = _take(buf, pos, 1, stop)
                stack.append(buf[pos - 1])
            elif op == 0x4D:  # BININT2
                pos = _take(buf, pos, 2, stop)
                stack.append(_U2.unpack_from(buf, pos - 2)[0])
            elif op == 0x8A:  # LONG1
                pos = _take(buf, pos, 1, stop)
                n = buf[pos - 1]
                pos = _take(buf, pos, n, stop)
                stack.append(int.from_bytes(bytes(buf[pos - n : pos]), "little", signed=True))
            elif op == 0x8B:  # LONG4
                pos = _take(buf, pos, 4, stop)
                n = _I4.unpack_from(buf, pos - 4)[0]
                if n < 0:
                    raise _Break("LONG4 with negative length", op_pos)
                pos = _take(buf, pos, n, stop)
                stack.append(Unknown("long") if n > 64 else int.from_bytes(bytes(buf[pos - n : pos]), "little", signed=True))
            elif op == 0x47:  # BINFLOAT
                pos = _take(buf, pos, 8, stop)
                stack.append(_F8.unpack_from(buf, pos - 8)[0])
            # ---- strings and bytes
            elif op == 0x53:  # STRING: a quoted, escaped line
                data, pos = _line(buf, pos, stop)
                data = data.rstrip(b"\r")
                if len(data) >= 2 and data[0] == data[-1] and data[:1] in (b"'", b'"'):
                    try:
                        stack.append(codecs.escape_decode(data[1:-1])[0].decode("latin-1"))
                    except Exception:
                        raise _Break("STRING operand with a bad escape", op_pos) from None
                else:
                    raise _Break("STRING operand is not quoted", op_pos)
            elif op == 0x56:  # UNICODE (line, raw-unicode-escape)
                data, pos = _line(buf, pos, stop)
                try:
                    stack.append(data.decode("raw-unicode-escape"))
                except UnicodeDecodeError:
                    raise _Break("UNICODE operand does not decode", op_pos) from None
            elif op in (0x54, 0x58, 0x42):  # BINSTRING, BINUNICODE, BINBYTES (4-byte length)
                pos = _take(buf, pos, 4, stop)
                n = (_I4 if op == 0x54 else _U4).unpack_from(buf, pos - 4)[0]
                if n < 0:
                    raise _Break("negative length", op_pos)
                pos = _take(buf, pos, n, stop)
                stack.append(_blob(buf, pos - n, n, as_text=op != 0x42))
            elif op in (0x55, 0x8C, 0x43):  # SHORT_BINSTRING, SHORT_BINUNICODE, SHORT_BINBYTES
                pos = _take(buf, pos, 1, stop)
                n = buf[pos - 1]
                pos = _take(buf, pos, n, stop)
                stack.append(_blob(buf, pos - n, n, as_text=op != 0x43))
            elif op in (0x8D, 0x8E, 0x96):  # BINUNICODE8, BINBYTES8, BYTEARRAY8
                pos = _take(buf, pos, 8, stop)
                n = _U8.unpack_from(buf, pos - 8)[0]
                pos = _take(buf, pos, n, stop)
                stack.append(_blob(buf, pos - n, n, as_text=op == 0x8D))
            elif op in (0x97, 0x98):  # NEXT_BUFFER, READONLY_BUFFER (out-of-band buffers)
                if op == 0x97:
                    stack.append(Unknown("out-of-band buffer"))
                else:
                    pop()
                    stack.append(Unknown("buffer"))
            # ---- containers
            elif op == 0x29:  # EMPTY_TUPLE
                stack.append(())
            elif op == 0x74:  # TUPLE
                items = tuple(pop_mark())  # pop_mark rebinds `stack`: evaluate it first
                stack.append(items)
            elif op in (0x85, 0x86, 0x87):
                k = op - 0x84
                if len(stack) < k:
                    raise _Break("stack underflow", op_pos)
                items = tuple(stack[-k:])
                del stack[-k:]
                stack.append(items)
            elif op == 0x5D:  # EMPTY_LIST
                stack.append([])
            elif op == 0x6C:  # LIST
                items = list(pop_mark())
                stack.append(items)
            elif op == 0x61:  # APPEND
                v = pop()
                target = pop()
                if isinstance(target, list):
                    target.append(v)
                stack.append(target)
            elif op == 0x65:  # APPENDS
                items = pop_mark()
                target = pop()
                if isinstance(target, list):
                    target.extend(items)
                stack.append(target)
            elif op == 0x7D:  # EMPTY_DICT
                stack.append({})
            elif op == 0x64:  # DICT
                items = pop_mark()
                stack.append(_pairs_to_dict({}, items))
            elif op == 0x73:  # SETITEM
                v = pop()
                k = pop()
                target = pop()
                stack.append(_pairs_to_dict(target, [k, v]))
            elif op == 0x75:  # SETITEMS
                items = pop_mark()
                target = pop()
                stack.append(_pairs_to_dict(target, items))
            elif op == 0x8F:  # EMPTY_SET
                stack.append(Unknown("set"))
            elif op == 0x90:  # ADDITEMS
                pop_mark()
                pop()
                stack.append(Unknown("set"))
            elif op == 0x91:  # FROZENSET
                pop_mark()
                stack.append(Unknown("frozenset"))
            # ---- memo
            elif op == 0x70:  # PUT (line)
                data, pos = _line(buf, pos, stop)
                try:
                    key = int(data)
                except ValueError:
                    raise _Break("PUT operand is not a number", op_pos) from None
                if not stack:
                    raise _Break("PUT on an empty stack", op_pos)
                memo[key] = stack[-1]
            elif op == 0x71:  # BINPUT
                pos = _take(buf, pos, 1, stop)
                if not stack:
                    raise _Break("PUT on an empty stack", op_pos)
                memo[buf[pos - 1]] = stack[-1]
            elif op == 0x72:  # LONG_BINPUT
                pos = _take(buf, pos, 4, stop)
                if not stack:
                    raise _Break("PUT on an empty stack", op_pos)
                memo[_U4.unpack_from(buf, pos - 4)[0]] = stack[-1]
            elif op == 0x94:  # MEMOIZE
                if not stack:
                    raise _Break("MEMOIZE on an empty stack", op_pos)
                memo[len(memo)] = stack[-1]
            elif op == 0x67:  # GET (line)
                data, pos = _line(buf, pos, stop)
                try:
                    key = int(data)
                except ValueError:
                    raise _Break("GET operand is not a number", op_pos) from None
                stack.append(get_memo(key, pos))
            elif op == 0x68:  # BINGET
                pos = _take(buf, pos, 1, stop)
                stack.append(get_memo(buf[pos - 1], pos))
            elif op == 0x6A:  # LONG_BINGET
                pos = _take(buf, pos, 4, stop)
                stack.append(get_memo(_U4.unpack_from(buf, pos - 4)[0], pos))
            # ---- globals and calls
            elif op == 0x63:  # GLOBAL: module\nname\n
                mod, pos = _line(buf, pos, stop)
                name, pos = _line(buf, pos, stop)
                stack.append(add_global(_text(mod), _text(name), "GLOBAL", pos))
            elif op == 0x93:  # STACK_GLOBAL
                name = pop()
                mod = pop()
                if isinstance(mod, (str, bytes)) and isinstance(name, (str, bytes)):
                    m = mod if isinstance(mod, str) else mod.decode("latin-1")
                    n = name if isinstance(name, str) else name.decode("latin-1")
                    stack.append(add_global(m, n, "STACK_GLOBAL", pos))
                else:
                    rep.events.append(Event("unresolved_global", op_pos, pos,
                                            "STACK_GLOBAL operands are not literal strings"))
                    stack.append(Unknown("unresolved global"))
            elif op == 0x69:  # INST: module\nname\n, args since MARK, then a call
                mod, pos = _line(buf, pos, stop)
                name, pos = _line(buf, pos, stop)
                g = add_global(_text(mod), _text(name), "INST", pos)
                args = pop_mark()
                c = Call(g, tuple(args), "INST", op_pos)
                rep.calls.append(c)
                stack.append(c)
            elif op == 0x6F:  # OBJ: class and args since MARK
                items = pop_mark()
                if not items:
                    raise _Break("OBJ without a class", op_pos)
                c = Call(items[0], tuple(items[1:]), "OBJ", op_pos)
                rep.calls.append(c)
                stack.append(c)
            elif op == 0x52:  # REDUCE
                args = pop()
                func = pop()
                c = Call(func, args, "REDUCE", op_pos)
                rep.calls.append(c)
                stack.append(c)
            elif op == 0x81:  # NEWOBJ
                args = pop()
                cls = pop()
                c = Call(cls, args, "NEWOBJ", op_pos)
                rep.calls.append(c)
                stack.append(c)
            elif op == 0x92:  # NEWOBJ_EX
                kwargs = pop()
                args = pop()
                cls = pop()
                c = Call(cls, (args, kwargs), "NEWOBJ_EX", op_pos)
                rep.calls.append(c)
                stack.append(c)
            elif op == 0x62:  # BUILD
                state = pop()
                if not stack:
                    raise _Break("stack underflow", op_pos)
                obj = stack[-1]
                if isinstance(obj, Call):
                    obj.state = state
                    if joblib_arrays and _is_joblib_wrapper(obj):
                        pos = _skip_joblib_array(buf, pos, stop, obj, rep, max_ops)
            elif op in (0x82, 0x83, 0x84):  # EXT1, EXT2, EXT4
                n = {0x82: 1, 0x83: 2, 0x84: 4}[op]
                pos = _take(buf, pos, n, stop)
                code = int.from_bytes(bytes(buf[pos - n : pos]), "little")
                rep.events.append(Event("extension", op_pos, pos,
                                        f"EXT opcode loads extension code {code} from the copyreg registry"))
                stack.append(Unknown("extension"))
            elif op == 0x50:  # PERSID (line)
                pid, pos = _line(buf, pos, stop)
                stack.append(Persistent(_text(pid)))
            elif op == 0x51:  # BINPERSID
                stack.append(Persistent(pop()))
            else:
                raise _Break(f"unknown opcode 0x{op:02x}", op_pos)
    except _Break as b:
        rep.error = str(b)
        rep.error_pos = b.pos
        rep.end = b.pos
    return rep


def _pairs_to_dict(target, items: list[Any]):
    if not isinstance(target, dict):
        return target
    for i in range(0, len(items) - 1, 2):
        try:
            target[items[i]] = items[i + 1]
        except TypeError:  # unhashable symbolic key
            pass
    return target


# ---- joblib: numpy arrays are written raw into the stream right after their wrapper's BUILD

_JOBLIB_WRAPPERS = {"joblib.numpy_pickle.NumpyArrayWrapper", "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper"}


def _is_joblib_wrapper(call: Call) -> bool:
    f = call.func
    return isinstance(f, Global) and f.full in _JOBLIB_WRAPPERS


def _skip_joblib_array(buf, pos: int, stop: int, call: Call, rep: PickleReport, max_ops: int) -> int:
    """Skip the raw array joblib writes after a NumpyArrayWrapper; an object array is a nested
    pickle, which is walked (its globals join this report)."""
    state = call.state
    if not isinstance(state, dict):
        return pos
    shape, dtype = state.get("shape"), state.get("dtype")
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        return pos
    descr = _dtype_descr(dtype)
    if descr is None:
        return pos
    if "O" in descr:
        inner = walk(buf, pos, stop, max_ops, joblib_arrays=True)
        rep.globals += inner.globals
        rep.calls += inner.calls
        rep.events += inner.events
        if inner.error:
            raise _Break(f"nested array pickle: {inner.error}", inner.error_pos)
        return inner.end
    try:
        import numpy as np

        itemsize = np.dtype(descr).itemsize
    except Exception:
        return pos
    if "numpy_array_alignment_bytes" in state:
        pos = _take(buf, pos, 1, stop)
        pos = _take(buf, pos, buf[pos - 1], stop)
    count = 1
    for d in shape:
        count *= d
    return _take(buf, pos, count * itemsize, stop)


def _dtype_descr(dtype) -> str | None:
    # numpy pickles a dtype as REDUCE(numpy.dtype, ('f8', False, True)) + BUILD(state)
    if isinstance(dtype, Call) and isinstance(dtype.func, Global) and dtype.func.name == "dtype":
        args = dtype.args
        if isinstance(args, tuple) and args and isinstance(args[0], str) and len(args[0]) <= 16:
            state = dtype.state
            descr = args[0]
            if isinstance(state, tuple) and len(state) > 1 and isinstance(state[1], str) and state[1] in "<>|=":
                descr = (state[1] if state[1] != "|" else "") + descr
            return descr
    return None


def looks_like_identifier_path(s: str) -> bool:
    parts = s.split(".")
    return all(p.isidentifier() for p in parts) and len(s) < 256


def walk_stream(buf, start: int = 0, stop: int | None = None, max_ops: int = 50_000_000,
                max_pickles: int = 10_000) -> list[PickleReport]:
    """Walk every pickle stacked in buf[start:stop]: the first always, then each following one
    while the bytes keep being pickles (a legacy torch file is five pickles then raw storage).

    A following candidate counts only if it completes (reaches STOP) or imported plausible
    globals before breaking; otherwise it is trailing data and the walk ends.
    """
    stop = len(buf) if stop is None else stop
    reports = [walk(buf, start, stop, max_ops)]
    while reports[-1].complete and reports[-1].end < stop and len(reports) < max_pickles:
        nxt = walk(buf, reports[-1].end, stop, max_ops)
        if nxt.complete and nxt.n_ops >= 2 and (buf[nxt.start] == 0x80 or nxt.globals):
            reports.append(nxt)
            continue
        if any(looks_like_identifier_path(g.full) for g in nxt.globals):
            reports.append(nxt)
        break
    return reports

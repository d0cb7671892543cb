"""Scan one model artifact by parsing its bytes: never import, unpickle or execute anything.

`scan_file(path)` is the unit of work (a plain function, so a process pool or a Ray task can run
it): it hashes the file (SHA-256, streamed), recognises its format from its bytes (the extension
is only a hint, and a disagreement is itself a finding), and walks containers recursively:

  zip (PyTorch, TorchScript, .npz, .keras)   every member that is or may be a pickle, archives
  7z, tar, gzip, bz2, xz, zstd, zlib          decompressed with a size cap, then scanned again
  pickle (protocols 0-5, legacy torch, joblib, dill)  opcode walk, globals judged by the policy
  .npy                                         header, object arrays (their pickle is walked)
  safetensors, GGUF, ONNX, Keras (.keras, .h5) header and structure checks
"""

from __future__ import annotations

import bz2
import hashlib
import io
import json
import logging
import lzma
import mmap
import os
import struct
import tarfile
import zlib
from pathlib import Path

from workbench.supply import keras_check, pickle_scan, zipfmt
from workbench.supply.chat_template import analyze as analyze_template
from workbench.supply.gguf_check import check_gguf
from workbench.supply.issues import (
    CHAT_TEMPLATE_CODE,
    EXTENSION_OPCODE,
    FORMAT_MISMATCH,
    MALFORMED_HEADER,
    MALFORMED_PICKLE,
    MISSING_MEMO,
    OBJECT_ARRAY,
    PATH_TRAVERSAL,
    UNKNOWN_GLOBAL,
    UNRESOLVED_GLOBAL,
    UNSAFE_GLOBAL,
    UNSCANNABLE,
    ZIP_TRICK,
    FileResult,
    Issue,
)
from workbench.supply.onnx_check import check_onnx, looks_like_onnx
from workbench.supply.policy import DANGEROUS, SAFE, Policy, load_policy
from workbench.supply.safetensors_check import check_safetensors, looks_like_safetensors

log = logging.getLogger(__name__)

# Formats that hold model weights (CycloneDX `machine-learning-model`); others are `data`.
MODEL_FORMATS = {
    "pytorch-zip", "pytorch-legacy", "torchscript", "pickle", "joblib", "safetensors", "gguf",
    "keras", "keras-h5", "hdf5", "onnx", "numpy-npz",
}
PICKLE_EXTS = {".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib", ".dill", ".sav", ".p", ".pck", ".mar"}
# Extensions that only ever mean a pickle: a file named so must parse as one.
STRICT_PICKLE_EXTS = {".pkl", ".pickle", ".joblib", ".dill", ".sav", ".p", ".pck"}
# Magics strong enough to trust inside an unnamed zip member (raw tensor bytes can start with anything).
STRONG_MAGIC = {"zip", "numpy", "gguf", "7z", "gzip", "bz2", "xz", "zstd", "tar"}
# What an extension promises. A file whose bytes are another *code-bearing* format is reported.
EXPECTED = {
    ".safetensors": {"safetensors"}, ".gguf": {"gguf"}, ".npy": {"numpy"}, ".npz": {"zip"},
    ".keras": {"zip"}, ".h5": {"hdf5"}, ".hdf5": {"hdf5"}, ".onnx": {"onnx"},
    ".json": {"text"}, ".txt": {"text"}, ".md": {"text"}, ".yaml": {"text"}, ".yml": {"text"},
    ".model": {"text", "pickle", "zip"}, ".py": {"text"}, ".jinja": {"text"},
}
CODE_BEARING = {"pickle", "zip", "7z", "tar", "gzip", "bz2", "xz", "zstd", "zlib", "lz4"}
_PROBE = 1 << 20  # bytes walked first when a zip member only *might* be a pickle

_JOBLIB_GLOBAL = b"joblib.numpy_pickle"
_DILL_GLOBAL = b"dill._dill"
# protocol 2 pickle of torch's legacy magic number 0x1950a86a20f9469cfc6c
_LEGACY_MAGIC = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little") + b"."


def sniff(head: bytes, size: int, name: str) -> str:
    if head[:4] in (zipfmt.LOC_SIG, zipfmt.EOCD_SIG):
        return "zip"
    if len(head) >= 2 and head[0] == 0x80 and head[1] <= pickle_scan.HIGHEST_PROTOCOL:
        return "pickle"
    if head[:6] == b"\x93NUMPY":
        return "numpy"
    if head[:4] == b"GGUF":
        return "gguf"
    if head[:8] == b"\x89HDF\r\n\x1a\n":
        return "hdf5"
    if head[:6] == b"7z\xbc\xaf\x27\x1c":
        return "7z"
    if head[:3] == b"\x1f\x8b\x08":
        return "gzip"
    if head[:3] == b"BZh" and head[3:4] in (b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"8", b"9") and (
            head[4:10] in (b"1AY&SY", b"\x17rE8P\x90")):
        return "bz2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if head[:4] == b"\x04\x22\x4d\x18":
        return "lz4"
    if len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0 and head[1] in (0x01, 0x5E, 0x9C, 0xDA):
        return "zlib"
    if looks_like_safetensors(head, size):
        return "safetensors"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return "unknown"


def is_model_format(fmt: str) -> bool:
    return any(part in MODEL_FORMATS for part in fmt.split("+"))


def _ext(name: str) -> str:
    return os.path.splitext(name.lower())[1]


class _Scan:
    """One file's scan: collects issues, recurses into containers."""

    def __init__(self, policy: Policy, result: FileResult, model_dir: Path | None):
        self.policy = policy
        self.limits = policy.limits
        self.result = result
        self.model_dir = model_dir
        self.issues = result.issues

    def add(self, kind: str, severity: str, rule: str, member: str, start: int = 0, end: int = 0,
            value: str = "", detail: str = "", **extra) -> None:
        self.issues.append(Issue(kind, severity, rule, member, start, end, value or rule, detail, extra))

    # ---- dispatch ----------------------------------------------------------------------
    def scan(self, buf, size: int, member: str, name: str, depth: int, path: str | None = None) -> str:
        head = bytes(buf[:512])
        fmt = sniff(head, size, name)
        ext = _ext(name)
        expected = EXPECTED.get(ext)
        if fmt == "unknown" and ext == ".onnx" and looks_like_onnx(buf, size):
            fmt = "onnx"
        if expected and fmt != "unknown" and fmt not in expected and fmt in CODE_BEARING:
            self.add(FORMAT_MISMATCH, "high", "format.extension_mismatch", member, 0, 0, f"{ext}:{fmt}",
                     f"{name!r} is named {ext} but its bytes are {fmt}", extension=ext, actual=fmt)
        if fmt == "unknown" and expected and not expected & {"text"}:
            fmt = next(iter(expected))  # run the promised format's checks: they report the damage

        if fmt == "zip":
            return self.scan_zip(buf, size, member, name, depth)
        if fmt == "pickle":
            fmt = self.scan_pickle(buf, 0, size, member, strict=True)
        elif fmt == "safetensors":
            issues, _ = check_safetensors(buf, size, member, self.limits.safetensors_max_header_bytes)
            self.issues += issues
        elif fmt == "gguf":
            issues, _ = check_gguf(buf, size, member, self.limits.gguf_max_string_bytes,
                                   self.limits.gguf_max_array_depth, self.limits.gguf_max_dims)
            self.issues += issues
        elif fmt == "numpy":
            self.scan_npy(buf, size, member)
        elif fmt == "onnx":
            issues, _ = check_onnx(buf, size, member, self.model_dir if depth == 0 else None)
            self.issues += issues
        elif fmt == "hdf5":
            src = path if path is not None else io.BytesIO(bytes(buf[:size]))
            issues = keras_check.check_h5(src, buf, member)
            self.issues += issues
            if issues:
                fmt = "keras-h5"
        elif fmt in ("gzip", "bz2", "xz", "zstd", "zlib", "lz4"):
            inner = name[: -len(ext)] if ext in (".gz", ".bz2", ".xz", ".zst", ".lz4", ".z") else name
            inner_fmt = self.scan_compressed(buf, size, member, inner, fmt, depth)
            if inner_fmt:
                fmt = f"{inner_fmt}+{fmt}"
        elif fmt == "7z":
            self.scan_7z(buf, size, member, depth, path)
        elif fmt == "tar":
            self.scan_tar(buf, size, member, depth)
        else:
            fmt = self.scan_other(buf, size, member, name, ext, depth)
        if fmt not in ("zip",) and depth == 0 and size > 22 and self._zip_tail(buf, size):
            # a valid zip at the end of a file that is something else in front: torch and zipfile
            # look at different ends of the file
            self.add(ZIP_TRICK, "high", "zip.polyglot", member, 0, 0, f"{fmt}+zip",
                     f"{name!r} is {fmt} in front and a zip archive at the end (polyglot)")
            self.scan_zip(buf, size, member, name, depth)
        return fmt

    @staticmethod
    def _zip_tail(buf, size: int) -> bool:
        eocd = zipfmt.find_eocd(buf, size)
        if eocd < 0 or eocd + 22 > size:
            return False
        _, _, _, _, n, cd_size, cd_off, _ = zipfmt._EOCD.unpack_from(buf, eocd)
        start = eocd - cd_size - cd_off
        return n > 0 and 0 <= start and bytes(buf[start + cd_off : start + cd_off + 4]) == zipfmt.CEN_SIG

    def scan_other(self, buf, size: int, member: str, name: str, ext: str, depth: int) -> str:
        base = os.path.basename(name)
        if base == "tokenizer_config.json" and size < (64 << 20):
            self.scan_tokenizer_config(bytes(buf[:size]), member)
            return "text"
        if ext in EXPECTED and "text" in EXPECTED[ext] and "pickle" not in EXPECTED[ext]:
            return "text"
        # protocol 0/1 pickles have no magic: try, and keep the result only if it is one
        strict = ext in STRICT_PICKLE_EXTS
        return self.scan_pickle(buf, 0, size, member, strict=strict, fallback="unknown")

    # ---- pickles -----------------------------------------------------------------------
    def scan_pickle(self, buf, start: int, stop: int, member: str, strict: bool, torchscript: bool = False,
                    fallback: str = "unknown") -> str:
        reports = pickle_scan.walk_stream(buf, start, stop, self.limits.max_pickle_ops)
        first = reports[0]
        plausible = first.complete and first.n_ops >= 2 and (first.protocol is not None or first.globals)
        plausible = plausible or any(pickle_scan.looks_like_identifier_path(g.full) for g in first.globals)
        if not strict and not plausible:
            return fallback
        fmt = "pickle"
        window = bytes(buf[start : min(stop, start + (1 << 16))])
        if window.startswith(_LEGACY_MAGIC):
            fmt = "pytorch-legacy"
        if _JOBLIB_GLOBAL in window:
            fmt = "joblib"
        for idx, rep in enumerate(reports):
            called = {}
            for c in rep.calls:
                if isinstance(c.func, pickle_scan.Global):
                    called.setdefault(id(c.func), []).append(c.opcode)
            seen: dict[tuple[str, str], Issue] = {}
            for g in rep.globals:
                verdict = self.policy.classify(g.module, g.name, torchscript)
                if verdict == SAFE:
                    continue
                kind, sev = (UNSAFE_GLOBAL, "critical") if verdict == DANGEROUS else (UNKNOWN_GLOBAL, "medium")
                key = (kind, g.full)
                if key in seen:
                    seen[key].extra["occurrences"] += 1
                    continue
                issue = Issue(kind, sev, g.full, member, g.pos, g.end, g.full,
                              f"pickle imports {g.full} ({'denied' if verdict == DANGEROUS else 'not on the allowlist'})",
                              {"global": g.full, "opcode": g.opcode, "pickle_index": idx,
                               "called_via": called.get(id(g), []), "occurrences": 1})
                seen[key] = issue
                self.issues.append(issue)
            for ev in rep.events:
                kind, sev = {
                    "missing_memo": (MISSING_MEMO, "critical"),
                    "unresolved_global": (UNRESOLVED_GLOBAL, "critical"),
                    "extension": (EXTENSION_OPCODE, "high"),
                }[ev.kind]
                self.add(kind, sev, f"pickle.{ev.kind}", member, ev.pos, ev.end, f"pickle.{ev.kind}", ev.detail,
                         pickle_index=idx)
            if rep.error:
                self.add(MALFORMED_PICKLE, "medium", "pickle.broken_stream", member, rep.error_pos, rep.error_pos,
                         "pickle.broken_stream",
                         f"pickle {idx} breaks at byte {rep.error_pos - start}: {rep.error}; "
                         "everything before the break was scanned", pickle_index=idx)
        return fmt

    # ---- containers --------------------------------------------------------------------
    def scan_zip(self, buf, size: int, member: str, name: str, depth: int) -> str:
        zi = zipfmt.read_zip(buf, size, member)
        self.issues += zi.issues
        names = [e.name for e in zi.entries]
        if depth == 0:
            self.result.members = names[:1000]
        torchscript = any("/code/" in n or n.startswith("code/") for n in names)
        keras = "config.json" in names and any(n.endswith(".weights.h5") or n == "metadata.json" for n in names)
        if torchscript:
            fmt = "torchscript"
        elif any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            fmt = "pytorch-zip"
        elif keras:
            fmt = "keras"
        elif names and all(n.endswith(".npy") for n in names):
            fmt = "numpy-npz"
        else:
            fmt = "zip"
        lim = self.limits
        for e in zi.entries:
            if e.name.endswith("/") or e.data_offset < 0:
                continue
            sub = f"{member}!{e.name}" if member else e.name
            lname = e.name.lower()
            head = zipfmt.peek(buf, e, 512)
            is_proto = len(head) >= 2 and head[0] == 0x80 and head[1] <= pickle_scan.HIGHEST_PROTOCOL
            named = _ext(lname) in PICKLE_EXTS | {".npy", ".npz", ".safetensors", ".gguf", ".onnx", ".keras",
                                                  ".zip", ".h5", ".7z", ".gz", ".xz", ".bz2", ".tar"}
            magic = sniff(head, e.usize, e.name)
            if keras and e.name == "config.json":
                data, _ = self._member(buf, e, sub)
                if data is not None:
                    self.issues += keras_check.check_config(data.decode("utf-8", "replace"), sub)
                continue
            if lname.endswith("tokenizer_config.json"):
                data, _ = self._member(buf, e, sub)
                if data is not None:
                    self.scan_tokenizer_config(data, sub)
                continue
            if not (named or is_proto or magic in STRONG_MAGIC):
                continue
            if depth + 1 > lim.max_container_depth:
                self.add(UNSCANNABLE, "medium", "container.depth", sub, 0, 0, sub,
                         f"containers nested deeper than {lim.max_container_depth}: not scanned")
                continue
            if is_proto and not lname.endswith((".pkl", ".pickle")) and e.usize > _PROBE:
                # a big member that starts like a pickle: walk a prefix first (raw tensor data
                # breaks within a few bytes), read it whole only if it keeps looking like one
                data, trunc = self._member(buf, e, sub, limit=_PROBE)
                if data is None:
                    continue
                probe = pickle_scan.walk(data, 0, len(data), lim.max_pickle_ops)
                if probe.error and probe.error_pos < len(data) - 16 and not any(
                        pickle_scan.looks_like_identifier_path(g.full) for g in probe.globals):
                    continue
            data, trunc = self._member(buf, e, sub)
            if data is None:
                continue
            if trunc:
                self.add(UNSCANNABLE, "medium", "container.size_limit", sub, 0, 0, sub,
                         f"member {e.name!r} is larger than the {lim.max_decompressed_bytes}-byte limit: "
                         "scanned up to the limit")
            elif e.usize <= lim.crc_check_max_bytes and (zlib.crc32(data) & 0xFFFFFFFF) != e.crc:
                self.add(ZIP_TRICK, "high", "zip.crc_mismatch", sub, e.header_offset, e.header_offset, e.name,
                         f"member {e.name!r}: CRC-32 does not match the header (zipfile refuses it, torch.load "
                         "reads it)")
            if is_proto:
                self.scan_pickle(data, 0, len(data), sub, strict=_ext(lname) in STRICT_PICKLE_EXTS | {".pkl"}
                                 or lname.endswith("data.pkl"), torchscript=torchscript)
            else:
                self.scan(data, len(data), sub, e.name, depth + 1)
        return fmt

    def _member(self, buf, e: zipfmt.Entry, sub: str, limit: int | None = None) -> tuple[bytes | None, bool]:
        try:
            return zipfmt.member_bytes(buf, e, limit or self.limits.max_decompressed_bytes)
        except zipfmt.MemberError as err:
            self.add(UNSCANNABLE, "medium", "container.unreadable_member", sub, e.header_offset, e.header_offset,
                     e.name, f"member {e.name!r} cannot be read: {err}")
            return None, False

    def scan_compressed(self, buf, size: int, member: str, inner: str, kind: str, depth: int) -> str | None:
        sub = f"{member}!<{kind}>" if member else f"<{kind}>"
        if depth + 1 > self.limits.max_container_depth:
            self.add(UNSCANNABLE, "medium", "container.depth", sub, 0, 0, sub, "containers nested too deep")
            return None
        limit = self.limits.max_decompressed_bytes
        try:
            data, trunc = _decompress(buf, size, kind, limit)
        except _Unscannable as err:
            self.add(UNSCANNABLE, "medium", f"container.{kind}", member, 0, 0, kind, str(err))
            return None
        if trunc:
            self.add(UNSCANNABLE, "medium", "container.size_limit", sub, 0, 0, sub,
                     f"{kind} stream decompresses past the {limit}-byte limit: scanned up to the limit")
        return self.scan(data, len(data), sub, inner, depth + 1) if data else None

    def scan_7z(self, buf, size: int, member: str, depth: int, path: str | None) -> None:
        try:
            import py7zr
            from py7zr.io import BytesIOFactory
        except ImportError:
            self.add(UNSCANNABLE, "medium", "container.7z", member, 0, 0, "7z", "py7zr is not installed")
            return
        src = path if path is not None else io.BytesIO(bytes(buf[:size]))
        try:
            with py7zr.SevenZipFile(src, "r") as z:
                names = z.getnames()
                for n in names:
                    why = zipfmt.name_problem(n)
                    if why:
                        self.add(PATH_TRAVERSAL, "critical", "7z.member_name", member, 0, 0, n,
                                 f"7z member name {n!r}: {why}")
                if z.needs_password():
                    self.add(UNSCANNABLE, "medium", "container.7z_encrypted", member, 0, 0, "7z",
                             "7z archive is encrypted: contents not scanned")
                    return
                factory = BytesIOFactory(self.limits.max_decompressed_bytes)
                z.extractall(factory=factory)
        except Exception as err:  # py7zr raises many types for damaged archives
            self.add(UNSCANNABLE, "medium", "container.7z", member, 0, 0, "7z", f"7z archive cannot be read: {err}")
            return
        for n, product in factory.products.items():
            product.seek(0)
            data = product.read()
            sub = f"{member}!{n}" if member else n
            if depth + 1 <= self.limits.max_container_depth and data:
                self.scan(data, len(data), sub, n, depth + 1)

    def scan_tar(self, buf, size: int, member: str, depth: int) -> None:
        try:
            with tarfile.open(fileobj=io.BytesIO(bytes(buf[:size])), mode="r:") as t:
                for ti in t:
                    sub = f"{member}!{ti.name}" if member else ti.name
                    why = zipfmt.name_problem(ti.name)
                    if why:
                        self.add(PATH_TRAVERSAL, "critical", "tar.member_name", sub, 0, 0, ti.name,
                                 f"tar member name {ti.name!r}: {why}")
                    if ti.issym() or ti.islnk():
                        target = os.path.normpath(os.path.join(os.path.dirname(ti.name), ti.linkname))
                        if ti.linkname.startswith("/") or target.startswith(".."):
                            self.add(PATH_TRAVERSAL, "critical", "tar.link", sub, 0, 0, ti.linkname,
                                     f"tar link {ti.name!r} points outside the archive: {ti.linkname!r}")
                        continue
                    if not ti.isfile() or depth + 1 > self.limits.max_container_depth:
                        continue
                    f = t.extractfile(ti)
                    if f is None:
                        continue
                    data = f.read(self.limits.max_decompressed_bytes)
                    if data:
                        self.scan(data, len(data), sub, ti.name, depth + 1)
        except tarfile.TarError as err:
            self.add(MALFORMED_HEADER, "medium", "tar.header", member, 0, 0, "tar", f"tar archive is damaged: {err}")

    # ---- numpy -------------------------------------------------------------------------
    def scan_npy(self, buf, size: int, member: str) -> None:
        import ast

        def bad(detail: str, start: int = 0, end: int = 0) -> None:
            self.add(MALFORMED_HEADER, "high", "npy.header", member, start, end, "npy.header", detail)

        if size < 10:
            return bad("truncated .npy header")
        major = buf[6]
        if major == 1:
            hlen, hstart = struct.unpack_from("<H", buf, 8)[0], 10
        elif major in (2, 3):
            if size < 12:
                return bad("truncated .npy header")
            hlen, hstart = struct.unpack_from("<I", buf, 8)[0], 12
        else:
            return bad(f"unknown .npy version {major}", 6, 7)
        if hlen > 10000 or hstart + hlen > size:
            return bad(f".npy header length {hlen} is too large or runs past the end", 8, hstart)
        text = bytes(buf[hstart : hstart + hlen]).decode("utf-8" if major == 3 else "latin-1", "replace")
        try:
            d = ast.literal_eval(text)  # literals only: never evaluates code
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return bad(".npy header is not a Python literal", hstart, hstart + hlen)
        if not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}:
            return bad(".npy header must have exactly descr, fortran_order and shape", hstart, hstart + hlen)
        shape = d["shape"]
        if not isinstance(shape, tuple) or not all(type(x) is int and x >= 0 for x in shape):
            return bad(".npy shape is not a tuple of non-negative ints", hstart, hstart + hlen)
        try:
            from numpy.lib.format import descr_to_dtype

            dtype = descr_to_dtype(d["descr"])
        except Exception:
            return bad(f".npy descr {str(d['descr'])[:80]!r} is not a dtype", hstart, hstart + hlen)
        data_off = hstart + hlen
        if dtype.hasobject:
            self.add(OBJECT_ARRAY, "medium", "npy.object_array", member, hstart, data_off, "npy.object_array",
                     ".npy holds an object array: its data is a pickle (numpy's loader runs it when allow_pickle is on)")
            self.scan_pickle(buf, data_off, size, member, strict=True)
            return
        count = 1
        for x in shape:
            count *= x
        expected = count * dtype.itemsize
        if size - data_off != expected:
            bad(f".npy data is {size - data_off} bytes, shape and dtype give {expected}", data_off, size)

    def scan_tokenizer_config(self, data: bytes, member: str) -> None:
        try:
            cfg = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            return
        tpl = cfg.get("chat_template") if isinstance(cfg, dict) else None
        templates = []
        if isinstance(tpl, str):
            templates.append(("chat_template", tpl))
        elif isinstance(tpl, list):
            templates += [(f"chat_template.{t.get('name')}", t.get("template")) for t in tpl
                          if isinstance(t, dict) and isinstance(t.get("template"), str)]
        for key, t in templates:
            for f in analyze_template(t):
                self.add(CHAT_TEMPLATE_CODE, f.severity, f"tokenizer_config.chat_template:{f.construct}", member,
                         0, 0, f.construct, f"{key} uses {f.construct!r}: template code beyond plain formatting",
                         key=key, template_offset=f.offset)


class _Unscannable(Exception):
    pass


def _decompress(buf, size: int, kind: str, limit: int) -> tuple[bytes, bool]:
    if kind == "lz4":
        try:
            import lz4.frame as lz4f
        except ImportError:
            raise _Unscannable("lz4 stream: the lz4 package is not installed, contents not scanned") from None
        d = lz4f.LZ4FrameDecompressor()
        feed = lambda chunk, room: d.decompress(chunk, max_length=room)  # noqa: E731
    elif kind == "zstd":
        import zstandard

        d = zstandard.ZstdDecompressor().decompressobj()
        feed = lambda chunk, room: d.decompress(chunk)  # noqa: E731
    else:
        d = {"gzip": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS), "zlib": zlib.decompressobj,
             "bz2": bz2.BZ2Decompressor, "xz": lzma.LZMADecompressor}[kind]()
        feed = None
    out = bytearray()
    pos = 0
    step = 4 << 20
    try:
        while pos < size and len(out) < limit:
            chunk = bytes(buf[pos : pos + step])
            pos += len(chunk)
            room = limit - len(out)
            if feed is not None:
                out += feed(chunk, room)
                continue
            if kind in ("gzip", "zlib"):
                out += d.decompress(chunk, room)
                while d.unconsumed_tail and len(out) < limit:
                    out += d.decompress(d.unconsumed_tail, limit - len(out))
                if d.eof and kind == "gzip" and d.unused_data:  # concatenated gzip members
                    rest = d.unused_data
                    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    out += d.decompress(rest, limit - len(out))
            else:
                out += d.decompress(chunk, room)
                while not d.eof and d.needs_input is False and len(out) < limit:
                    out += d.decompress(b"", limit - len(out))
                if d.eof:
                    break
    except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError) as err:
        if not out:
            raise _Unscannable(f"{kind} stream is damaged: {err}") from None
        log.debug("%s stream damaged after %d bytes: %s", kind, len(out), err)
    return bytes(out[:limit]), len(out) >= limit and pos < size


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
    return h.hexdigest()


_DEFAULT_POLICY: Policy | None = None


def scan_file(path: str | os.PathLike, policy: Policy | None = None, hash: bool = True) -> FileResult:
    """Scan one file. Never raises for a damaged file (that is a finding); an unreadable file
    comes back with `error` set."""
    global _DEFAULT_POLICY
    if policy is None:
        if _DEFAULT_POLICY is None:
            _DEFAULT_POLICY = load_policy()
        policy = _DEFAULT_POLICY
    path = os.fspath(path)
    res = FileResult(path=path)
    try:
        st = os.stat(path)
        res.size, res.mtime = st.st_size, st.st_mtime
        if hash:
            res.sha256 = _sha256(path)
        scan = _Scan(policy, res, Path(path).parent)
        if res.size == 0:
            res.format = "empty"
            return res
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            res.format = scan.scan(mm, res.size, "", os.path.basename(path), 0, path=path)
    except OSError as e:
        res.error = f"cannot read {path}: {e.strerror or e}"
    except Exception as e:  # a parser bug must not end the run: report the file as an error
        log.exception("scanner failed on %s", path)
        res.error = f"scanner failed on {path}: {type(e).__name__}"
    return res

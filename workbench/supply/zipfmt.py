"""A zip reader that trusts nothing: it reads the central directory and every local header
itself (zip64 included), reports the tricks loaders and scanners disagree on (encrypted flag,
CRC mismatch, local/central name or method mismatch, duplicate names, traversal names, a zip
hidden behind other bytes), and hands out member bytes with a size cap.

Python's zipfile refuses some of these archives (bad CRC, encrypted flag) while torch.load reads
them: a scanner built on zipfile then skips a file that still loads.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath, PureWindowsPath

from workbench.supply.issues import MALFORMED_HEADER, PATH_TRAVERSAL, ZIP_TRICK, Issue

EOCD_SIG = b"PK\x05\x06"
ZIP64_LOC_SIG = b"PK\x06\x07"
ZIP64_EOCD_SIG = b"PK\x06\x06"
CEN_SIG = b"PK\x01\x02"
LOC_SIG = b"PK\x03\x04"
_EOCD = struct.Struct("<4s4H2LH")
_CEN = struct.Struct("<4s6H3L5H2L")
_LOC = struct.Struct("<4s5H3L2H")


@dataclass
class Entry:
    name: str
    flags: int
    method: int
    crc: int
    csize: int
    usize: int
    header_offset: int
    data_offset: int = -1
    raw_name: bytes = b""
    local_flags: int = 0


@dataclass
class ZipInfo:
    entries: list[Entry] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    start: int = 0  # where the archive begins (bytes before it: a polyglot)


def find_eocd(buf, size: int) -> int:
    lo = max(0, size - (1 << 16) - _EOCD.size)
    return buf.rfind(EOCD_SIG, lo, size)


def _zip64_extra(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, n = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + n]
        if tag == 0x0001:
            vals = [struct.unpack_from("<Q", body, i)[0] for i in range(0, len(body) - 7, 8)]
            it = iter(vals)
            if usize == 0xFFFFFFFF:
                usize = next(it, usize)
            if csize == 0xFFFFFFFF:
                csize = next(it, csize)
            if offset == 0xFFFFFFFF:
                offset = next(it, offset)
        pos += 4 + n
    return usize, csize, offset


def name_problem(name: str) -> str | None:
    if "\x00" in name:
        return "NUL byte in name"
    if name.startswith(("/", "\\")) or PureWindowsPath(name).drive:
        return "absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "'..' component"
    return None


def read_zip(buf, size: int, member: str) -> ZipInfo:
    zi = ZipInfo()

    def issue(kind: str, sev: str, rule: str, detail: str, start: int = 0, end: int = 0, value: str = "",
              **extra) -> None:
        zi.issues.append(Issue(kind, sev, f"zip.{rule}", member, start, end or start, value or rule, detail, extra))

    eocd = find_eocd(buf, size)
    if eocd < 0 or eocd + _EOCD.size > size:
        issue(MALFORMED_HEADER, "high", "no_central_directory",
              "zip has no end-of-central-directory record; members found by local headers only")
        _scan_local_headers(buf, size, zi)
        return zi
    _, _, _, _, n_entries, cd_size, cd_offset, _ = _EOCD.unpack_from(buf, eocd)
    # zip64
    loc = eocd - 20
    if loc >= 0 and bytes(buf[loc : loc + 4]) == ZIP64_LOC_SIG:
        z64 = struct.unpack_from("<Q", buf, loc + 8)[0]
        if 0 <= z64 + 56 <= size and bytes(buf[z64 : z64 + 4]) == ZIP64_EOCD_SIG:
            n_entries = struct.unpack_from("<Q", buf, z64 + 32)[0]
            cd_size = struct.unpack_from("<Q", buf, z64 + 40)[0]
            cd_offset = struct.unpack_from("<Q", buf, z64 + 48)[0]
            eocd = z64
    # Bytes before the archive (self-extracting style, or a pickle glued in front of a zip):
    # the central directory then sits later than its recorded offset.
    start = eocd - cd_size - cd_offset
    if start < 0 or start > size:
        issue(MALFORMED_HEADER, "high", "central_directory_bounds", "central directory offset is out of range",
              eocd, eocd + 22)
        _scan_local_headers(buf, size, zi)
        return zi
    zi.start = start
    if start > 0:
        issue(ZIP_TRICK, "high", "prefixed_archive",
              f"{start} bytes precede the zip archive (polyglot: another format in front of a zip)", 0, start)
    pos = start + cd_offset
    seen: dict[str, int] = {}
    for i in range(n_entries):
        if pos + _CEN.size > size or bytes(buf[pos : pos + 4]) != CEN_SIG:
            issue(MALFORMED_HEADER, "high", "central_entry", f"central directory entry {i} is damaged", pos)
            break
        (_, _, _, flags, method, _, _, crc, csize, usize, nlen, elen, clen, _, _, _, off) = _CEN.unpack_from(buf, pos)
        raw = bytes(buf[pos + 46 : pos + 46 + nlen])
        extra = bytes(buf[pos + 46 + nlen : pos + 46 + nlen + elen])
        usize, csize, off = _zip64_extra(extra, usize, csize, off)
        name = raw.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        e = Entry(name, flags, method, crc, csize, usize, start + off, raw_name=raw)
        pos += 46 + nlen + elen + clen
        zi.entries.append(e)
        if name in seen:
            issue(ZIP_TRICK, "high", "duplicate_name", f"member {name!r} appears twice: loaders differ on which "
                  "copy they read", e.header_offset, value=name)
        seen[name] = 1
        why = name_problem(name)
        if why:
            issue(PATH_TRAVERSAL, "critical", "member_name", f"member name {name!r}: {why}", e.header_offset,
                  value=name)
        if flags & 0x1:
            issue(ZIP_TRICK, "high", "encrypted_flag", f"member {name!r} is flagged encrypted: zipfile refuses "
                  "it, other readers ignore the flag", e.header_offset, value=name)
        _check_local(buf, size, e, zi, issue)
    return zi


def _check_local(buf, size: int, e: Entry, zi: ZipInfo, issue) -> None:
    lo = e.header_offset
    if lo < 0 or lo + _LOC.size > size or bytes(buf[lo : lo + 4]) != LOC_SIG:
        issue(MALFORMED_HEADER, "high", "local_header", f"member {e.name!r}: no local header at its offset",
              max(lo, 0), value=e.name)
        return
    (_, _, lflags, lmethod, _, _, _, _, _, nlen, elen) = _LOC.unpack_from(buf, lo)
    lname = bytes(buf[lo + 30 : lo + 30 + nlen])
    e.local_flags = lflags
    e.data_offset = lo + 30 + nlen + elen
    if lname != e.raw_name:
        issue(ZIP_TRICK, "high", "name_mismatch", f"member {e.name!r}: local header names it "
              f"{lname.decode('utf-8', 'replace')!r}", lo, value=e.name)
    if lmethod != e.method:
        issue(ZIP_TRICK, "high", "method_mismatch", f"member {e.name!r}: compression method {lmethod} in the "
              f"local header, {e.method} in the central directory", lo, value=e.name)
    if (lflags ^ e.flags) & 0x1:
        issue(ZIP_TRICK, "high", "flag_mismatch", f"member {e.name!r}: encryption flag differs between headers",
              lo, value=e.name)
    if e.data_offset + e.csize > size:
        issue(MALFORMED_HEADER, "high", "member_bounds", f"member {e.name!r} runs past the end of the file",
              lo, value=e.name)


def _scan_local_headers(buf, size: int, zi: ZipInfo) -> None:
    pos = buf.find(LOC_SIG, 0, size)
    while 0 <= pos and pos + _LOC.size <= size:
        (_, _, flags, method, _, _, crc, csize, usize, nlen, elen) = _LOC.unpack_from(buf, pos)
        raw = bytes(buf[pos + 30 : pos + 30 + nlen])
        e = Entry(raw.decode("utf-8", "replace"), flags, method, crc, csize, usize, pos,
                  data_offset=pos + 30 + nlen + elen, raw_name=raw, local_flags=flags)
        if flags & 0x8 and csize == 0:  # sizes in a data descriptor: take up to the next header
            nxt = buf.find(LOC_SIG, e.data_offset, size)
            e.csize = (nxt if nxt >= 0 else size) - e.data_offset
        zi.entries.append(e)
        pos = buf.find(LOC_SIG, e.data_offset + max(e.csize, 0), size)


class MemberError(Exception):
    pass


def member_bytes(buf, e: Entry, limit: int) -> tuple[bytes, bool]:
    """Decompressed bytes of a member, at most `limit`; (data, truncated)."""
    if e.data_offset < 0:
        raise MemberError("no data offset")
    if e.method == 0:
        data = bytes(buf[e.data_offset : e.data_offset + min(e.csize, limit)])
        return data, e.csize > limit
    raw = buf[e.data_offset : e.data_offset + e.csize]
    if e.method == 8:
        d = zlib.decompressobj(-15)
        try:
            data = d.decompress(raw, limit)
        except zlib.error as err:
            raise MemberError(f"deflate error: {err}") from None
        return data, bool(d.unconsumed_tail)
    if e.method == 12:
        d = bz2.BZ2Decompressor()
        try:
            data = d.decompress(raw, limit)
        except (OSError, ValueError) as err:
            raise MemberError(f"bzip2 error: {err}") from None
        return data, not d.eof and len(data) >= limit
    if e.method == 14:
        # zip LZMA: 2-byte version, 2-byte properties size, properties, raw LZMA1 stream
        try:
            psize = struct.unpack_from("<H", raw, 2)[0]
            filt = lzma._decode_filter_properties(lzma.FILTER_LZMA1, bytes(raw[4 : 4 + psize]))
            d = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[filt])
            data = d.decompress(bytes(raw[4 + psize :]), limit)
        except (lzma.LZMAError, struct.error, ValueError) as err:
            raise MemberError(f"lzma error: {err}") from None
        return data, not d.eof and len(data) >= limit
    raise MemberError(f"unsupported compression method {e.method}")


def peek(buf, e: Entry, n: int = 16) -> bytes:
    try:
        return member_bytes(buf, e, n)[0] if e.method != 0 else bytes(buf[e.data_offset : e.data_offset + min(n, e.csize)])
    except MemberError:
        return b""

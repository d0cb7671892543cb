"""A fast engine for Presidio's pattern recognizers: one Hyperscan pass, Python only on candidates.

Presidio's `AnalyzerEngine` runs every recognizer's regexes over every text in Python, then
spaCy over the whole text for context words. This engine keeps Presidio's recognizers as the
source of truth (it is built FROM the registry that `patterns.build_registry` returns, so custom
Presidio recognizers keep working) and reproduces the analyzer's results:

1. every regex of every `PatternRecognizer` (plus, for non-ASCII texts, a candidate regex for
   phone numbers) is compiled into ONE Hyperscan database. Patterns Hyperscan cannot compile
   exactly (look-arounds, back-references, very large patterns) are compiled in prefilter mode (a
   superset of matches); a leading one-character look-behind is scanned as a consumed
   character on ASCII texts instead (`_consuming_lookbehind`). Phone candidates of ASCII texts
   are digit runs found with numpy;
2. a batch of texts is joined into one buffer and scanned once; each report gives a candidate
   region for one pattern in one text (exact start with start-of-match, else end minus the
   pattern's maximum width, else back to the nearest character the pattern cannot match);
   regions are widened and merged with numpy, per pattern and text;
3. regions are confirmed with the recognizer's own regex (`regex` module, same flags; on ASCII
   texts the same pattern in Python's `re`, see `_ascii_search`), searching from the region's
   start with `pos`/`endpos`. Because every true match ends at a reported end, the matches found
   are exactly Presidio's `finditer` matches;
4. each recognizer's own `validate_result` / `invalidate_result` then set the score as in
   `PatternRecognizer`; recognizers that override `analyze` (IBAN, phone numbers) run their own
   `analyze` on small windows around the candidates (the stock IBAN one replayed step by step,
   `_iban_rows`). Phone numbers: libphonenumber's matcher loop per window, with `fastphone`
   giving its exact verdicts for plain digit candidates;
5. context words: Presidio's `LemmaContextAwareEnhancer` semantics (N keyword lemmas before the
   match, one at/after it, substring match, +0.35, min 0.4). `fastcontext` skips results no
   context word can reach and walks cached per-chunk tokens of the same blank spaCy tokenizer
   (its affix rules replayed in Python, `fastcontext.ChunkTokenizer`);
6. the analyzer's threshold and `remove_duplicates` (per recognizer, then over all results).

Texts longer than `window_chars` are cut into the same overlapping windows as the stock
detector, so memory stays bounded and results match it window for window.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import gc
import hashlib
import json
import logging
import operator
import os
import tempfile
import time
import re as std_re
import sre_parse
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import regex

from workbench.detectors.base import Span, cache_dir, make_span
from workbench.detectors.fastcontext import ChunkWalk, ContextPrecheck, SegmentPieces
from workbench.detectors.patterns import (
    NAME,
    PatternsConfig,
    PatternsDetector,
    _lemma_component,
    build_nlp_engine,
    build_registry,
    windows,
)

log = logging.getLogger(__name__)

LOOKAROUND_MARGIN = 64  # characters after a region that look-aheads may inspect
CHUNK_CHARS = 4_000_000  # texts handed to the engine at once (the detector's windows), at most
SCAN_CHARS = 1_000_000  # texts joined into one Hyperscan scan, at most (numpy arrays per byte
# stay in cache; a batch's digit verdicts are still asked for at once: `_finish_runs`)
_WS = " \t\n\r\x0b\x0c"
_UNBOUNDED = 1 << 20

# Phone candidates: runs of digits separated by at most 4 of libphonenumber's punctuation
# characters (phonenumbers._VALID_PUNCTUATION), with at least `_phone_min_digits` digits.
# libphonenumber then runs only on small windows around these runs. ASCII texts: numpy finds the
# runs (`_digit_runs`); other texts: Hyperscan (`_phone_candidate`, Unicode punctuation).
_PHONE_PUNCT_ASCII = "-x ./~()[]"  # matched case-insensitively ('X' too)
_PHONE_PUNCT_UNI = (
    r"\-x\x{2010}-\x{2015}\x{2212}\x{30FC}\x{FF0D}-\x{FF0F} \x{A0}\x{AD}\x{200B}\x{2060}\x{3000}"
    r"()\x{FF08}\x{FF09}\x{FF3B}\x{FF3D}./~\x{2053}\x{223C}\x{FF5E}\[\]"
)
PHONE_MIN_DIGITS = 3  # fallback when the metadata cannot be read


def _phone_candidate(min_digits: int) -> str:
    """A run of at least `min_digits` digits joined by at most 4 punctuation characters,
    reported ONCE, where it ends (at the first character that cannot continue it, or at the end
    of the buffer): Hyperscan would otherwise report every digit of a run as a match end."""
    p = _PHONE_PUNCT_UNI
    return r"\d(?:[%s]{0,4}\d){%d,}(?:[%s]{0,4}(?:[^\d%s]|$)|[%s]{5})" % (p, max(1, min_digits - 1), p, p, p)


def _phone_min_digits(regions: Sequence[str], leniency) -> int:
    """Fewest digits a libphonenumber match can have for these regions (a lower bound).

    Every digit of a match's national significant number (leading zeros included), and of its
    country code when one is written, lies in one run of digits joined by at most 4 punctuation
    characters (libphonenumber's own candidate pattern). A VALID number's national number has
    at least the shortest possible length of some number type of its region: any region of a
    supported region's country code without a prefix, any country at all with '+' or an
    international prefix (then plus its country code's digits)."""
    if (leniency or 0) < 1:
        return 2  # POSSIBLE leniency: libphonenumber's _MIN_LENGTH_FOR_NSN
    try:
        import phonenumbers
        from phonenumbers import PhoneMetadata

        descs = ("fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "personal_number",
                 "voip", "pager", "uan", "voicemail")

        def shortest(meta) -> int:
            best = 99
            for d in descs:
                desc = getattr(meta, d, None)
                if desc is None or not desc.national_number_pattern:
                    continue
                lengths = [x for x in (desc.possible_length or ()) if x > 0]
                if desc.possible_length and not lengths:
                    continue  # [-1]: no number of this type
                lo = min(lengths) if lengths else sre_parse.parse(desc.national_number_pattern).getwidth()[0]
                best = min(best, lo)
            return best

        def meta_for(region, cc):
            if region == "001":
                return PhoneMetadata.metadata_for_nongeo_region(cc)
            return PhoneMetadata.metadata_for_region(region)

        world = min(
            len(str(cc)) + shortest(meta_for(r, cc))
            for cc, regs in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()
            for r in regs
            if meta_for(r, cc) is not None
        )
        local = world
        for region in regions:
            meta = PhoneMetadata.metadata_for_region(region)
            if meta is None:
                continue  # unknown region: only '+' numbers (covered by `world`)
            cc = meta.country_code
            local = min(local, *(shortest(meta_for(r, cc)) for r in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc]))
        return max(2, min(world, local))
    except Exception:  # metadata layout changed: the old, smaller bound
        return PHONE_MIN_DIGITS


@functools.lru_cache(maxsize=1)
def _som_probe() -> bytes:
    """A fixed 128 KB of mixed text (words, numbers, dates, addresses, long alphanumeric tokens,
    e-mail-like tokens, punctuation) on which `_som_costly` times patterns."""
    import random
    import string

    rnd = random.Random(0)
    lower, alnum = string.ascii_lowercase, string.ascii_letters + string.digits
    parts, size = [], 0
    while size < 131_072:
        k = rnd.random()
        if k < 0.5:
            tok = "".join(rnd.choices(lower, k=rnd.randint(1, 10)))
        elif k < 0.7:
            tok = "".join(rnd.choices(string.digits, k=rnd.randint(1, 16)))
        elif k < 0.8:
            tok = "".join(rnd.choices(alnum, k=rnd.randint(6, 40)))
        elif k < 0.88:
            tok = "".join(rnd.choices(lower, k=rnd.randint(2, 8))) + "@" + "".join(rnd.choices(lower, k=5)) + ".com"
        else:
            sep = rnd.choice("-/.:")
            tok = sep.join(str(rnd.randint(0, 2100)) for _ in range(rnd.randint(2, 4)))
        parts.append(tok + rnd.choice("        \n,;"))
        size += len(parts[-1])
    return "".join(parts).encode()


def _som_costly(hs, som_db, expr: bytes, base: int) -> bool:
    """Whether Hyperscan's start-of-match tracking makes `expr` scan much slower: over 1.3x and
    by over 0.5 ns per byte, best of five scans of `_som_probe` each way (the second bound
    keeps the jitter of scans that take microseconds from deciding). For a few patterns
    (e-mail, crypto wallet, digit runs: 2x to 3.5x, 1.2 to 4 ns per byte) it costs more than
    the wider regions an end-only report leaves to confirm; for most it costs nothing.
    `som_db`: `expr` compiled alone with start-of-match tracking."""
    probe = _som_probe()
    end_db = hs.Database()
    end_db.compile(expressions=[expr], ids=[0], flags=[base])
    best = []
    for db in (som_db, end_db):
        scratch = hs.Scratch(db)
        t = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            db.scan(probe, match_event_handler=None, scratch=scratch)
            t = min(t, time.perf_counter() - t0)
        best.append(t)
    return best[0] > 1.3 * best[1] and best[0] - best[1] > 0.5e-9 * len(probe)


def _cache_load(key: str):
    """(modes, database blobs) stored by `_cache_store`, or None."""
    d = cache_dir("hyperscan")
    try:
        meta = json.loads((d / f"{key}.json").read_text())
        has = meta["has_db"]
        if not isinstance(has, list):
            return None  # (the layout of an older version)
        return meta["modes"], [(d / f"{key}.{n}.db").read_bytes() if h else b"" for n, h in enumerate(has)]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _cache_store(key: str, modes: list[str], blobs: list[bytes]) -> None:
    try:
        d = cache_dir("hyperscan")
        d.mkdir(parents=True, exist_ok=True)
        files = [(f".{n}.db", blob) for n, blob in enumerate(blobs) if blob]
        files.append((".json", json.dumps({"modes": modes, "has_db": [bool(b) for b in blobs]}).encode()))
        for suffix, data in files:  # (the index last: it names only blobs already written)
            fd, tmp = tempfile.mkstemp(dir=d)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, d / f"{key}{suffix}")
    except OSError as e:  # a read-only home is not an error: we just compile next time
        log.info("hyperscan cache not written: %s", e)


_C_PUNCT, _C_LEAD, _C_JOIN, _C_SPLIT = 1, 2, 4, 8  # bits of `FastPatternEngine._char_classes`
_ASCII_PHONE_PUNCT = np.zeros(256, dtype=bool)
_ASCII_PHONE_PUNCT[np.frombuffer((_PHONE_PUNCT_ASCII + _PHONE_PUNCT_ASCII.upper()).encode(), dtype=np.uint8)] = True

# where a piece `_parse_and_verify` tries can start or end on an ASCII run (`_INNER_MATCHES`), with
# a '-' next to a space
_ASCII_SPLIT = np.zeros(256, dtype=bool)
_ASCII_SPLIT[np.frombuffer(b"./( ", dtype=np.uint8)] = True

_MISSING = object()


def _group_regions(key, seg, a, b, chunk_idx, regions, pats=None, pid=None) -> None:
    """regions[text][pattern] = [(a, b), ...] for runs of equal `key` (one text and pattern,
    or one text for `pats`), without a Python step per region."""
    if not len(key):
        return
    cuts = [0, *(np.flatnonzero(np.diff(key)) + 1).tolist(), len(key)]
    seg_l, a_l, b_l = seg.tolist(), a.tolist(), b.tolist()
    pid_l = pid.tolist() if pid is not None else None
    for x, y in zip(cuts[:-1], cuts[1:]):
        got = regions[chunk_idx[seg_l[x]]]
        if got is None:
            continue
        lst = list(zip(a_l[x:y], b_l[x:y]))
        if pid_l is not None:
            got[pid_l[x]] = lst
        else:
            for p_ in pats:
                got[p_] = lst


@contextlib.contextmanager
def _gc_paused():
    """The cyclic garbage collector off for a batch (see `FastPatternEngine.analyze_batch`)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_FAST_PHONE: dict[tuple, Any] = {}


def _fast_phone(regions, leniency):
    """workbench.detectors.fastphone's exact verdicts for these regions (one per setting)."""
    key = (tuple(regions), leniency)
    fast = _FAST_PHONE.get(key)
    if fast is None:
        from workbench.detectors.fastphone import FastPhone

        fast = _FAST_PHONE[key] = FastPhone(key[0], leniency)
    return fast


@functools.lru_cache(maxsize=None)
def _phone_internals_ok() -> bool:
    """The phone fast path uses libphonenumber's matcher internals; without them, run its
    public matcher on the windows instead."""
    try:
        from phonenumbers import phonenumbermatcher as pm

        return all(hasattr(pm, a) for a in ("_PATTERN", "_SECOND_NUMBER_START_PATTERN")) and hasattr(
            pm.PhoneNumberMatcher, "_extract_match"
        )
    except ImportError:
        return False


@functools.lru_cache(maxsize=None)
def _phone_extension():
    """libphonenumber's extension pattern as the matcher compiles it, with ASCII tables for
    `_plain_runs`: `start2[a, b]`, whether a text going on with the characters a, b can start an
    extension (regex partial matching); `joins[c]`, whether c may lie between a number and its
    extension's digits (every ASCII character of the pattern's source, letters in both cases,
    tab and space: a superset). None when libphonenumber's internals differ from what
    `_plain_runs` assumes: its candidate pattern is lead characters and punctuation, 1 to 20
    digits, more digit blocks after punctuation, then an optional extension."""
    try:
        from phonenumbers import phonenumbermatcher as pm
        from phonenumbers import phonenumberutil as pnu

        ext = pnu._EXTN_PATTERNS_FOR_MATCHING
        if not pm._PATTERN.pattern.endswith("\\d{1,20}){0,20}(?:" + ext + ")?"):
            return None
        comp = regex.compile("(?:" + ext + ")", pnu._REGEX_FLAGS)
        start2 = np.zeros((256, 256), dtype=bool)
        for a in range(128):
            if comp.match(chr(a), partial=True) is not None:
                for b in range(128):
                    start2[a, b] = comp.match(chr(a) + chr(b), partial=True) is not None
        joins = np.zeros(256, dtype=bool)
        for c in {*ext.lower(), *ext.upper(), " ", "\t"}:
            if ord(c) < 128:
                joins[ord(c)] = True
        return std_re.compile("(?:" + ext + ")", pnu._REGEX_FLAGS), start2, joins
    except Exception:
        return None


# ---------------------------------------------------------------------------------------------
# Presidio semantics reproduced on plain tuples


_START = operator.itemgetter(1)
_ROW_ORDER = operator.itemgetter(1, 2, 0)  # a result row's start, end, entity


def _dedup_key(r: list) -> tuple:
    return (r[0], r[1], r[1] - r[2], -r[3])


def remove_duplicates(results: list[list]) -> list[list]:
    """`EntityRecognizer.remove_duplicates` on result rows [entity, start, end, score, rec, ...].

    Zero scores go; a result contained in another of the same entity with an equal or higher
    score goes; identical (entity, start, end, score) rows collapse to one.

    Most calls remove nothing: when no two rows of one entity overlap (and none is empty or
    scores 0), no row is contained in, or identical to, another, and all are returned (in
    order of start; callers do not depend on the order of distinct rows).
    """
    rows = sorted(results, key=_START)
    ends: dict[str, int] = {}
    for r in rows:
        if r[3] == 0 or r[2] <= r[1] or r[1] < ends.get(r[0], -1):
            break
        ends[r[0]] = r[2]  # (no overlap so far: the ends of one entity only grow)
    else:
        return rows
    seen: dict[tuple, list] = {}
    for r in results:
        k = (r[1], r[2], r[3], r[0])
        if k not in seen:
            seen[k] = r
    rows = sorted(seen.values(), key=_dedup_key)  # entity, start, longest first, best first
    out: list[list] = []
    entity = None
    active: list[list] = []  # kept rows of this entity that may still contain the next ones
    for r in rows:
        if r[3] == 0:
            continue
        if r[0] != entity:
            entity, active = r[0], []
        elif active:
            s, e, score = r[1], r[2], r[3]
            if active[0][2] < s or active[-1][2] < s:
                active = [f for f in active if f[2] >= s]
            # every kept row starts at or before r (sorted by start)
            if any(e <= f[2] and score <= f[3] for f in active):
                continue
        out.append(r)
        active.append(r)
    return out


# ASCII characters that Python's `re` counts as whitespace (str.isspace) and the `regex` module
# does not (no Unicode White_Space): the only difference between the two on ASCII text
_RE_ONLY_SPACE = std_re.compile("[\x1c-\x1f]")


def _ascii_search(compiled) -> Any:
    """A search function for ASCII texts without `_RE_ONLY_SPACE` characters: the pattern
    compiled by Python's `re` (same flags) where it compiles, about twice as fast per call
    as the `regex` module Presidio uses, else `compiled.search`. On such texts the two engines
    agree: both are backtracking engines with the same leftmost-first semantics, and their
    classes (\\w, \\d, \\s, \\b, case folding) differ only outside ASCII, or for \\s on
    those four characters; `re` rejects the `regex`-only syntax (\\p{..}, variable-width
    look-behind, ...). Checked on every recognizer pattern by tests/test_fastpatterns.py."""
    try:
        return std_re.compile(compiled.pattern, compiled.flags & (std_re.I | std_re.M | std_re.S | std_re.X)).search
    except (std_re.error, TypeError, ValueError, OverflowError):
        return compiled.search


def _iban_rows(rec) -> Any:
    """For the stock `IbanRecognizer` (its own `analyze`), a function giving what its `analyze`
    returns on a text as (start, end, score) tuples, without building a RecognizerResult and
    an explanation for every group it tries; None for any other recognizer.

    It is `IbanRecognizer.__analyze_patterns` step by step: per pattern, per match (the
    `regex` module with the recognizer's flags and Presidio's timeout), per group from the last
    to the first, the span from the match's start to the group's end (the match's end where
    the group did not take part), skipping empty ones; the recognizer's own `validate_result`
    turns the pattern's score into MAX_SCORE or MIN_SCORE (None: unchanged), and the first
    span scoring above MIN_SCORE is the match's result."""
    from presidio_analyzer import EntityRecognizer
    from presidio_analyzer.predefined_recognizers import IbanRecognizer
    from presidio_analyzer.predefined_recognizers.generic import iban_recognizer as iban_module

    if type(rec).analyze is not IbanRecognizer.analyze or not rec.patterns:
        return None
    timeout = iban_module.REGEX_TIMEOUT_SECONDS
    pats = [(regex.compile(p.regex, rec.global_regex_flags), p.score, p.name) for p in rec.patterns]
    low_score, high_score = EntityRecognizer.MIN_SCORE, EntityRecognizer.MAX_SCORE
    validate = rec.validate_result

    def rows(text: str) -> list[tuple[int, int, float]]:
        out = []
        for comp, pattern_score, name in pats:
            try:
                for m in comp.finditer(text, timeout=timeout):
                    start, end0 = m.span(0)
                    for g in range(len(m.groups()), 0, -1):
                        gend = m.span(g)[1]
                        end = gend if gend > 0 else end0
                        if end <= start:  # (an empty span)
                            continue
                        v = validate(text[start:end])
                        score = pattern_score if v is None else (high_score if v else low_score)
                        if score > low_score:
                            out.append((start, end, score))
                            break
            except TimeoutError:
                log.warning("Regex pattern '%s' timed out after %s seconds, skipping.", name, timeout)
        return out

    return rows


# a dotted quad of decimal octets 0-255 without leading zeros (ASCII digits)
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_PLAIN_IPV4 = std_re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}").fullmatch


def _invalidator(rec) -> Any:
    """`rec.invalidate_result`, or for the stock `IpRecognizer` the same answers with its most
    common case taken first: its `ipaddress.ip_interface(text)` accepts every plain dotted quad
    (`_PLAIN_IPV4`: an `IPv4Address`, read as a /32 interface), so those are not invalid and
    only the other strings (IPv6, leading zeros, ...) go to Presidio's own method."""
    from presidio_analyzer.predefined_recognizers import IpRecognizer

    own = rec.invalidate_result
    if type(rec).invalidate_result is not IpRecognizer.invalidate_result:
        return own

    def invalidate(text: str) -> Any:
        return False if _PLAIN_IPV4(text) is not None else own(text)

    return invalidate


def _pattern_width(pattern: str, flags: int) -> int | None:
    """Maximum match width of a regex (None when unknown); `_UNBOUNDED` when unbounded."""
    try:
        lo, hi = sre_parse.parse(pattern, flags & (std_re.I | std_re.M | std_re.S)).getwidth()
    except Exception:
        return None
    return _UNBOUNDED if hi >= sre_parse.MAXREPEAT or hi > _UNBOUNDED else int(hi)


_SIMPLE_ESCAPES = set("dDwWsSbBAZ.-\\/()[]{}+*?|^$#&~:=!<>'\",@%_ ")
_QUANT = std_re.compile(r"(?:[*+?]|\{\d*(?:,\d*)?\})[?+]?")


def _items(pattern: str) -> list[tuple[str, str]] | None:
    """The top-level items of a regex as (atom, quantifier) strings, in order; None for a
    top-level alternation or a construct this reader does not know (it then changes nothing)."""
    items, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "|" or c in "*+?{":
            return None
        if c == "\\":
            e = pattern[i + 1 : i + 2]
            if e in ("p", "P") and pattern[i + 2 : i + 3] == "{":
                j = pattern.find("}", i) + 1
                if j == 0:
                    return None
            elif e and e in _SIMPLE_ESCAPES:
                j = i + 2
            else:
                return None
        elif c == "[":
            j = i + 1
            if pattern[j : j + 1] == "^":
                j += 1
            if pattern[j : j + 1] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                if pattern[j] == "[":
                    return None  # a nested set (regex V1)
                j += 2 if pattern[j] == "\\" else 1
            if j >= n:
                return None
            j += 1
        elif c == "(":
            depth, j = 0, i
            while j < n:
                ch = pattern[j]
                if ch == "\\":
                    j += 2
                    continue
                if ch == "[":
                    k = j + 1 + (pattern[j + 1 : j + 2] == "^")
                    k += pattern[k : k + 1] == "]"
                    while k < n and pattern[k] != "]":
                        k += 2 if pattern[k] == "\\" else 1
                    j = k + 1
                    continue
                depth += ch == "("
                depth -= ch == ")"
                j += 1
                if depth == 0:
                    break
            if depth:
                return None
        elif c == ")":
            return None
        else:
            j = i + 1
        m = _QUANT.match(pattern, j)
        k = m.end() if m else j
        items.append((pattern[i:j], pattern[j:k]))
        i = k
    return items


def _min_width(text: str, flags: int) -> int | None:
    try:
        return sre_parse.parse(text, flags & (std_re.I | std_re.M | std_re.S)).getwidth()[0]
    except Exception:
        return None


def _necessary_prefix(pattern: str, flags: int) -> str | None:
    """A regex every match of `pattern` starts with a match of, with fewer ends per start: the
    pattern's trailing bounded repeat X{m,n} read as X{m} (inside a trailing group too), once
    the items after it that can match empty are dropped (optional groups, lookaheads, which
    Hyperscan's prefilter mode drops anyway). Hyperscan reports every end of every match: a
    pattern ending in "[...]{25,59}" reports up to 35 ends per start, its prefix one. None
    when there is no such repeat, when a word boundary or an anchor ends the pattern (they
    already keep the ends few), or when the pattern is outside what `_items` reads."""
    items = _items(pattern) or []
    while True:  # drop the trailing items that can match empty, up to an anchor
        w = _min_width("".join(items[-1]), flags) if items else None
        if w is None:
            return None
        if w or items[-1][0] in ("\\b", "\\B", "$", "\\Z", "\\z"):
            break
        items.pop()
    atom, quant = items[-1]
    m = std_re.fullmatch(r"\{(\d+),(\d*)\}[?+]?", quant)
    if m and int(m.group(1)) >= 1 and m.group(2) != m.group(1):
        items[-1] = (atom, "{" + m.group(1) + "}")
    elif not quant and atom[:1] == "(" and (atom[:3] == "(?:" or atom[:2] != "(?" or atom[:4] == "(?P<"):
        head = atom[: 3 if atom[:3] == "(?:" else atom.index(">") + 1 if atom[:4] == "(?P<" else 1]
        inner = _necessary_prefix(atom[len(head) : -1], flags)
        if inner is None:
            return None
        items[-1] = (head + inner + ")", "")
    else:
        return None
    out = "".join(a + q for a, q in items)
    w = _min_width(out, flags)
    return out if w is not None and w > 0 else None


_LOOKBEHIND_CLASS = std_re.compile(r"\(\?<!(\[\^?(?:\\.|[^\]\\\[])+\]|\\[wdsWDS])\)")


def _consuming_lookbehind(expr: str) -> str | None:
    """`expr` with a leading negative lookbehind of one character class, `(?<!C)`, turned into
    a consumed character, `(?:^|[^C])`: Hyperscan compiles no look-behind exactly, and in
    prefilter mode it drops it (the IBAN pattern then gave 9,219 windows in the first 6,000
    corpus records instead of 1,870). For ASCII texts the consumed form matches wherever the
    pattern does: one character earlier, or at the start of the buffer; a text's start follows
    the "\n" that joins it to the one before, which [^C] takes when C does not hold "\n" (else
    None is returned). So reports still cover every match, their regions starting one
    character earlier (`_db` widens them). None also when `expr` does not start so."""
    m = _LOOKBEHIND_CLASS.match(expr)
    if m is None:
        return None
    cls = m.group(1)
    try:
        if std_re.fullmatch(cls, "\n"):
            return None
    except std_re.error:
        return None
    if cls.startswith("\\"):
        neg = "\\" + cls[1].swapcase()
    elif cls.startswith("[^"):
        neg = "[" + cls[2:]
    else:
        neg = "[^" + cls[1:]
    return "(?:^|" + neg + ")" + expr[m.end() :]


def _barrier_chars(compiled) -> str:
    """Whitespace characters that no match of the pattern can contain (so a match lies
    between two of them)."""
    out = ""
    for c in _WS:
        try:
            if compiled.search(c) is None and not _can_contain(compiled.pattern, c):
                out += c
        except Exception:
            pass
    return out


def _can_contain(pattern: str, ch: str) -> bool:
    """Conservative: can any single-character atom of `pattern` match `ch`?"""
    try:
        tree = sre_parse.parse(pattern)
    except Exception:
        return True
    code = ord(ch)

    def atoms(seq):
        for op, av in seq:
            name = str(op)
            if name in ("LITERAL",):
                yield lambda c, v=av: c == v
            elif name == "NOT_LITERAL":
                yield lambda c, v=av: c != v
            elif name == "ANY":
                yield lambda c: True
            elif name in ("IN",):
                yield lambda c, items=av: _in_class(c, items)
            elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                yield from atoms(av[2])
            elif name == "SUBPATTERN":
                yield from atoms(av[-1])
            elif name == "BRANCH":
                for b in av[1]:
                    yield from atoms(b)
            elif name in ("ATOMIC_GROUP",):
                yield from atoms(av)
            elif name in ("GROUPREF", "GROUPREF_EXISTS"):
                yield lambda c: True
            elif name in ("ASSERT", "ASSERT_NOT", "AT"):
                continue
            else:
                yield lambda c: True

    return any(f(code) for f in atoms(tree))


def _in_class(code: int, items) -> bool:
    neg = False
    hit = False
    for op, av in items:
        name = str(op)
        if name == "NEGATE":
            neg = True
        elif name == "LITERAL":
            hit |= code == av
        elif name == "RANGE":
            hit |= av[0] <= code <= av[1]
        elif name == "CATEGORY":
            cat = str(av)
            ch = chr(code)
            if "SPACE" in cat:
                m = ch.isspace()
            elif "DIGIT" in cat:
                m = ch.isdigit()
            elif "WORD" in cat:
                m = ch.isalnum() or ch == "_"
            else:
                m = True
            hit |= (not m) if "NOT" in cat else m
        else:
            hit = True
    return hit != neg


def _to_hs_flags(py_flags: int) -> int:
    import hyperscan as hs

    f = hs.HS_FLAG_MULTILINE  # texts are joined with "\n": ^/$ must match at every text edge
    if py_flags & regex.IGNORECASE:
        f |= hs.HS_FLAG_CASELESS
    if py_flags & regex.DOTALL:
        f |= hs.HS_FLAG_DOTALL
    return f


# ---------------------------------------------------------------------------------------------
# The compiled engine


@dataclass
class _Pat:
    """One Hyperscan expression: a recognizer's regex, or a candidate regex of a windowed one."""

    rec: int
    index: int  # index in the recognizer's patterns (-1: candidate regex of a windowed recognizer)
    hs_expr: str
    hs_flags: int
    compiled: Any = None  # regex-module pattern used to confirm (pattern kind)
    score: float = 0.0
    name: str = ""
    width: int | None = None
    barriers: str = ""
    modes: dict = field(default_factory=dict)  # db kind -> 'som' | 'end' | 'full'
    phone: bool = False
    hs_width: int | None = None  # widest match of hs_expr (when it is a necessary prefix)
    hs_ext: int = 0  # how far a match can reach past the end of its prefix's match
    ascii_search: Any = None  # `compiled.search`, or the same pattern in `re` (`_ascii_search`)


@dataclass
class _Rec:
    obj: Any
    kind: str  # 'pattern' | 'windowed' | 'opaque'
    entity: str
    name: str
    context: list[str]
    validates: bool
    invalidates: bool
    window_pad: tuple[int, int] = (8, 32)
    phone: bool = False
    invalidate: Any = None  # obj.invalidate_result, or an exact shortcut of it (`_invalidator`)


class FastPatternEngine:
    """Presidio's analyzer results for a registry's recognizers, via one Hyperscan scan per batch."""

    def __init__(self, recognizers: Sequence[Any], entities: Sequence[str], threshold: float, nlp=None):
        from presidio_analyzer import PatternRecognizer
        from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
        from presidio_analyzer.predefined_recognizers import PhoneRecognizer

        enh = LemmaContextAwareEnhancer()
        self.ctx_factor = enh.context_similarity_factor
        self.ctx_min = enh.min_score_with_context_similarity
        self.ctx_prefix = enh.context_prefix_count
        self.ctx_suffix = enh.context_suffix_count
        self.ctx_mode = enh.context_matching_mode
        self.threshold = threshold
        self.entities = list(entities)
        self.nlp = nlp if nlp is not None else _lemma_component()
        self.tokenizer = self.nlp.tokenizer
        self._kw_cache: dict[str, bool] = {}
        from spacy.attrs import IS_PUNCT, IS_STOP

        getters = getattr(self.nlp.vocab, "lex_attr_getters", None) or {}
        self._flag_getters = (getters[IS_STOP], getters[IS_PUNCT]) if IS_STOP in getters and IS_PUNCT in getters else None
        self._phone_memo: dict[tuple, Any] = {}
        self._strings: dict[int, str] = {}
        self._phone_fast_memo: dict[str, Any] = {}
        self._classes: dict[Any, np.ndarray] = {}  # FastPhone -> its `_char_classes` table

        self.recs: list[_Rec] = []
        self.pats: list[_Pat] = []
        self._phone_min = 99
        # Presidio's registry hands recognizers out of a set, in an order that changes from one
        # process to the next; a fixed order keeps the Hyperscan database (and its cache key)
        # the same. The analyzer's results do not depend on the order (they are sorted and
        # de-duplicated), but for identical rows of two recognizers, which one is named.
        recognizers = sorted(recognizers, key=lambda r: (r.name, tuple(r.supported_entities), type(r).__name__))
        for rec in recognizers:
            if not set(rec.supported_entities) & set(self.entities):
                continue
            entity = rec.supported_entities[0]
            ctx = list(rec.context or [])
            if isinstance(rec, PatternRecognizer):
                inherited = type(rec).analyze is PatternRecognizer.analyze
                r = _Rec(
                    rec,
                    "pattern" if inherited else "windowed",
                    entity,
                    rec.name,
                    ctx,
                    type(rec).validate_result is not PatternRecognizer.validate_result,
                    type(rec).invalidate_result is not PatternRecognizer.invalidate_result,
                )
                r.invalidate = _invalidator(rec)
                ri = len(self.recs)
                self.recs.append(r)
                for pi, p in enumerate(rec.patterns):
                    flags = rec.global_regex_flags or 0
                    comp = regex.compile(p.regex, flags)
                    width = _pattern_width(p.regex, flags)
                    pat = _Pat(
                        ri,
                        pi if inherited else -1,
                        p.regex,
                        _to_hs_flags(flags),
                        comp,
                        p.score,
                        p.name,
                        width,
                        _barrier_chars(comp),
                        hs_width=width,
                    )
                    # a bounded pattern whose matches have a necessary prefix: Hyperscan scans
                    # for the prefix, and regions reach as far past its end as a match can
                    prefix = _necessary_prefix(p.regex, flags) if width is not None and width < _UNBOUNDED else None
                    if prefix is not None:
                        pw, pmin = _pattern_width(prefix, flags), _min_width(prefix, flags)
                        if pw is not None and pw < _UNBOUNDED and pmin:
                            pat.hs_expr, pat.hs_width, pat.hs_ext = prefix, pw, width - pmin
                    pat.ascii_search = _ascii_search(comp)
                    self.pats.append(pat)
            elif isinstance(rec, PhoneRecognizer) and type(rec).analyze is PhoneRecognizer.analyze:
                ri = len(self.recs)
                self.recs.append(_Rec(rec, "windowed", entity, rec.name, ctx, False, False, (8, 40), phone=True))
                self.pats.append(_Pat(ri, -1, "", 0, None, 0.0, "phone-candidate", _UNBOUNDED, "\n\r", phone=True))
                self._phone_min = min(self._phone_min, _phone_min_digits(rec.supported_regions, rec.leniency))
            else:
                log.warning("recognizer %s is not a pattern recognizer: it runs on whole texts", rec.name)
                self.recs.append(_Rec(rec, "opaque", entity, rec.name, ctx, False, False))
        self._opaque = [i for i, r in enumerate(self.recs) if r.kind == "opaque"]
        # Recognizers whose matches can only reach the threshold with a context boost (no
        # validator that could raise the score, every pattern scoring below the threshold), and
        # whether they have context words. Where none of those occurs in a segment, no match
        # of theirs is reported, and a result under the threshold changes no other result
        # (`remove_duplicates` only drops a result for one of the same entity with an equal or
        # higher score), so their regions are not even confirmed (`_analyze_text`).
        self._weak = {  # recognizer -> whether it has context words
            ri: bool(r.context)
            for ri, r in enumerate(self.recs)
            if r.kind == "pattern"
            and not r.validates
            and all(p.score < threshold for p in self.pats if p.rec == ri)
        }
        # windowed recognizers whose own `analyze` is reproduced without result objects
        self._own_rows = {
            ri: f for ri, r in enumerate(self.recs) if r.kind == "windowed" and (f := _iban_rows(r.obj)) is not None
        }
        self._confirm = {  # the other windowed pattern recognizers: their compiled patterns
            ri: [p.compiled for p in self.pats if p.rec == ri and p.compiled is not None]
            for ri, r in enumerate(self.recs)
            if r.kind == "windowed" and not r.phone and ri not in self._own_rows
        }
        self._dbs: dict[str, Any] = {}
        self._full_pats: dict[str, list[int]] = {}
        self._run_pats: dict[str, list[int]] = {}
        self._hs_som: dict[str, Any] = {}
        self._hs_width: dict[str, Any] = {}
        self._hs_ext: dict[str, Any] = {}
        self._hs_barriers: dict[str, list] = {}
        self._db("ascii")  # compile now: errors surface at construction, not mid-scan

    # -- Hyperscan databases ------------------------------------------------------------------

    def _db(self, kind: str):
        """The Hyperscan databases for ASCII texts or (UTF-8, Unicode classes) for the others:
        (main database and its scratch, both None when no pattern is in it; weak databases;
        words).

        The patterns of a recognizer in `_weak` (reported only with a context word) have a
        database of their own, [(recognizer, its lower-cased context words, database,
        scratch)], scanned only over the texts where one of those words occurs (`_weak_hits`;
        for ASCII texts `words`, one caseless literal database of all those words, says
        where): elsewhere `_analyze_text` finds the recognizer quiet. This needs the context
        pre-check and words of ASCII without line breaks; and a recognizer with a word of one
        or two characters (the passport recognizer's "us") stays in the main database, since
        such a word occurs inside most texts (a scan of its own would cost more than it saves).

        Compiling the URL patterns takes seconds, so compiled databases are cached on disk
        (`WORKBENCH_CACHE`, default ~/.cache/workbench) keyed by the patterns and flags.
        """
        if kind in self._dbs:
            return self._dbs[kind]
        import hyperscan as hs

        unicode = kind == "unicode"
        extra = (hs.HS_FLAG_UTF8 | hs.HS_FLAG_UCP) if unicode else 0
        check, lowered = self._ctx_precheck()
        # (a context word of 1-2 characters, such as the passport recognizer's "us", occurs
        # inside most texts: such recognizers stay in the main database)
        weak_recs = sorted(
            ri
            for ri, has in self._weak.items()
            if has and check.enabled and all(len(w) >= 3 and w.isascii() and "\n" not in w for w in lowered[ri])
        )
        # database of each pattern: 0 the main one, n > 0 the n-th weak recognizer's
        group = [weak_recs.index(p.rec) + 1 if p.rec in weak_recs else 0 for p in self.pats]
        todo = []
        lead = np.zeros(len(self.pats), dtype=np.int64)  # characters a report may start early
        for i, p in enumerate(self.pats):
            if p.phone and not unicode:  # ASCII digit runs: found with numpy (`_digit_runs`)
                todo.append((None, 0, False, False, 0))
                continue
            expr = _phone_candidate(self._phone_min) if p.phone else p.hs_expr
            if not unicode and not p.phone:
                consuming = _consuming_lookbehind(expr)
                if consuming is not None:
                    expr, lead[i] = consuming, 1
            base = (hs.HS_FLAG_MULTILINE | hs.HS_FLAG_CASELESS | extra) if p.phone else (p.hs_flags | extra)
            width = p.hs_width is not None and p.hs_width < _UNBOUNDED
            # (bounded: a region can start without the report's start; tight: it stays short,
            # at most the pattern's width or a whitespace-delimited chunk)
            todo.append((expr, base, width or bool(p.barriers), width or " " in p.barriers, group[i]))
        key = hashlib.sha256(
            json.dumps([kind, getattr(hs, "__version__", ""), todo], sort_keys=True).encode()
        ).hexdigest()[:32]
        n_dbs = 1 + len(weak_recs)
        cached = _cache_load(key)
        if cached is not None and len(cached[1]) == n_dbs:
            modes, blobs = cached
            dbs = [hs.loadb(blob, hs.HS_MODE_BLOCK) if blob else None for blob in blobs]
        else:
            modes = []
            parts: list[tuple[list, list, list]] = [([], [], []) for _ in range(n_dbs)]  # expressions, ids, flags
            for i, (expr, base, bounded, tight, g) in enumerate(todo):
                if expr is None:
                    modes.append("runs")
                    continue
                mode = "full"
                if not regex.search(r"\\[AZz]|\\G", expr):
                    tries = [("som", hs.HS_FLAG_SOM_LEFTMOST), ("end", 0)]
                    if bounded:
                        tries.append(("end", hs.HS_FLAG_PREFILTER))
                    for m, f in tries:
                        alone = hs.Database()
                        try:
                            alone.compile(expressions=[expr.encode()], ids=[i], flags=[base | f])
                        except Exception:
                            continue
                        if m == "som" and tight and _som_costly(hs, alone, expr.encode(), base):
                            continue  # (the next try, "end" without a flag, compiles: same syntax)
                        mode = m
                        for lst, x in zip(parts[g], (expr.encode(), i, base | f)):
                            lst.append(x)
                        break
                modes.append(mode)
            dbs, blobs = [], []
            for exprs, ids, flags in parts:
                db = None
                if exprs:
                    db = hs.Database()
                    db.compile(expressions=exprs, ids=ids, flags=flags)
                dbs.append(db)
                blobs.append(hs.dumpb(db) if db is not None else b"")
            _cache_store(key, modes, blobs)
        for p, mode in zip(self.pats, modes):
            if mode == "full":
                log.warning("pattern %r of %s runs without Hyperscan (slow)", p.name, self.recs[p.rec].name)
            p.modes[kind] = mode
        self._run_pats[kind] = [i for i, m in enumerate(modes) if m == "runs"]
        self._full_pats[kind] = [i for i, p in enumerate(self.pats) if p.modes[kind] == "full"]
        # per pattern, how a report's region starts (see _scan_chunk)
        self._hs_som[kind] = np.array([p.modes[kind] == "som" for p in self.pats], dtype=bool)
        self._hs_width[kind] = np.array(
            [p.hs_width if p.hs_width is not None and p.hs_width < _UNBOUNDED else -1 for p in self.pats],
            dtype=np.int64,
        )
        self._hs_width[kind] += np.where(self._hs_width[kind] >= 0, lead, 0)
        self._hs_ext[kind] = np.array([p.hs_ext for p in self.pats], dtype=np.int64)
        groups: dict[str, list[int]] = {}
        for i, p in enumerate(self.pats):
            if p.modes[kind] == "end" and self._hs_width[kind][i] < 0 and p.barriers:
                groups.setdefault(p.barriers, []).append(i)
        self._hs_barriers[kind] = []  # (per byte: one of the barrier characters' bytes, patterns)
        for b, m in groups.items():
            table = np.zeros(256, dtype=bool)
            table[np.frombuffer(b.encode(), dtype=np.uint8)] = True
            self._hs_barriers[kind].append((table, np.array(m, dtype=np.int64)))
        main = dbs[0]
        weak = [(ri, lowered[ri], db, hs.Scratch(db)) for ri, db in zip(weak_recs, dbs[1:]) if db is not None]
        words = None  # ASCII texts: one scan for where the weak recognizers' words occur
        if weak and not unicode:
            lits = [(k, w) for k, (_, ws, _, _) in enumerate(weak) for w in ws]
            wdb = hs.Database()
            wdb.compile(
                expressions=["".join(c if c.isalnum() else f"\\x{ord(c):02x}" for c in w).encode() for _, w in lits],
                ids=list(range(len(lits))),
                flags=[hs.HS_FLAG_CASELESS] * len(lits),
            )
            words = (wdb, hs.Scratch(wdb), np.array([k for k, _ in lits], dtype=np.int64))
        self._dbs[kind] = (main, hs.Scratch(main) if main is not None else None, weak, words)
        return self._dbs[kind]

    # -- Scanning -------------------------------------------------------------------------------

    def analyze_batch(self, texts: Sequence[str]) -> list[list[list]]:
        """Per text: result rows [entity, start, end, score, rec_index, context_word].

        The cyclic garbage collector is paused for the batch: the engine allocates millions of
        small acyclic objects (rows, tuples, cache entries), and each automatic collection would
        walk the large, long-lived caches again (3% of the engine's time on a 2 MB sample, more
        as the caches grow)."""
        with _gc_paused():
            return self._analyze_batch(texts)

    def _analyze_batch(self, texts: Sequence[str]) -> list[list[list]]:
        out: list[list[list]] = [[] for _ in texts]
        regions: list[list[list[tuple[int, int]]]] = [None] * len(texts)  # type: ignore[list-item]
        direct: dict[int, list[list]] = {}  # text -> phone rows decided without a window
        odd: set[int] = set()  # ASCII texts with characters `re` and `regex` classify differently
        asc = [i for i, t in enumerate(texts) if t and t.isascii()]
        uni = [i for i, t in enumerate(texts) if t and not t.isascii()]
        uni_set = set(uni)
        pending: list = []  # plain digit runs of each chunk, waiting for the batch's digit verdicts
        for kind, idx in (("ascii", asc), ("unicode", uni)):
            start = 0
            while start < len(idx):
                chunk, size = [], 0
                while start < len(idx) and (not chunk or size + len(texts[idx[start]]) <= SCAN_CHARS):
                    chunk.append(idx[start])
                    size += len(texts[idx[start]]) + 1
                    start += 1
                self._scan_chunk(kind, [texts[i] for i in chunk], chunk, regions, direct, odd, pending)
        if pending:
            self._finish_runs(pending, regions)
        for i, t in enumerate(texts):
            if t:
                kind = "unicode" if i in uni_set else "ascii"
                out[i] = self._analyze_text(t, regions[i], kind, direct.get(i), kind == "ascii" and i not in odd)
        return out

    def _scan_chunk(self, kind, chunk_texts, chunk_idx, regions, direct, odd, pending) -> None:
        """One Hyperscan scan over the chunk's texts joined by "\n"; `regions[i]` becomes
        {pattern: [(start, end), ...]}: the disjoint regions (character offsets in text i) that
        hold every match of that pattern, each report widened to where a match can start. ASCII
        texts holding one of `_RE_ONLY_SPACE`'s characters are added to `odd`. The regions of
        plain digit runs wait in `pending` (see `_digit_runs`)."""
        db, scratch, weak, words = self._db(kind)
        if kind == "unicode":
            try:
                encoded = [t.encode("utf-8") for t in chunk_texts]
            except UnicodeEncodeError:
                encoded = []
                for t in chunk_texts:
                    try:
                        encoded.append(t.encode("utf-8"))
                    except UnicodeEncodeError:  # lone surrogates: no Hyperscan, whole text
                        encoded.append(b"")
            buf = b"\n".join(encoded)
            joined = None  # (no digit runs: Hyperscan finds phone candidates here)
        else:
            joined = "\n".join(chunk_texts)  # ASCII: character offsets are byte offsets
            buf = joined.encode("ascii")
            encoded = chunk_texts  # (no text is left out of the scan)
        for j, i in enumerate(chunk_idx):
            regions[i] = {}
            if not encoded[j] and chunk_texts[j]:
                regions[i] = None  # marker: scan every pattern over the whole text
        run_pats = self._run_pats[kind]
        if db is None and not run_pats and not weak:
            return
        raw = np.frombuffer(buf, dtype=np.uint8)
        sizes = [len(t) + 1 for t in chunk_texts]  # (characters; bytes too for ASCII)
        starts = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(sizes, out=starts[1:])
        if kind == "ascii":
            at = np.flatnonzero((raw - np.uint8(0x1C)) < 4)  # \x1c-\x1f (`_RE_ONLY_SPACE`)
            if len(at):
                odd.update(chunk_idx[j] for j in set((np.searchsorted(starts, at, side="right") - 1).tolist()))
        if run_pats:
            self._digit_runs(raw, joined, starts, chunk_idx, regions, run_pats, direct, pending)
        hits: list[int] = []  # pattern, start, end of each report, flat (a third less work
        add = hits.extend  # than a tuple per report, here and in the conversion below)
        if db is not None:
            db.scan(buf, match_event_handler=lambda pid, frm, to, fl, ctx: add((pid, frm, to)), scratch=scratch)
        arrs = [np.array(hits, dtype=np.int64).reshape(-1, 3)] if hits else []
        if weak:
            arrs += self._weak_hits(kind, weak, words, chunk_texts, encoded, buf)
        if not arrs:
            return
        arr = arrs[0] if len(arrs) == 1 else np.concatenate(arrs)
        pid, frm, to = arr[:, 0], arr[:, 1], arr[:, 2]
        if kind == "unicode":  # byte offsets -> character offsets of the joined string
            cidx = np.cumsum((raw & 0xC0) != 0x80) - 1
            frm, to = cidx[frm], cidx[to - 1] + 1
        else:
            cidx = None
        seg = np.searchsorted(starts, to - 1, side="right") - 1
        text_start = starts[seg]
        to = np.minimum(to, starts[seg + 1] - 1)  # a report on the joining "\n" ends at the text
        # where a match ending at `to` can start: the report's own start (start-of-match mode),
        # `to` minus the pattern's widest match, or just after the last character before `to`
        # the pattern cannot contain; never before the text
        width = self._hs_width[kind][pid]
        begin = np.where(width >= 0, to - width, text_start)
        begin = np.where(self._hs_som[kind][pid], frm, begin)
        for table, members in self._hs_barriers[kind]:
            sel = np.flatnonzero(np.isin(pid, members))
            if not len(sel):
                continue
            bpos = np.flatnonzero(np.take(table, raw))
            if not len(bpos):
                continue  # no barrier anywhere: regions start at their text's start
            if cidx is not None:
                bpos = cidx[bpos]
            k = np.searchsorted(bpos, to[sel], side="left") - 1
            found = np.where(k >= 0, bpos[np.maximum(k, 0)] + 1, 0)
            begin[sel] = np.maximum(begin[sel], found)
        begin = np.maximum(begin, text_start)
        # a report of a necessary prefix: the match may reach further (never past its text)
        to = np.minimum(to + self._hs_ext[kind][pid], starts[seg + 1] - 1)
        # merge the regions of one pattern (in one text: a region never leaves its text)
        span = int(starts[-1]) + 1
        key_s, key_e = pid * span + begin, pid * span + to
        order = np.lexsort((key_e, key_s))
        key_s, key_e = key_s[order], key_e[order]
        reach = np.maximum.accumulate(key_e)
        first = np.ones(len(order), dtype=bool)
        first[1:] = key_s[1:] > reach[:-1]
        heads = np.flatnonzero(first)
        tails = np.append(heads[1:], len(order)) - 1
        r_pid = pid[order][heads]
        r_seg = seg[order][heads]
        r_s = begin[order][heads] - text_start[order][heads]
        r_e = reach[tails] - r_pid * span - text_start[order][heads]
        ok = r_e > r_s
        key = r_pid[ok] * len(sizes) + r_seg[ok]  # (pattern, text) groups, contiguous
        _group_regions(key, r_seg[ok], r_s[ok], r_e[ok], chunk_idx, regions, None, r_pid[ok])

    def _weak_hits(self, kind, weak, words, chunk_texts, encoded, buf) -> list:
        """Reports (pattern, start, end; offsets in `buf`) of the weak recognizers' databases
        (`_db`), each scanned only over the chunk's texts holding one of its context words,
        the texts where `_analyze_text` does not find it quiet (`ContextPrecheck.lowered`, then
        `occurrences`; a text whose lower-casing changes its length is never quiet). Those
        texts are joined by "\n" as in `buf`, so each is scanned as there. ASCII texts: the
        words (ASCII, lower-case, no line break) are found by one caseless Hyperscan scan of
        `buf`, which finds them where the texts' lower-cased forms hold them."""
        check, _ = self._ctx_precheck()
        n = len(chunk_texts)
        bstarts = [0]  # where each text starts in `buf` (bytes)
        for e in encoded:
            bstarts.append(bstarts[-1] + len(e) + 1)
        on_of: list[list[int]] = [[] for _ in weak]  # per weak database, its texts
        if kind == "ascii":
            ends: list[int] = []
            add_end = ends.extend
            wdb, wscratch, word_group = words
            wdb.scan(buf, match_event_handler=lambda k, frm, to, fl, ctx: add_end((k, to)), scratch=wscratch)
            if ends:
                hit = np.array(ends, dtype=np.int64).reshape(-1, 2)
                text = np.searchsorted(np.array(bstarts, dtype=np.int64), hit[:, 1] - 1, side="right") - 1
                pairs = np.unique(word_group[hit[:, 0]] * (n + 1) + text)  # (database, text), sorted
                for g, t in zip((pairs // (n + 1)).tolist(), (pairs % (n + 1)).tolist()):
                    on_of[g].append(t)
        else:
            lows = [check.lowered(t, 0, len(t)) if e else "" for t, e in zip(chunk_texts, encoded)]
            for g, (_, ws, _, _) in enumerate(weak):
                on_of[g] = [j for j, lw in enumerate(lows) if encoded[j] and (lw is None or any(w in lw for w in ws))]
        out = []
        for on, (_, _, db, scratch) in zip(on_of, weak):
            if not on:
                continue
            got: list[int] = []
            add = got.extend
            handler = lambda pid, frm, to, fl, ctx: add((pid, frm, to))  # noqa: E731
            if len(on) == n:
                db.scan(buf, match_event_handler=handler, scratch=scratch)
            elif kind == "ascii":
                part = "\n".join([chunk_texts[j] for j in on]).encode("ascii")
                db.scan(part, match_event_handler=handler, scratch=scratch)
            else:
                db.scan(b"\n".join([encoded[j] for j in on]), match_event_handler=handler, scratch=scratch)
            if not got:
                continue
            arr = np.array(got, dtype=np.int64).reshape(-1, 3)
            if len(on) < n:  # offsets in the joined texts -> offsets in `buf`
                full = np.array([bstarts[j] for j in on], dtype=np.int64)
                sub = np.zeros(len(on), dtype=np.int64)
                np.cumsum([bstarts[j + 1] - bstarts[j] for j in on[:-1]], out=sub[1:])
                k = np.searchsorted(sub, arr[:, 2] - 1, side="right") - 1
                shift = full[k] - sub[k]
                arr[:, 1] += shift
                arr[:, 2] += shift
            out.append(arr)
        return out

    def _digit_runs(self, raw, joined, starts, chunk_idx, regions, run_pats, direct, pending) -> None:
        """Phone candidates of ASCII texts, vectorised: maximal runs of digits in which every
        gap is at most 4 characters of libphonenumber's punctuation (the same runs as
        `_phone_candidate`), with at least `_phone_min` digits; one region per run.

        Plain runs are decided without a window (`_plain_runs`, `_direct_phone`); the others
        become regions, for libphonenumber's matcher loop on a window (`_phone_window`). Where
        plain runs need the digit verdicts of `FastPhone.digit_validity`, the chunk's runs wait
        in `pending` for `_finish_runs`, which asks once for the whole batch (the verdicts cost
        mostly per call, per group of equal length and region, not per string)."""
        is_digit = (raw - np.uint8(48)) < 10  # ASCII 0-9 (uint8 wraps below '0'; faster than a table)
        pos = np.flatnonzero(is_digit)
        if len(pos) < self._phone_min:
            return
        phone = self._plain_phone(run_pats)
        # one table lookup for the character classes the phone stages test (`_char_classes`)
        cls = np.take(self._char_classes(phone[1]), raw) if phone is not None else None
        punct = (cls & _C_PUNCT) != 0 if cls is not None else _ASCII_PHONE_PUNCT[raw]
        other = np.zeros(len(raw) + 1, dtype=np.int32)
        np.cumsum(~(is_digit | punct), out=other[1:])
        gap = pos[1:] - pos[:-1] - 1
        brk = np.flatnonzero((gap > 4) | (other[pos[1:]] != other[pos[:-1] + 1]))
        heads = np.concatenate(([0], brk + 1))
        tails = np.concatenate((brk, [len(pos) - 1]))
        keep = (tails - heads + 1) >= self._phone_min
        heads, tails = heads[keep], tails[keep]
        run_s, run_e = pos[heads], pos[tails] + 1
        if not len(run_s):
            return
        seg = np.searchsorted(starts, run_s, side="right") - 1
        base = starts[seg]
        if phone is not None:
            ri, fast = phone
            plain, cstart = self._plain_runs(fast, raw, cls, joined, starts, pos, heads, tails, run_s, run_e, seg)
            sel = np.flatnonzero(plain)
            todo = self._direct_phone(
                ri, fast, chunk_idx, seg[sel], cstart[sel], run_s[sel], run_e[sel], tails[sel] - heads[sel] + 1,
                is_digit, starts, raw, cls, joined, direct,
            )
            pending.append((fast, todo, plain, sel, seg, run_s - base, run_e - base, chunk_idx, run_pats))
            return
        _group_regions(seg, seg, run_s - base, run_e - base, chunk_idx, regions, run_pats)

    def _finish_runs(self, pending: list, regions) -> None:
        """The plain digit runs of every chunk (`_digit_runs`): one `digit_validity` call for all
        their digit strings (one FastPhone: `_plain_phone` needs a single phone recognizer), then
        each chunk's phone rows, and its regions of the runs left to a window."""
        fast = pending[0][0]
        digits = [d for p in pending for d in p[1][-1]]
        if digits:  # (bit k of a string's int: valid in region k)
            bits = fast.digit_validity(digits) @ (1 << np.arange(len(fast.regions), dtype=np.int64))
        done = 0
        for _, todo, plain, sel, seg, rs, re_, chunk_idx, run_pats in pending:
            n = len(todo[-1])
            got = bits[done : done + n] if n else None
            done += n
            back = self._direct_verdicts(todo, got)
            plain[sel[back]] = False
            rest = np.flatnonzero(~plain)
            _group_regions(seg[rest], seg[rest], rs[rest], re_[rest], chunk_idx, regions, run_pats)

    def _plain_phone(self, run_pats):
        """(recognizer index, FastPhone) for `_plain_runs`, or None when it does not apply: it
        needs one phone recognizer, fastphone's verdicts and libphonenumber's internals as
        `_phone_extension` expects (and region sets that fit the bits of an int64)."""
        if _phone_extension() is None or not _phone_internals_ok() or len(run_pats) != 1:
            return None
        ri = self.pats[run_pats[0]].rec
        rec = self.recs[ri]
        fast = _fast_phone(rec.obj.supported_regions, rec.obj.leniency)
        if not fast.enabled or len(fast.regions) > 62:
            return None
        return ri, fast

    def _char_classes(self, fast) -> np.ndarray:
        """Per byte, the classes the phone stages test, as bits: libphonenumber's punctuation
        (`_C_PUNCT`), `fast`'s lead characters (`_C_LEAD`), characters an extension may hold
        (`_C_JOIN`), split characters (`_C_SPLIT`); built once per FastPhone."""
        table = self._classes.get(fast)
        if table is None:
            _, _, joins = _phone_extension()
            table = self._classes[fast] = (
                _ASCII_PHONE_PUNCT * _C_PUNCT + fast.ascii_lead * _C_LEAD + joins * _C_JOIN + _ASCII_SPLIT * _C_SPLIT
            ).astype(np.uint8)
        return table

    def _plain_runs(self, fast, raw, cls, joined, starts, pos, heads, tails, run_s, run_e, seg):
        """Which runs are plain: libphonenumber's matcher, for every region, sees the run as one
        candidate, exactly its characters, whatever it decided before. Such a run has at most
        20 digits (so at most 20 digit blocks of at most 20 digits: `_PATTERN` takes all of it)
        and no 'x' (`_SECOND_NUMBER_START_PATTERN` cannot cut it); a candidate holding its
        first digit starts there when the characters before it that `_PATTERN` could start with
        (punctuation and lead characters) hold no lead character '(', '[' or '+', else at the
        first lead character of that stretch where `_PATTERN` matches, which must then take
        exactly up to the run's end with no second number in it; no extension follows it
        (`_EXTN_PATTERNS_FOR_MATCHING` does not match at its end); and no extension of a
        candidate ending at the last digit before it reaches it (runs are maximal, so only an
        extension can carry a candidate across the gap before it). Returns (boolean mask,
        candidate starts); `joined` is the chunk's texts joined by "\n" (offsets as in `raw`)."""
        ext_re, start2, _ = _phone_extension()
        n = len(raw)
        # (counts of the rare 'x' and lead characters before a position: where it sorts among them)
        xs = np.flatnonzero((raw | 0x20) == ord("x"))
        x_s = np.searchsorted(xs, run_s)
        ok = ((tails - heads + 1) <= 20) & (np.searchsorted(xs, run_e) == x_s)
        # the stretch of punctuation/lead characters before each run (from just after the last
        # other character before it): no lead character in it
        others = np.flatnonzero((cls & (_C_PUNCT | _C_LEAD)) == 0)
        k = np.searchsorted(others, run_s) - 1  # the last one before the run
        before = np.where(k >= 0, others[np.maximum(k, 0)] + 1, 0)
        leads = np.flatnonzero((cls & _C_LEAD) != 0)
        no_lead = np.searchsorted(leads, run_s) == np.searchsorted(leads, before)
        led = np.flatnonzero(ok & ~no_lead & (x_s == np.searchsorted(xs, before)))
        ok &= no_lead
        text_end = starts[seg + 1] - 1
        cstart = run_s.copy()
        if len(led):
            # a lead character before the run: the candidate starts at the first position of
            # the stretch where libphonenumber's own pattern matches, and must end where the
            # run does (no extension) and hold no second number
            from phonenumbers import phonenumbermatcher as pm

            pattern, second = pm._PATTERN.match, pm._SECOND_NUMBER_START_PATTERN.search
            for i in led.tolist():
                a, b, te = int(before[i]), int(run_e[i]), int(text_end[i])
                for q in range(a, int(run_s[i])):
                    if joined[q] in "([+":
                        m = pattern(joined, q, te)
                        if m is not None:
                            if m.end() == b and second(joined, q, b) is None:
                                cstart[i] = q
                                ok[i] = True
                            break
        # an extension after the run: where its next two characters can start one, ask the regex
        nxt = start2[raw[np.minimum(run_e, n - 1)], raw[np.minimum(run_e + 1, n - 1)]]
        check = np.flatnonzero(ok & (run_e < text_end) & nxt)
        # an extension from the previous digit (in the same text) reaching the candidate: only
        # where every character between them may lie inside an extension, ask the regex
        prev_digit = np.where(heads > 0, pos[np.maximum(heads - 1, 0)], -1)
        alien = np.zeros(n + 1, dtype=np.int32)
        np.cumsum((cls & _C_JOIN) == 0, out=alien[1:])
        inside = prev_digit >= starts[seg]
        q1 = np.where(inside, prev_digit + 1, 0)
        # (an extension there starts with two characters `start2` allows: it is 2 or more long)
        can = start2[raw[np.minimum(q1, n - 1)], raw[np.minimum(q1 + 1, n - 1)]]
        reach = np.flatnonzero(ok & inside & can & (alien[cstart] == alien[q1]))
        if len(check) or len(reach):
            match = ext_re.match
            for i in check.tolist():
                if match(joined, int(run_e[i]), int(text_end[i])):
                    ok[i] = False
            for i in reach.tolist():
                m = match(joined, int(prev_digit[i]) + 1, int(text_end[i]))
                if m is not None and m.end() > cstart[i]:
                    ok[i] = False
        return ok, cstart

    def _direct_phone(
        self, ri, fast, chunk_idx, seg, cstart, run_s, run_e, ndig, is_digit, starts, raw, cls, buf, direct
    ):
        """Phone results of plain runs (`_plain_runs`: candidates [cstart, run_e) holding the digit
        run [run_s, run_e) of `ndig` digits; offsets in the joined buffer `buf`, whose
        "\n" between texts `_extract_match` treats as it treats a text's edge). All-digit runs:
        none next to a Latin letter, '%' or '$' (`_parse_and_verify`'s neighbour check), else
        the region verdicts of the digits (`FastPhone.digit_validity`, vectorised). Other
        runs: the pieces `FastPhone.plan` says `_parse_and_verify` tries, in order; per region
        the first piece whose digits are valid there (the same vectorised validity) is the
        match. A run next to a Latin letter, '%' or '$' has no plan when too few digits are left
        for a number (`min_any`) once the digits on that side of its first (last) split
        character are taken away: every piece `_parse_and_verify` tries either starts at the
        run's start (and fails the check of the character before it) or at or after a split
        character, and either ends at the run's end (failing the check of the character after
        it) or at a split character ('.', ' ', '/', '(', a '-' next to a space: where
        `_INNER_MATCHES` start and end on ASCII runs). Candidates with a plus sign get
        fastphone's verdicts one by one. One row per region that matches; `_windowed` removes
        duplicates as the recognizer does. Runs are left to a window where the verdict is
        libphonenumber's own (outside fastphone's class), or a match ends before the run does
        (the matcher then searches again inside the run).

        The rows of plus-sign candidates go to `direct` here; the others wait for their digits'
        verdicts: returns what `_direct_verdicts` needs, the digit strings to ask about last."""
        back: list[int] = []
        if not len(seg):
            return None, [], [], back, [], [], []
        entity, score = self.recs[ri].entity, self.recs[ri].obj.SCORE
        n = len(raw)
        pure = ((run_e - run_s) == ndig) & (cstart == run_s)
        # digits before the run's first and after its last split character (`_ASCII_SPLIT`)
        split = (cls & _C_SPLIT) != 0
        dash = np.flatnonzero(raw == ord("-"))
        if len(dash):
            split[dash[(raw[np.maximum(dash - 1, 0)] == 32) | (raw[np.minimum(dash + 1, n - 1)] == 32)]] = True
        cuts = np.flatnonzero(split)
        dcum = np.zeros(n + 1, dtype=np.int32)  # (a chunk is far below 2**31 characters)
        np.cumsum(is_digit, out=dcum[1:])
        first = last = ndig
        if len(cuts):
            k = np.searchsorted(cuts, run_s)
            c1 = cuts[np.minimum(k, len(cuts) - 1)]
            first = np.where((k < len(cuts)) & (c1 < run_e), dcum[c1] - dcum[run_s], ndig)
            k = np.searchsorted(cuts, run_e) - 1
            c2 = cuts[np.maximum(k, 0)]
            last = np.where((k >= 0) & (c2 >= run_s), dcum[run_e] - dcum[c2], ndig)
        ts, te = starts[seg], starts[seg + 1] - 1
        # (a candidate starting with a lead character skips the check of the one before it)
        bad_prev = (cstart > ts) & fast.ascii_bad[raw[np.maximum(cstart - 1, 0)]] & ~fast.ascii_lead[raw[cstart]]
        bad_next = (run_e < te) & fast.ascii_bad[raw[np.minimum(run_e, n - 1)]]
        bad = bad_prev | bad_next
        hopeless = (ndig - np.where(bad_prev, first, 0) - np.where(bad_next, last, 0)) < fast.min_any
        seg_l, ts_l, s_l, e_l = seg.tolist(), ts.tolist(), cstart.tolist(), run_e.tolist()

        def add(k, a, b):
            t0 = ts_l[k]
            direct.setdefault(chunk_idx[seg_l[k]], []).append([entity, a - t0, b - t0, score, ri, ""])

        live = np.flatnonzero(pure & ~bad).tolist()
        digits = [buf[s_l[k] : e_l[k]] for k in live]
        plans = []
        for k in np.flatnonzero(~pure & ~hopeless).tolist():
            a, b = s_l[k], e_l[k]
            plan = fast.plan(buf, a, b)
            if plan is None:
                back.append(k)  # outside fastphone's class: libphonenumber on a window
            elif plan[0]:  # a plus sign: fastphone's own verdicts (not only digits count)
                hits = {h for h in fast.verdicts(buf, a, b) if h is not None}
                if any(h[1] != b - a for h in hits):
                    back.append(k)
                    continue
                for h in hits:
                    add(k, a + h[0], b)
            elif plan[1]:
                plans.append((k, plan[1]))
                digits.extend(p[2] for p in plan[1])
        return add, s_l, e_l, back, live, plans, digits

    @staticmethod
    def _direct_verdicts(todo, bits) -> list[int]:
        """The phone rows of `_direct_phone`'s runs that waited for their digits' verdicts
        (`bits`: per digit string, bit k for region k), added where `_direct_phone` adds rows;
        returns the indices of the runs left to a window."""
        add, s_l, e_l, back, live, plans, digits = todo
        if not digits:
            return back
        for j in np.flatnonzero(bits[: len(live)]).tolist():
            k = live[j]
            add(k, s_l[k], e_l[k])
        bits = bits[len(live) :].tolist()
        i = 0
        for k, pieces in plans:
            done, hits = 0, set()
            for p in pieces:  # per region, the first piece valid there
                new = bits[i] & ~done
                i += 1
                if new:
                    done |= new
                    hits.add(p[:2])
            a, b = s_l[k], e_l[k]
            if any(h[1] != b - a for h in hits):
                back.append(k)
                continue
            for h in hits:
                add(k, a + h[0], b)
        return back

    def _analyze_text(
        self, text: str, regions: dict | None, kind: str, direct: list | None = None, plain_ascii: bool = False
    ) -> list[list]:
        """Result rows for one text (a window of a longer one, cut by the detector) from its
        regions (`_scan_chunk`; None: Hyperscan could not take the text) and the phone rows
        `_direct_phone` decided without a window. `plain_ascii`: an ASCII text without
        `_RE_ONLY_SPACE` characters, confirmed with `_Pat.ascii_search`."""
        lo, hi = 0, len(text)
        per_rec: dict[int, list[list]] = {}
        full = regions is None
        if full:  # no Hyperscan for this text: every pattern over the whole segment
            todo = [(pi, None) for pi in range(len(self.pats))]
        else:  # only the patterns with reports, plus those Hyperscan cannot run, in pattern order
            todo = sorted([*regions.items(), *((pi, None) for pi in self._full_pats[kind])])
        pats, recs = self.pats, self.recs
        weak, low, silent = self._weak, _MISSING, {}
        present: dict[int, Any] = {}  # recognizer -> where its context words occur in `low`
        for pi, lst in todo:
            p = pats[pi]
            if p.rec in weak:
                quiet = silent.get(p.rec)
                if quiet is None:
                    if low is _MISSING:
                        check, lowered = self._ctx_precheck()
                        low = check.lowered(text, lo, hi) if check.enabled else None
                    if not weak[p.rec]:
                        quiet = True
                    elif low is None:
                        quiet = False  # (no pre-check for this text: every result is tokenised)
                    else:  # (where the words occur: `_enhance` needs it for the results too)
                        occ = present[p.rec] = check.occurrences(low, lowered[p.rec])
                        quiet = occ is None
                    silent[p.rec] = quiet
                if quiet:
                    continue  # no context word in the segment: no match of this recognizer is reported
            rec = recs[p.rec]
            mode = "full" if full else p.modes.get(kind, "full")
            bounds = [(lo, hi)] if mode == "full" else lst
            if rec.kind == "pattern":
                rows = per_rec.setdefault(p.rec, [])
                if mode == "full":
                    for m in p.compiled.finditer(text, lo, hi):
                        s, e = m.span()
                        if s != e:
                            self._score_match(rec, p, text[s:e], s, e, rows)
                    continue
                search = p.ascii_search if plain_ascii else p.compiled.search
                plain = not (rec.validates or rec.invalidates)  # the pattern's score stands
                entity, score, ri = rec.entity, p.score, p.rec
                for rs, re_ in bounds:
                    # `finditer` within the region: every match in it ends by `re_` (the last
                    # report), so once a match reaches `re_` there is nothing left to look for
                    # (finditer would try every position up to the look-around margin first)
                    endpos = min(hi, re_ + LOOKAROUND_MARGIN)
                    pos = rs
                    while pos < re_:
                        m = search(text, pos, endpos)
                        if m is None:
                            break
                        s, e = m.span()
                        if s >= re_ or e > re_:
                            break
                        if s == e:  # (Hyperscan compiles no pattern that matches empty)
                            pos = e + 1
                            continue
                        if plain:
                            if score > 0:
                                rows.append([entity, s, e, score, ri, ""])
                        else:
                            self._score_match(rec, p, text[s:e], s, e, rows)
                        pos = e
            else:  # windowed: collect windows, analysed once per recognizer below
                per_rec.setdefault(p.rec, []).append(("win", bounds, mode))
        if direct:
            per_rec.setdefault(direct[0][4], []).append(("rows", direct, None))
        results: list[list] = []
        for ri in sorted([*per_rec, *self._opaque]):  # recognizer order, as the analyzer runs them
            rec = recs[ri]
            if rec.kind == "opaque":
                rows = self._run_recognizer(rec, ri, text[lo:hi], lo)
            elif rec.kind == "windowed":
                rows = self._windowed(rec, ri, text, per_rec[ri], lo, hi)
            else:
                rows = per_rec[ri]
                if len(rows) > 1:  # (a single row has a score > 0: nothing to remove)
                    rows = remove_duplicates(rows)
            results.extend(rows)
        if not results:
            return []
        self._enhance(text, results, lo, hi, low, present=present)
        results = [r for r in results if r[3] >= self.threshold]
        if len(results) == 1 and results[0][3] > 0:
            return results
        return remove_duplicates(results)

    def _score_match(self, rec: _Rec, p: _Pat, matched: str, s: int, e: int, rows: list) -> None:
        score = p.score
        if rec.validates:
            v = rec.obj.validate_result(matched)
            if v is not None:
                score = 1.0 if v else 0.0
        if rec.invalidates:
            if rec.invalidate(matched):
                score = 0.0
        if score > 0:
            rows.append([rec.entity, s, e, score, p.rec, ""])

    def _run_recognizer(self, rec: _Rec, ri: int, sub: str, shift: int) -> list[list]:
        out = []
        for r in rec.obj.analyze(sub, self.entities, None) or []:
            out.append([r.entity_type, r.start + shift, r.end + shift, r.score, ri, ""])
        return out

    def _windowed(self, rec: _Rec, ri: int, text: str, items, lo: int, hi: int) -> list[list]:
        """Run a recognizer's own `analyze` on whitespace-bounded windows around its candidates."""
        left, right = rec.window_pad
        spans: list[tuple[int, int]] = []
        out: list[list] = []
        for what, bounds, mode in items:
            if what == "rows":  # decided already (`_direct_phone`)
                out.extend(bounds)
                continue
            if mode == "full":
                return self._run_recognizer(rec, ri, text[lo:hi], lo)
            spans.extend(bounds)
        spans.sort()

        def window_end(e: int) -> int:
            we = min(hi, e + right)
            if we < hi:
                cut = [x for x in (text.find(" ", we, hi), text.find("\n", we, hi)) if x >= 0]
                we = min(cut) if cut else hi
            return we

        # Each candidate's window: from the whitespace before s - left to the one after
        # e + right; overlapping windows merge. The window start grows with s, so in order of
        # s a window either merges into the last one or starts a new one. A candidate with
        # s - left inside the last window merges without its start being looked up, and one
        # with e + right inside it leaves its end (a whitespace at or after e + right) as is.
        merged: list[list[int]] = []
        for s, e in spans:
            if merged and s - left <= merged[-1][1]:
                last = merged[-1]
                if e + right > last[1]:
                    last[1] = max(last[1], window_end(e))
                continue
            ws = max(lo, s - left)
            ws = max(max(text.rfind(" ", lo, ws), text.rfind("\n", lo, ws)) + 1, lo) if ws > lo else lo
            we = window_end(e)
            if merged and ws <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], we)
            else:
                merged.append([ws, we])
        for ws, we in merged:
            if rec.phone and _phone_internals_ok():
                out.extend(self._phone_window(rec, ri, text[ws:we], ws))
            else:
                window = text[ws:we]
                own = self._own_rows.get(ri)
                if own is not None:
                    entity = rec.entity
                    out.extend([entity, s + ws, e + ws, score, ri, ""] for s, e, score in own(window))
                    continue
                # a pattern recognizer's own `analyze` reports where its patterns match: most
                # candidates (Hyperscan prefilter reports) have no match, skip those windows
                confirm = self._confirm.get(ri)
                if confirm and not any(c.search(window) for c in confirm):
                    continue
                out.extend(self._run_recognizer(rec, ri, window, ws))
        if rec.phone:
            out = remove_duplicates(out)
        return out

    def _phone_window(self, rec: _Rec, ri: int, window: str, shift: int) -> list[list]:
        """`PhoneRecognizer.analyze` on a window: libphonenumber's own matcher loop per region,
        with each candidate's verdict memoised. The verdict of `_extract_match` depends only on
        the region, the candidate, the character before it and the 3 characters after it."""
        from phonenumbers import phonenumbermatcher as pm

        memo = self._phone_memo
        if len(memo) > 500_000:
            memo.clear()
        pattern, second = pm._PATTERN, pm._SECOND_NUMBER_START_PATTERN
        fast = _fast_phone(rec.obj.supported_regions, rec.obj.leniency)
        fast_memo = self._phone_fast_memo
        if len(fast_memo) > 200_000:
            fast_memo.clear()
        chains: dict[int, list[tuple]] = {}

        base_at: dict[int, int] = {}  # candidate start -> position in chain(0)

        def chain(idx: int):
            """libphonenumber's candidates from idx on that match for some region (all of
            them where the verdicts come from libphonenumber). Once a candidate starts where
            one of chain(0) starts, the rest is chain(0)'s rest."""
            got = chains.get(idx)
            if got is not None:
                return got
            got = chains[idx] = []
            pos = idx
            while pos is not None:
                nxt, pos = pos, None
                # `_find`: the next search starts where the (trimmed) candidate ends
                for mt in pattern.finditer(window, nxt):
                    start, end = mt.span()
                    if idx and start in base_at:
                        got.extend(chains[0][base_at[start] :])
                        return got
                    if not idx:
                        base_at[start] = len(got)
                    if end - start >= 4:  # shorter: no room for a slash, an 'x' and a digit
                        cut = second.search(window, start, end)
                        if cut:
                            end = cut.start()
                            pos = end
                    if end - start >= tiny:
                        cand = window[start:end]
                        # exact verdicts of all regions at once (None: ask libphonenumber); a
                        # candidate that matches for no region is left out of the chain
                        # (a string: no work for the garbage collector; cand has no NUL)
                        fkey = (window[start - 1] if start else "") + "\0" + cand + "\0" + window[end : end + 3]
                        verdicts = fast_memo.get(fkey, _MISSING)
                        if verdicts is _MISSING:
                            verdicts = fast_memo[fkey] = fast.verdicts(window, start, end)
                        if verdicts is None or any(verdicts):
                            got.append((start, end, cand, verdicts))
                    if pos is not None:
                        break
            return got

        tiny = fast.min_chars
        if not chain(0):
            return []  # no candidate is a number for any region

        out = []
        score = rec.obj.SCORE
        for reg_i, region in enumerate(rec.obj.supported_regions):
            matcher = None
            idx = 0
            while True:
                found = None
                for start, end, cand, verdicts in chain(idx):
                    if verdicts is not None:
                        hit = verdicts[reg_i]
                        if hit is not None:
                            found = (start + hit[0], start + hit[1])
                            break
                        continue
                    key = (region, cand, window[start - 1] if start else "", window[end : end + 3])
                    hit = memo.get(key, _MISSING)
                    if hit is _MISSING:
                        if matcher is None:
                            matcher = pm.PhoneNumberMatcher(window, region, leniency=rec.obj.leniency)
                        m = matcher._extract_match(cand, start)
                        hit = None if m is None else (m.start - start, m.end - start)
                        memo[key] = hit
                    if hit is not None:
                        found = (start + hit[0], start + hit[1])
                        break
                if found is None:
                    break
                out.append([rec.entity, found[0] + shift, found[1] + shift, score, ri, ""])
                idx = found[1]
        return out

    # -- Context (LemmaContextAwareEnhancer) ----------------------------------------------------

    def _is_keyword(self, lemma: str) -> bool:
        """Presidio's keyword test of a lemma (`NlpArtifacts.set_keywords`), from its lexeme's flags;
        for a lemma without a lexeme, from the vocabulary's getters for those flags (what the
        lexeme it would create gets), so unique strings do not grow the vocabulary."""
        k = self._kw_cache.get(lemma)
        if k is None:
            vocab = self.nlp.vocab
            if self._flag_getters is not None and lemma not in vocab:
                is_stop, is_punct = self._flag_getters
                stop, punct = bool(is_stop(lemma)), bool(is_punct(lemma))
            else:
                lex = vocab[lemma]
                stop, punct = lex.is_stop, lex.is_punct
            k = not stop and not punct and lemma != "-PRON-" and lemma != "be"
            if len(self._kw_cache) > 500_000:
                self._kw_cache.clear()
            self._kw_cache[lemma] = k
        return k

    def _tokens(self, text: str, offset: int, seg=None):
        """spaCy blank-English tokens of `text`: (starts, ends, lower-case lemmas, keyword flags,
        ':'-pieces).

        Keyword flags follow `NlpArtifacts.set_keywords`: a lemma counts when it is not a stop
        word, punctuation, "-PRON-" or "be", or when it is a ':'-separated piece of one that is,
        anywhere in the segment (`seg`: `fastcontext.SegmentPieces` when `text` is a window of it)."""
        from spacy.attrs import IDX, LENGTH, LOWER

        doc = self.tokenizer(text)
        if len(doc) == 0:
            return [], [], [], [], set()
        arr = doc.to_array([IDX, LENGTH, LOWER]).tolist()
        strings = self._strings
        lowers = []
        for _, _, h in arr:
            w = strings.get(h)
            if w is None:
                w = strings[h] = self.nlp.vocab.strings[h]
            lowers.append(w)
        starts = [a[0] + offset for a in arr]
        ends = [a[0] + a[1] + offset for a in arr]
        iskw = self._is_keyword
        pieces = set()
        for lm in lowers:
            if ":" in lm and iskw(lm):
                pieces.update(lm.split(":"))
        kws = []
        for lm in lowers:
            if ":" in lm:
                k = False  # pieces never contain ':'
            else:
                k = iskw(lm) or lm in pieces or (seg is not None and seg.maybe(lm) and seg.has(lm))
            kws.append(k)
        return starts, ends, lowers, kws, pieces

    def _walk(self, toks, start: int):
        """(backward keywords, forward keywords, complete-backward, complete-forward) or None
        when no token covers `start`."""
        starts, ends, lowers, kws = toks[:4]
        i = bisect.bisect_right(ends, start)
        if i >= len(ends):
            return None
        need_back, need_fwd = self.ctx_prefix + 1, self.ctx_suffix + 1
        back, j = [], i
        while j >= 0 and len(back) < need_back:
            if kws[j]:
                back.append(lowers[j])
            j -= 1
        fwd, j = [], i
        while j < len(lowers) and len(fwd) < need_fwd:
            if kws[j]:
                fwd.append(lowers[j])
            j += 1
        return back, fwd, len(back) >= need_back, len(fwd) >= need_fwd

    def _context_list(self, text: str, start: int, lo: int, hi: int, whole=None, window=None, seg=None) -> list[str]:
        """Keyword lemmas Presidio's enhancer looks at for a match starting at `start`.

        `window`: chunk-aligned bounds from `ContextPrecheck.check` to try first; `seg`: the
        segment's `SegmentPieces` for windows."""
        if whole is not None:
            got = self._walk(whole, start)
            return [] if got is None else list(set(got[0] + got[1]))
        if window is not None:
            ws, we = window
            # start and end the window inside non-space runs (the bounds may sit next to a space
            # other than ASCII whitespace, which spaCy joins with its neighbours)
            while ws < start and text[ws].isspace():
                ws += 1
            while we > start and text[we - 1].isspace():
                we -= 1
            got = self._walk(self._tokens(text[ws:we], ws, seg), start)
            if got is not None and (got[2] or ws <= lo) and (got[3] or we >= hi):
                return list(set(got[0] + got[1]))
        back_w, fwd_w = 160, 48
        while True:
            ws = max(lo, start - back_w)
            if ws > lo:
                ws = text.rfind(" ", lo, ws) + 1 or lo
            we = min(hi, start + fwd_w)
            if we < hi:
                cut = text.find(" ", we, hi)
                we = hi if cut < 0 else cut
            got = self._walk(self._tokens(text[ws:we], ws, seg), start)
            if got is None:
                if we >= hi:
                    return []
                fwd_w *= 4
                continue
            back, fwd, back_ok, fwd_ok = got
            if not back_ok and ws > lo:
                back_w *= 4
                continue
            if not fwd_ok and we < hi:
                fwd_w *= 4
                continue
            return list(set(back + fwd))

    def _ctx_precheck(self):
        """The context pre-check (`fastcontext.ContextPrecheck`) and each recognizer's lower-cased
        context words, built on first use."""
        pre = getattr(self, "_ctx_pre", None)
        if pre is None:
            check = ContextPrecheck(
                self.tokenizer, self._is_keyword, self.ctx_prefix, self.ctx_suffix, [r.context for r in self.recs]
            )
            pre = self._ctx_pre = (check, [[c.lower() for c in r.context] for r in self.recs])
            # the chunk walk writes "" for keywords that cannot hold a context word
            self._ctx_walk_ok = check.enabled and all(w for ws in pre[1] for w in ws)
            self._ctx_walker = ChunkWalk(check) if self._ctx_walk_ok else None
        return pre

    def _enhance(
        self,
        text: str,
        results: list[list],
        lo: int,
        hi: int,
        low: Any = _MISSING,
        always_tokenise: bool = False,
        present: dict | None = None,
    ) -> None:
        """Presidio's context boost on `results` (rows of text[lo:hi]), in place.

        A result is tokenised only when `ContextPrecheck.check` says one of its context words
        occurs where Presidio's walk can see it (a necessary condition for a boost; see
        fastcontext's module doc). `always_tokenise` skips the pre-check (tests compare both).
        `present`: `ContextPrecheck.occurrences` of recognizers in `low`, known already."""
        check, lowered = self._ctx_precheck()
        if always_tokenise or not check.enabled:
            low = None
        elif low is _MISSING:  # (else `_analyze_text` lowered the segment already)
            low = check.lowered(text, lo, hi)
        todo, wins = [], []
        span = 0
        if low is not None:
            present = {} if present is None else present  # recognizer -> where its context words occur
            last: dict[int, int] = {}  # recognizer -> the last start of its results
            for r in results:
                if r[4] not in present and lowered[r[4]] and last.get(r[4], -1) < r[1]:
                    last[r[4]] = r[1]
            for ri, s in last.items():  # (U grows with the start: the last result's U bounds them all)
                present[ri] = check.occurrences(low, lowered[ri], check._upper(text, s, hi) - lo)
            failed = {ri: [] for ri in present}  # recognizer -> its last result that failed on L
            for r in results:
                words = lowered[r[4]]
                if not words:
                    continue
                occ = present[r[4]]
                if occ is None:
                    continue  # no context word in the segment (before the results' last bound)
                win = check.check(text, low, lo, hi, r[1], words, occ, failed[r[4]])
                if win is not None:
                    span += win[1] - win[0]
                    todo.append(r)
                    wins.append(win)
        else:
            for r in results:
                if lowered[r[4]]:
                    span += 200
                    todo.append(r)
                    wins.append(None)
        if not todo:
            return
        whole = seg = walker = None
        if low is not None and self._ctx_walk_ok:
            seg = SegmentPieces(self, text, lo, hi, low)
            walker = self._ctx_walker
        elif hi - lo <= span and hi - lo <= 1_000_000:
            whole = self._tokens(text[lo:hi], lo)  # one pass serves every result
        else:
            seg = SegmentPieces(self, text, lo, hi, low if low is not None else check.lowered(text, lo, hi))
        for r, win in zip(todo, wins):
            rec = self.recs[r[4]]
            words = None
            if walker is not None:
                ws, we = win
                first = next((w for w in lowered[r[4]] if low.find(w, ws - lo, we - lo) >= 0), None)
                words = walker.walk(text, low, lo, hi, r[1], lowered[r[4]], seg, self.ctx_mode == "substring", first)
            if words is None:
                words = self._context_list(text, r[1], lo, hi, whole, win, seg)
            word = ""
            for c, cl in zip(rec.context, lowered[r[4]]):
                if self.ctx_mode == "substring":
                    hit = any(cl in w for w in words)
                else:
                    hit = any(cl == w for w in words)
                if hit:
                    word = c
                    break
            if word:
                score = r[3] + self.ctx_factor
                score = max(score, self.ctx_min)
                r[3] = min(score, 1.0)
                r[5] = word


class FastPatternsDetector:
    """Detector `patterns` with `engine: fast`: the same findings as the stock Presidio detector."""

    name = NAME
    Config = PatternsConfig

    def __init__(self, config: PatternsConfig | None = None):
        self.config = config or PatternsConfig()
        nlp_engine = build_nlp_engine()
        self.registry = build_registry(nlp_engine, self.config)
        self.entities = self.config.active_entities()
        self.engine = FastPatternEngine(
            self.registry.get_recognizers(language=self.config.language, entities=self.entities),
            self.entities,
            self.config.threshold,
            nlp=nlp_engine.nlp[self.config.language],
        )
        self._thresholds = {e: o.threshold for e, o in self.config.options.items() if o.threshold is not None}

    def __call__(self, texts: Sequence[str]) -> list[list[Span]]:
        """Findings per text. Texts longer than `window_chars` are cut into the stock detector's
        overlapping windows; windows are scanned a few MB at a time, so a huge text never
        needs more than about its own size again in memory."""
        with _gc_paused():  # (the Spans too: acyclic, and many)
            return self._call(texts)

    def _call(self, texts: Sequence[str]) -> list[list[Span]]:
        cfg = self.config
        out: list[list[Span]] = [[] for _ in texts]
        segs: list[str] = []
        owners: list[tuple[int, int, int, int]] = []  # text index, offset, own_start, own_end
        size = 0
        for ti, t in enumerate(texts):
            if not t:
                continue
            for ws, we, own_s, own_e in windows(len(t), cfg.window_chars, cfg.window_overlap):
                segs.append(t if (ws == 0 and we == len(t)) else t[ws:we])
                owners.append((ti, ws, own_s, own_e))
                size += we - ws
                if size >= CHUNK_CHARS:
                    self._flush(segs, owners, out)
                    segs, owners, size = [], [], 0
        if segs:
            self._flush(segs, owners, out)
        # (in order of (start, end, entity): `_flush` orders each window's spans, and the
        # windows of a text own consecutive ranges of starts)
        return out

    def _flush(self, segs: list[str], owners: list[tuple[int, int, int, int]], out: list[list[Span]]) -> None:
        """Spans of the windows `segs` into `out`, each window's in order of (start, end, entity)."""
        # (rows already meet the engine's threshold, config.threshold: only per-entity ones remain)
        thresholds, default = self._thresholds, self.config.threshold
        names = [r.name for r in self.engine.recs]
        order = _ROW_ORDER
        for rows, (ti, ws, own_s, own_e) in zip(self.engine.analyze_batch(segs), owners):
            if not rows:
                continue
            if len(rows) > 1:
                rows.sort(key=order)  # (no two rows share entity, start and end)
            spans = out[ti]
            add = spans.append
            for ent, s, e, score, ri, word in rows:
                s, e = s + ws, e + ws
                if not (own_s <= s < own_e):
                    continue
                if thresholds and score < thresholds.get(ent, default):
                    continue
                extra: dict[str, Any] = {"recognizer": names[ri]}
                if word:  # (the stock detector reports it too)
                    extra["context_word"] = word
                add(make_span(ent, s, e, float(score), NAME, names[ri], extra))


class PatternsEngineDetector:
    """Detector `patterns`: the fast engine (`engine: fast`, default) or stock Presidio
    (`engine: presidio`, `PatternsDetector`). Both take the same `PatternsConfig`."""

    name = NAME
    Config = PatternsConfig

    def __new__(cls, config: PatternsConfig | None = None):  # type: ignore[misc]
        config = config or PatternsConfig()
        if config.engine == "presidio":
            return PatternsDetector(config)
        return FastPatternsDetector(config)

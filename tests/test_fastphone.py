"""fastphone's verdicts equal libphonenumber's own `PhoneNumberMatcher._extract_match`.

Differential test: candidates are cut from text exactly as `PhoneNumberMatcher._find` cuts them
(`_PATTERN`, then `_SECOND_NUMBER_START_PATTERN`), from generated corpus records
(benchmarks/pii_corpus.py, workbench.corpus.sample) and from fuzz built to hit every branch of
the verdict (digit groups and separators, leading zeros, international prefixes and country
codes, national prefixes, dates, time stamps, IP addresses, decimals, brackets, letters and
currency symbols around the number). For every region of the engine's PhoneRecognizer, the
fast verdict (start/end of the match, or None) must equal libphonenumber's; a candidate that
fastphone does not handle (None: outside its class) is counted and not compared. Candidates
shorter than FastPhone.min_chars, which the engine skips whatever their characters, must match
for no region.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

phonenumbers = pytest.importorskip("phonenumbers")
from phonenumbers import phonenumbermatcher as pm  # noqa: E402

from workbench.detectors.fastphone import FastPhone  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

MIN_CASES = int(os.environ.get("FASTPHONE_MIN_CASES", "100000"))


def _regions() -> tuple[str, ...]:
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    return tuple(PhoneRecognizer().supported_regions)


def candidates(text: str):
    """(start, end) of the candidates `PhoneNumberMatcher._find` hands to `_extract_match`
    when none of them matches."""
    i = 0
    while True:
        m = pm._PATTERN.search(text, i)
        if m is None:
            return
        cand = text[m.start() : m.end()]
        cut = pm._SECOND_NUMBER_START_PATTERN.search(cand)
        if cut:
            cand = cand[: cut.start()]
        yield m.start(), m.start() + len(cand)
        i = m.start() + len(cand)


def check_texts(fast: FastPhone, texts, regions) -> tuple[int, int, list]:
    """Compare on every candidate of every text; returns (cases compared, candidates left to
    libphonenumber, mismatches)."""
    compared = skipped = 0
    bad = []
    for text in texts:
        matchers = None
        for s, e in candidates(text):
            if e - s < fast.min_chars:
                got = [None] * len(regions)  # the engine skips these, whatever their class
            else:
                got = fast.verdicts(text, s, e)
            if got is None:
                skipped += 1
                continue
            if matchers is None:
                matchers = [pm.PhoneNumberMatcher(text, r, leniency=pm.Leniency.VALID, max_tries=1 << 40) for r in regions]
            for ri, matcher in enumerate(matchers):
                m = matcher._extract_match(text[s:e], s)
                want = None if m is None else (m.start - s, m.end - s)
                compared += 1
                if got[ri] != want:
                    bad.append((regions[ri], text[max(0, s - 5) : e + 5], text[s:e], got[ri], want))
    return compared, skipped, bad


# -- fuzz ---------------------------------------------------------------------------------------

SEPS = [" ", "-", ".", "/", " - ", "  ", "-", " ", "", ". ", " / ", "--", "/ ", "..."]
LEFT = ["", "", "", "tel ", "Tel: ", "a", "$", "€", "%", "(", "[", "id=", "x", "é", "_", "#", "1.", "Call ", "\n"]
RIGHT = ["", "", "", " ", ".", ",", "a", "%", "$", ":30", ":7", ")", "]", " end", "é", ";", "\n", "x", ":59:01"]
IDD = ["00", "011", "0011", "000", "001", "01", "0014", "0021", "0099", "0012", "0031", "0041", "0043", "0055"]
CCS = ["1", "44", "49", "33", "972", "91", "55", "7", "86", "81", "353", "800", "870", "979", "882", "0", "999", "42"]


def _digits(rnd, n):
    return "".join(rnd.choice("0123456789") for _ in range(n))


def _groups(rnd, total):
    out = []
    while total > 0:
        k = min(total, rnd.choice([1, 2, 2, 3, 3, 3, 4, 4, 5, 6, 7, 8, 10]))
        out.append(_digits(rnd, k))
        total -= k
    return out


def _join(rnd, groups):
    sep = rnd.choice(SEPS)
    mixed = rnd.random() < 0.3
    s = groups[0]
    for g in groups[1:]:
        s += (rnd.choice(SEPS) if mixed else sep) + g
    return s


def _number(rnd):
    kind = rnd.random()
    if kind < 0.25:  # national number of a region: from libphonenumber's own examples
        region = rnd.choice(["US", "GB", "DE", "FR", "IL", "IN", "CA", "BR", "IT", "JP", "AU", "CH", "GG", "IM", "JE"])
        t = rnd.choice(list(phonenumbers.PhoneNumberType.values()))
        ex = phonenumbers.example_number_for_type(region, t)
        if ex is None:
            return _digits(rnd, rnd.randint(3, 14))
        nsn = phonenumbers.national_significant_number(ex)
        if rnd.random() < 0.5:  # mutate a digit or two
            nsn = list(nsn)
            for _ in range(rnd.randint(1, 2)):
                nsn[rnd.randrange(len(nsn))] = rnd.choice("0123456789")
            nsn = "".join(nsn)
        r = rnd.random()
        if r < 0.3:
            pre = rnd.choice(["0", "1", "00", "01", "90", "015", "0 ", "1 ", "(0)", "0-"])
        elif r < 0.55:
            pre = rnd.choice(IDD) + rnd.choice(["", " "]) + str(ex.country_code) + rnd.choice(["", " ", "-", " (0)"])
        elif r < 0.7:
            pre = str(ex.country_code) + rnd.choice(["", " ", "-"])
        else:
            pre = ""
        body = _join(rnd, _groups(rnd, len(nsn)))
        it = iter(nsn)
        body = "".join(next(it) if c.isdigit() else c for c in body)
        if rnd.random() < 0.2:  # bracketed area code
            k = rnd.randint(1, 4)
            body = "(" + body[:k] + ")" + rnd.choice(["", " "]) + body[k:]
        return pre + body
    if kind < 0.36:  # plus sign + country code (or not) + digits
        lead = rnd.choice(["+", "+", "+ ", "(+", "[+", "+(", "++"])
        body = rnd.choice(CCS + ["", "0", "00"]) + rnd.choice(["", " ", "-", ") ", " (0) "])
        return lead + body + _join(rnd, _groups(rnd, rnd.randint(1, 13)))
    if kind < 0.38:  # hexadecimal
        return rnd.choice(["0x", "0X", "1x", "12x", "0x0"]) + _digits(rnd, rnd.randint(1, 12))
    if kind < 0.45:  # international: IDD + country code + digits
        return rnd.choice(IDD) + rnd.choice(["", " ", "-"]) + rnd.choice(CCS) + rnd.choice(["", " "]) + _join(
            rnd, _groups(rnd, rnd.randint(1, 14))
        )
    if kind < 0.55:  # dates and time stamps
        y, mo, d = rnd.randint(1900, 2099), rnd.randint(0, 19), rnd.randint(0, 39)
        return rnd.choice(
            [
                f"{y}-{mo:02d}-{d:02d} {rnd.randint(0, 29):02d}",
                f"{y}-{mo:02d}-{d:02d}",
                f"{d}/{mo}/{y % 100:02d}",
                f"{mo:02d}/{d:02d}/{y}",
                f"{y}{mo:02d}{d:02d} {rnd.randint(0, 29):02d}",
                f"{y}/{mo:02d}/{d:02d}  {rnd.randint(0, 29):02d}",
            ]
        )
    if kind < 0.62:  # IP addresses, decimals, versions, pages
        return rnd.choice(
            [
                ".".join(str(rnd.randint(0, 255)) for _ in range(4)),
                f"{rnd.randint(0, 99999)}.{_digits(rnd, rnd.randint(1, 8))}",
                f"{rnd.randint(1, 999)}-{rnd.randint(1, 999)} ({rnd.randint(1, 2030)})",
                f"{rnd.randint(0, 9)}.{rnd.randint(0, 99)}.{rnd.randint(0, 999)}",
            ]
        )
    if kind < 0.75:  # leading zeros, zeros only, country-code-like starts
        return rnd.choice(["0" * rnd.randint(1, 6), rnd.choice(CCS), "0"]) + _join(rnd, _groups(rnd, rnd.randint(1, 14)))
    if kind < 0.85:  # brackets
        g = _groups(rnd, rnd.randint(4, 14))
        i = rnd.randrange(len(g))
        g[i] = rnd.choice(["(", "[", "(", ")"]) + g[i] + rnd.choice([")", "]", ")", ""])
        return _join(rnd, g)
    return _join(rnd, _groups(rnd, rnd.randint(2, 22)))


SHORT = ["+12", "+1", "++1", "1x2", "12x", "(+1", "٣٤٥", "١٢", "１２３", "+١٢", "1/x2", "0x1", "12#", "1 2", "(12"]


def fuzz_texts(n: int, seed: int):
    rnd = random.Random(seed)
    for _ in range(n // 10):  # short candidates of every class (the engine skips them)
        yield " ".join(rnd.choice(LEFT) + rnd.choice(SHORT) + rnd.choice(RIGHT) for _ in range(4))
    for _ in range(n):
        parts = []
        for _ in range(rnd.randint(1, 4)):
            parts.append(rnd.choice(LEFT) + _number(rnd) + rnd.choice(RIGHT))
        yield rnd.choice([" ", "  ", ", ", " / ", " - ", "\n", "; ", " and "]).join(parts)


def corpus_texts(total_chars: int, seed: int):
    from pii_corpus import generate

    yield from generate(total_chars, seed)
    from workbench.corpus.sample import _planted_text

    rnd = random.Random(seed)
    for _ in range(300):
        yield _planted_text(rnd, rnd.randint(1, 4))[0]


# -- tests --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fast():
    regions = _regions()
    f = FastPhone(regions, pm.Leniency.VALID)
    assert f.enabled
    return f


def test_fastphone_equals_libphonenumber(fast):
    regions = fast.regions
    compared = skipped = 0
    bad = []
    for texts in (corpus_texts(300_000, 1), fuzz_texts(9_000, 2)):
        c, s, b = check_texts(fast, texts, regions)
        compared += c
        skipped += s
        bad += b
    assert not bad, f"{len(bad)} mismatches, e.g. {bad[:10]}"
    assert compared >= MIN_CASES, (compared, skipped)
    assert skipped < compared / len(regions)  # the fast class covers most candidates


def test_fastphone_finds_numbers(fast):
    """The comparison is not vacuous: valid numbers, inner matches and rejections all occur."""
    text = "call 030 1234567 or (650) 253-0000, 2012-01-02 08:00 x, 0049 30 123456 / 650-253-0000"
    got = {}
    for s, e in candidates(text):
        got[text[s:e]] = fast.verdicts(text, s, e)
    assert any(v for vs in got.values() if vs for v in vs)
    assert fast.verdicts("++1 650 253 0000", 0, 16) is None  # left to libphonenumber
    assert fast.verdicts("ext x123 4567", 4, 13) is None


def test_fastphone_check_can_fail(fast, monkeypatch):
    """A wrong verdict is caught: break the national-prefix rule and the comparison fails."""
    f = FastPhone(fast.regions, pm.Leniency.VALID)
    monkeypatch.setattr(f, "_prefix_present", lambda *a: True)
    _, _, bad = check_texts(f, fuzz_texts(3_000, 5), f.regions)
    assert bad


def test_fastphone_unknown_regions():
    """Region codes libphonenumber does not know (a config may list them): national numbers
    match nowhere, numbers with a plus sign are left to libphonenumber."""
    regions = ("UK", "US", "FE", "DE")
    f = FastPhone(regions, pm.Leniency.VALID)
    texts = ["call +44 20 7378 7345 or 030 1234567", *fuzz_texts(2_000, 9)]
    compared, _, bad = check_texts(f, texts, regions)
    assert not bad, bad[:10]
    assert compared > 10_000


def _shaped(rnd, n: int):
    """(text, start, end): candidates of few shapes with random digits between rejected and
    accepted neighbours, so that `plan`'s memo is hit by candidates that differ in digits."""
    shapes = ["9.9", "9.9.9", "9-9-9", "(9)9-9", "9.9.9.9", "+9-9", "[9]9", "9--9", "9..9", "+(9)9.9", "9-(9",
              "(9-9)", "9)9", "9", "9 9", "9/9/9", "9 - 9", "0x9", "9\u20119", "\uff199"]  # (non-ASCII too)
    for _ in range(n):
        cand = "".join(_digits(rnd, rnd.randint(1, 7)) if c == "9" else c for c in rnd.choice(shapes))
        pre, post = rnd.choice(LEFT), rnd.choice(RIGHT)
        yield pre + cand + post, len(pre), len(pre) + len(cand)


def test_plan_memo_equals_plan(fast):
    """`plan` memoised (by shape and neighbours, or by text) gives what `_plan` computes."""
    f = FastPhone(fast.regions, pm.Leniency.VALID)
    bad = [(t, s, e) for t, s, e in _shaped(random.Random(11), 60_000) if f.plan(t, s, e) != f._plan(t, s, e)]
    assert not bad, bad[:10]
    assert len(f._shapes) > 100 and len(f._plans) > 100  # both memos were used


def test_plan_memo_check_can_fail(fast, monkeypatch):
    """A memo key that lost information (here: '.' read as '-') is caught by the comparison."""
    import workbench.detectors.fastphone as fp

    monkeypatch.setattr(fp, "_SHAPE", str.maketrans("123456789.", "000000000-"))
    monkeypatch.setattr(fp, "_SHAPE_BYTES", bytes.maketrans(b"123456789.", b"000000000-"))  # (ASCII candidates)
    f = FastPhone(fast.regions, pm.Leniency.VALID)
    assert any(f.plan(t, s, e) != f._plan(t, s, e) for t, s, e in _shaped(random.Random(12), 20_000))

"""`FastPhone.digit_validity` equals its scalar definition, and the digit automata equal `re`.

For every digit string d and region ri, `digit_validity` must give exactly
`len(d) >= max(min_any, 2) and ri in _regions_for(len(d), d) and valid(ri, d, False)`, computed
here on a separate FastPhone (its memos independent of the batch's own scalar fallback). The
strings are cut from generated corpus text (benchmarks/pii_corpus.py) and fuzzed: every length
1..20, prefixed with the regions' country codes, international and national prefixes, leading
digits of libphonenumber's example numbers, whole example numbers, and random digits. A
perturbed automaton and a flipped bit must be caught. The automata compiler alone is checked
against `re.fullmatch` / `re.match` on every metadata pattern of the regions' countries.
"""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

import pytest

phonenumbers = pytest.importorskip("phonenumbers")
np = pytest.importorskip("numpy")
from phonenumbers import PhoneMetadata  # noqa: E402
from phonenumbers import phonenumbermatcher as pm  # noqa: E402

from workbench.detectors.digitdfa import compile_digits, compile_set, fixed_alternatives  # noqa: E402
from workbench.detectors.fastphone import FastPhone  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

REGIONS = ("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR")  # PhoneRecognizer().supported_regions


def _regions() -> tuple[str, ...]:
    try:
        from presidio_analyzer.predefined_recognizers import PhoneRecognizer

        return tuple(PhoneRecognizer().supported_regions)
    except Exception:  # pragma: no cover - presidio is optional here
        return REGIONS


def scalar(f: FastPhone, ds) -> np.ndarray:
    """The scalar definition, row by row."""
    lo = max(f.min_any, 2)
    out = np.zeros((len(ds), len(f.regions)), dtype=bool)
    for i, d in enumerate(ds):
        n = len(d)
        if n < lo:
            continue
        for ri in f._regions_for(n, d):
            out[i, ri] = f.valid(ri, d, False)
    return out


def mismatches(got: np.ndarray, want: np.ndarray, ds, regions) -> list:
    bad = np.argwhere(got != want)
    return [(ds[i], regions[j], bool(got[i, j]), bool(want[i, j])) for i, j in bad[:20]]


@pytest.fixture(scope="module")
def regions():
    return _regions()


@pytest.fixture(scope="module")
def batch(regions):
    f = FastPhone(regions, pm.Leniency.VALID)
    assert f.enabled
    return f


# -- inputs -------------------------------------------------------------------------------------


def corpus_digits(total_chars: int, seed: int) -> list[str]:
    from pii_corpus import generate

    out = set()
    for text in generate(total_chars, seed):
        out.update(re.findall(r"[0-9]+", text))
    return sorted(out)


def _country_codes(regions) -> set[int]:
    mds = [PhoneMetadata.metadata_for_region(r) for r in regions]
    return {md.country_code for md in mds if md is not None}


def _prefixes(regions) -> list[str]:
    pre = ["0", "00", "011", "1", "44", "49", "91", "972", "55", "33", "0011", "010", "012", "0105", "090",
           "90", "180020", "001", "0014", "0021", "0041", "0099", "01", "9", "7", "8", "5", "2", "3", "4", "6"]
    for r in regions:
        md = PhoneMetadata.metadata_for_region(r)
        if md is None:
            continue
        pre.append(str(md.country_code))
        pre.append("00" + str(md.country_code))
        pre.append("011" + str(md.country_code))
        pre.append(str(md.country_code) + "0")
        if md.national_prefix:
            pre.append(md.national_prefix)
    for cc in _country_codes(regions):
        for rc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc]:
            for t in phonenumbers.PhoneNumberType.values():
                ex = phonenumbers.example_number_for_type(rc, t)
                if ex is not None:
                    nsn = phonenumbers.national_significant_number(ex)
                    pre.extend({nsn[:k] for k in range(1, len(nsn) + 1)})
    return sorted(set(pre))


def _examples(regions) -> list[str]:
    """Example numbers of the regions' countries, as written nationally and internationally."""
    out = []
    for cc in _country_codes(regions):
        for rc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc]:
            md = PhoneMetadata.metadata_for_region(rc)
            for t in phonenumbers.PhoneNumberType.values():
                ex = phonenumbers.example_number_for_type(rc, t)
                if ex is None:
                    continue
                nsn = phonenumbers.national_significant_number(ex)
                out += [nsn, str(cc) + nsn, "00" + str(cc) + nsn, "011" + str(cc) + nsn, str(cc) + "0" + nsn]
                if md is not None and md.national_prefix:
                    out.append(md.national_prefix + nsn)
    return out


def _literals(regions) -> list[str]:
    """Runs of 3+ literal digits in the patterns of the regions' countries ("000800",
    "180020", "1481", ...): numbers that are viable with a national prefix in front, or whose
    region is chosen by leading digits."""
    return sorted({lit for p in metadata_patterns(regions) for lit in re.findall(r"(?<![\\{,])[0-9]{3,}", p)})


def fuzz_digits(regions, n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    prefixes = _prefixes(regions)
    examples = _examples(regions)
    out = set(examples)
    nps = ["", "0", "1", "90", "180020"]
    for lit in _literals(regions):  # every length, behind a national prefix or not
        for size in range(1, 21):
            d = rnd.choice(nps) + lit
            out.add((d + "".join(rnd.choice("0123456789") for _ in range(size)))[:size])
    while len(out) < n:
        size = rnd.randint(1, 20)
        r = rnd.random()
        if r < 0.15:  # an example number, mutated
            d = list(rnd.choice(examples))
            for _ in range(rnd.randint(1, 2)):
                d[rnd.randrange(len(d))] = rnd.choice("0123456789")
            d = "".join(d)
        elif r < 0.75:
            d = rnd.choice(prefixes)
            if rnd.random() < 0.3:
                d += rnd.choice(prefixes)
        else:
            d = ""
        d = d[:size]
        d += "".join(rnd.choice("0123456789") for _ in range(size - len(d)))
        out.add(d)
    return sorted(out)


# -- digit_validity -----------------------------------------------------------------------------


def test_digit_validity_corpus(regions, batch):
    ds = corpus_digits(1_500_000, 3)
    assert len(ds) > 20_000
    before = dict(batch.batch_stats)
    got = batch.digit_validity(ds)
    want = scalar(FastPhone(regions, pm.Leniency.VALID), ds)
    assert got.shape == (len(ds), len(regions)) and got.dtype == bool
    assert not mismatches(got, want, ds, regions)
    assert want.sum() > 500  # valid numbers occur
    cells = batch.batch_stats["cells"] - before["cells"]
    slow = batch.batch_stats["scalar_cells"] - before["scalar_cells"]
    assert slow < 0.05 * cells  # the automata answer the bulk


def test_digit_validity_fuzz(regions, batch):
    ds = fuzz_digits(regions, 40_000, 4)
    got = batch.digit_validity(ds)
    want = scalar(FastPhone(regions, pm.Leniency.VALID), ds)
    assert not mismatches(got, want, ds, regions)
    for ri in range(len(regions)):
        assert want[:, ri].sum() > 100, regions[ri]  # every region has valid numbers here
    lens = {len(d) for d in ds}
    assert lens == set(range(1, 21))
    # the cases off the common path occur: the scalar fallback ran on some pairs
    assert batch.batch_stats["scalar_cells"] > 0


def test_digit_validity_unknown_and_odd_regions():
    """Unknown region codes; a region of a shared country code (GG); national prefixes that
    can start a viable number (RU, KZ: 8; LT: [08]), where the strip depends on the rest."""
    regions = ("UK", "US", "FE", "DE", "JP", "AU", "GG", "IT", "SG", "RU", "LT", "KZ")
    f = FastPhone(regions, pm.Leniency.VALID)
    ds = fuzz_digits(("US", "DE", "JP", "AU", "GG", "IT", "SG", "RU", "LT", "KZ"), 12_000, 5)
    got = f.digit_validity(ds)
    want = scalar(FastPhone(regions, pm.Leniency.VALID), ds)
    assert not mismatches(got, want, ds, regions)
    assert not got[:, 0].any() and not got[:, 2].any()  # unknown regions: nothing


def test_digit_validity_comparison_bites(regions):
    """A broken automaton or one flipped bit is caught by the same comparison."""
    ds = fuzz_digits(regions, 6_000, 6)
    want = scalar(FastPhone(regions, pm.Leniency.VALID), ds)
    f = FastPhone(regions, pm.Leniency.VALID)
    got = f.digit_validity(ds)
    assert not mismatches(got, want, ds, regions)
    flipped = got.copy()
    flipped[len(ds) // 2, 2] ^= True
    assert mismatches(flipped, want, ds, regions)
    # make every automaton that decides a German number type accept nothing
    de = f._region_meta[regions.index("DE")]
    broken = 0
    for key, dfa in list(f._sets.items()):
        if dfa is not None and any(p == de.gen.pattern for p, _ in key):
            dfa.labels[:] = 0
            broken += 1
    assert broken
    got = f.digit_validity(ds)
    bad = mismatches(got, want, ds, regions)
    assert bad and all(r == "DE" for _, r, _, _ in bad)


def test_digit_validity_edges(regions, batch):
    assert batch.digit_validity([]).shape == (0, len(regions))
    got = batch.digit_validity(["", "1", "12", "123", "6502530000"])
    assert not got[:4].any() and got[4, regions.index("US")]
    for bad in (["12a4"], ["١٢٣٤٥"], ["12 34"], ["+4930123456"]):
        with pytest.raises(ValueError):
            batch.digit_validity(bad)
    assert FastPhone(regions, pm.Leniency.POSSIBLE).digit_validity(["6502530000"]) is None


# -- the automata ---------------------------------------------------------------------------------


def metadata_patterns(regions) -> set[str]:
    pats = set()
    for cc in _country_codes(regions):
        for rc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc]:
            md = PhoneMetadata.metadata_for_region(rc)
            for a in ("international_prefix", "national_prefix_for_parsing", "leading_digits"):
                if getattr(md, a):
                    pats.add(getattr(md, a))
            for dn in ("general_desc", "fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost",
                       "personal_number", "voip", "pager", "uan", "voicemail", "no_international_dialling"):
                d = getattr(md, dn)
                if d is not None and d.national_number_pattern:
                    pats.add(d.national_number_pattern)
            for fmt in list(md.number_format) + list(md.intl_number_format or []):
                pats.add(fmt.pattern)
                pats.update(fmt.leading_digits_pattern)
    return pats


def _strings(rnd, pattern: str, k: int) -> list[str]:
    """Random digit strings, many starting like the pattern's literal digits."""
    lits = re.findall(r"[0-9]+", pattern) or ["0"]
    out = []
    for _ in range(k):
        s = rnd.choice(lits)[: rnd.randint(0, 4)] if rnd.random() < 0.6 else ""
        out.append(s + "".join(rnd.choice("0123456789") for _ in range(rnd.randint(0, 16))))
    return out


def test_automata_equal_re(regions):
    rnd = random.Random(7)
    pats = sorted(metadata_patterns(regions))
    assert len(pats) > 200
    compiled = 0
    for p in pats:
        strs = _strings(rnd, p, 250)
        for prefix in (False, True):
            dfa = compile_digits(p, prefix)
            if dfa is None:
                assert "$" in p, p  # anchors are the only construct these patterns use that is unsupported
                continue
            compiled += 1
            op = re.match if prefix else re.fullmatch
            for s in strs:
                assert bool(dfa.matches(s)) == (op(p, s) is not None), (p, prefix, s)
    assert compiled > 0.85 * 2 * len(pats)


def test_automata_sets_and_alternatives(regions):
    rnd = random.Random(8)
    pats = sorted(p for p in metadata_patterns(regions) if "$" not in p)
    for _ in range(25):
        preds = tuple((rnd.choice(pats), rnd.random() < 0.5) for _ in range(rnd.randint(2, 6)))
        dfa = compile_set(preds)
        if dfa is None:
            continue  # too large a product: callers run the predicates one by one
        for s in _strings(rnd, preds[0][0], 300):
            want = sum(1 << k for k, (p, pre) in enumerate(preds) if (re.match if pre else re.fullmatch)(p, s))
            assert dfa.matches(s) == want, (preds, s)
    # a national prefix pattern made of fixed-width alternatives: the match ends at the width
    # of the first alternative that matches
    for p in ["0|180020", "(?:0|90)", "1", "0(?:0|1[2-9])", "0|01", "0(?:1|2)?"]:
        fa = fixed_alternatives(p)
        if fa is None:
            continue  # an alternative of several widths (the parser factors "0|01" into "0(?:|1)")
        dfa, widths = fa
        for s in _strings(rnd, p, 300):
            m = re.match(p, s)
            lab = dfa.matches(s)
            if m is None:
                assert lab == 0, (p, s)
            else:
                first = (lab & -lab).bit_length() - 1
                assert widths[first] == m.end(), (p, s)
    assert fixed_alternatives("0|180020") is not None and fixed_alternatives("0(?:1|2)?") is None


def test_automata_disk_cache(regions, tmp_path, monkeypatch):
    """Automata read back from the disk cache answer as freshly compiled ones; an out-of-range,
    garbage or truncated file is compiled again, never trusted."""
    import workbench.detectors.digitdfa as dd

    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    rnd = random.Random(9)
    pats = sorted(p for p in metadata_patterns(regions) if "$" not in p)[:40]
    preds = tuple((p, k % 2 == 0) for k, p in enumerate(pats[:5]))
    cold = [compile_digits(p, True) for p in pats] + [compile_set(preds), fixed_alternatives("0|180020")[0]]
    files = sorted((tmp_path / "digitdfa").glob("*.npz"))
    assert len(files) == len(pats) + 2
    built = []
    monkeypatch.setattr(dd, "_compile_parsed", lambda *a: built.append(a) or None)  # a cache miss would show
    warm = [compile_digits(p, True) for p in pats] + [compile_set(preds), fixed_alternatives("0|180020")[0]]
    assert not built and fixed_alternatives("0|180020")[1] == [1, 6]
    for a, b, p in zip(cold, warm, [*pats, preds[0][0], "0"]):
        for s in _strings(rnd, p, 200):
            assert a.matches(s) == b.matches(s), (p, s)
    monkeypatch.undo()
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    real = dd._compile_parsed
    monkeypatch.setattr(dd, "_compile_parsed", lambda *a: built.append(a) or real(*a))
    # a table pointing outside the automaton, a file that is not an archive, a truncated one
    bad = files[0]
    with np.load(bad) as z:
        arrays = dict(z)
    arrays["table"] = arrays["table"] + 10 * len(arrays["table"])
    np.savez(bad, **arrays)
    files[1].write_bytes(b"not an archive")
    files[2].write_bytes(files[3].read_bytes()[:100])  # a truncated archive
    again = [compile_digits(p, True) for p in pats] + [compile_set(preds), fixed_alternatives("0|180020")[0]]
    assert len(built) == 3  # exactly the three damaged files were compiled again
    for a, b, p in zip(cold, again, [*pats, preds[0][0], "0"]):
        for s in _strings(rnd, p, 100):
            assert a.matches(s) == b.matches(s), (p, s)

"""Exact fast verdicts of libphonenumber's `PhoneNumberMatcher._extract_match` (VALID leniency)
for the common class of candidates: ASCII digits separated by spaces, '-', '.', '/', brackets.

`PhoneNumberMatcher._extract_match(candidate, offset)` skips dates and time stamps, then tries
`_parse_and_verify` on the whole candidate and on its "inner matches" (pieces split at '/',
'(', ' - ', '.', spaces). For a piece made of the characters above, `_parse_and_verify` is:

* region independent: the bracket and publication-page checks, the letters/currency symbols
  around the piece, and `parse`'s extraction of a possible number (strip to the first digit,
  strip trailing punctuation, at least 3 digits or exactly 2); its digits D are all that
  `parse` keeps (no '+', no extension, no letters, no RFC 3966 parameters are possible);
* per region a function of D alone: `parse`'s international prefix / country code / national
  prefix logic, `is_valid_number` and `_is_national_prefix_present_if_required`.

The first part reuses libphonenumber's own regular expressions and helpers; the second is a
straight-line re-implementation on precompiled metadata (possible-length tables computed by
libphonenumber itself, number-type patterns joined per length). Candidates outside the class
(plus signs, letters, 'x' extensions, '~', non-ASCII digits or punctuation, > 250 characters),
unknown regions and leniencies other than VALID are not handled here (`verdicts` returns None):
callers run libphonenumber's matcher for them. tests/test_fastphone.py checks the verdicts
against libphonenumber on generated and sampled text.

`FastPhone.digit_validity(ds)` gives the per-region verdicts for many candidates made of ASCII
digits alone at once (a bool array, one row per string): the metadata patterns become digit
automata (workbench.detectors.digitdfa) run over all strings of one length together, and
`_valid`'s steps (international prefix, country code, national prefix, `is_valid_number`, the
national prefix a format requires) become masks. Strings after an international prefix, and
national prefixes that are not alternations of fixed widths, go to the scalar path;
tests/test_fastphone_batch.py checks the batch against the scalar definition.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from workbench.detectors.digitdfa import compile_digits, compile_set, fixed_alternatives

try:
    import re._parser as sre_parse  # Python >= 3.11
except ImportError:  # pragma: no cover
    import sre_parse

_SIMPLE = re.compile(r"(?:[(\[]?\+)?[0-9 \-./()\[\]]+")
_HEX = re.compile(r"[0-9][xX][0-9]+")
_START = re.compile(r"[+0-9]")
_NON_DIGITS = re.compile(r"[^0-9]+")
_SHAPE = str.maketrans("123456789", "000000000")
_SHAPE_BYTES = bytes.maketrans(b"123456789", b"000000000")
_NON_DIGIT_BYTES = bytes(c for c in range(256) if not 48 <= c <= 57)
_MAX_INPUT = 250
_MISSING = object()


class _NoAutomaton(Exception):
    """A pattern without a digit automaton: the batch answers with the scalar path."""


class _Meta:
    """Precompiled pieces of one `PhoneMetadata` that `parse`/`is_valid_number` consult."""

    __slots__ = ("md", "cc", "cc_str", "idd", "np", "transform", "gen", "gen_lengths", "has_gen",
                 "lenres", "known", "descs", "leading", "_tnl")

    def __init__(self, md, pnu):
        self.md = md
        self.cc = md.country_code
        self.cc_str = str(md.country_code)
        self.idd = re.compile(md.international_prefix) if md.international_prefix is not None else None
        npp = md.national_prefix_for_parsing
        self.np = re.compile(npp) if npp else None
        self.transform = md.national_prefix_transform_rule or None
        g = md.general_desc
        self.has_gen = g is not None
        self.gen = re.compile(g.national_number_pattern) if g is not None and g.national_number_pattern else None
        self.gen_lengths = frozenset(g.possible_length) if g is not None else frozenset()
        # _test_number_length(number, md) depends on len(number) only
        self.lenres: dict[int, int] = {}  # _test_number_length(number, md) by len(number)
        self._tnl = pnu._test_number_length
        self.leading = re.compile(md.leading_digits) if md.leading_digits is not None else None
        # _number_type_helper(n, md) != UNKNOWN, past the general-desc test: one of these
        # descs matches (possible lengths, then the full pattern)
        descs = [md.premium_rate, md.toll_free, md.shared_cost, md.voip, md.personal_number, md.pager,
                 md.uan, md.voicemail, md.fixed_line]
        if not md.same_mobile_and_fixed_line_pattern:
            descs.append(md.mobile)
        self.descs = [d for d in descs if d is not None and d.national_number_pattern]
        self.known = {}  # length -> the patterns of the descs allowing it, joined (None: no desc)

    def len_result(self, n: int):
        """`_test_number_length(number, md)`: it depends on len(number) only."""
        r = self.lenres.get(n)
        if r is None:
            r = self.lenres[n] = self._tnl("0" * n, self.md)
        return r

    def gen_full(self, number: str) -> bool:
        """`_match_national_number(number, general_desc, False)`"""
        return self.gen is not None and self.gen.fullmatch(number) is not None

    def is_known(self, nsn: str) -> bool:
        """`_number_type_helper(nsn, md) != PhoneNumberType.UNKNOWN`"""
        if not self.has_gen:
            return False
        n = len(nsn)
        if self.gen_lengths and n not in self.gen_lengths:
            return False
        if self.gen is None or self.gen.fullmatch(nsn) is None:
            return False
        alt = self.known_pattern(n)
        return alt is not None and alt.fullmatch(nsn) is not None

    def known_pattern(self, n: int):
        """The patterns of the descs that allow numbers of n digits, joined (None: no desc)."""
        alt = self.known.get(n, _MISSING)
        if alt is _MISSING:
            pats = [d.national_number_pattern for d in self.descs if not d.possible_length or n in d.possible_length]
            alt = self.known[n] = re.compile("|".join(f"(?:{p})" for p in pats)) if pats else None
        return alt

    def strip_np(self, number: str):
        """`_maybe_strip_national_prefix_carrier_code(number, md)` less the carrier code:
        (number, stripped)."""
        if not number or self.np is None:
            return number, False
        pm = self.np.match(number)
        if not pm:
            return number, False
        viable = self.gen_full(number)
        groups = pm.groups()
        if not self.transform or groups[len(groups) - 1] is None:
            rest = number[pm.end():]
            if viable and not self.gen_full(rest):
                return number, False
            return rest, True
        transformed = re.sub(self.np, self.transform, number, count=1)
        if viable and not self.gen_full(transformed):
            return number, False
        return transformed, True


class FastPhone:
    """Verdicts of `PhoneNumberMatcher(text, region, leniency=VALID)._extract_match` for all
    regions at once, for candidates of the simple class."""

    def __init__(self, regions, leniency):
        import phonenumbers
        from phonenumbers import phonenumbermatcher as pm
        from phonenumbers import phonenumberutil as pnu
        from phonenumbers import PhoneMetadata

        self.pm, self.pnu, self.PhoneMetadata = pm, pnu, PhoneMetadata
        self.cc_regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE
        self.regions = tuple(regions)
        self.enabled = leniency == pm.Leniency.VALID and self._internals_ok()
        self._metas: dict[int, _Meta] = {}
        self._cc_lists: dict[int, list] = {}
        self._region_meta = []
        for r in self.regions:
            ok = isinstance(r, str) and pnu._is_valid_region_code(r)
            md = PhoneMetadata.metadata_for_region(r.upper(), None) if ok else None
            self._region_meta.append(self._meta(md) if md is not None else None)
        VR = pnu.ValidationResult
        self._TOO_LONG = VR.TOO_LONG
        self._NOT_STRIPPED = (VR.TOO_SHORT, VR.IS_POSSIBLE_LOCAL_ONLY, VR.INVALID_LENGTH)
        self._bad_char: dict[str, bool] = {}
        # memo keys are strings: many survive, and strings are no work for the garbage collector
        self._valid_memo: dict[str, bool] = {}
        self._key_tails = [(f"/{ri}", f"/{ri}+") for ri in range(-1, len(self.regions))]
        self._valid_regions = [i for i, m in enumerate(self._region_meta) if m is not None]
        self._valid_cc_memo: dict[str, bool] = {}
        self._cc_len_memo: dict = {}
        # Per region: D shorter than minlen can only be valid after an international prefix.
        # Read in national format, the national significant number is D less a prefix (the
        # country code, the national prefix; a transform rule that is one group of the prefix
        # pattern keeps a substring), and it must have a possible length of its country.
        self._minlen = []
        for m in self._region_meta:
            low = 0
            if m is not None and (m.transform is None or re.fullmatch(r"\\[1-9]", m.transform)):
                lens = self._cc_lengths(m.cc)
                low = min(lens) if lens else 0
            self._minlen.append(low)
        # fewer digits than this: no region at all (with an international prefix, at least 3
        # digits must follow it)
        lows = []
        for i in self._valid_regions:
            m = self._region_meta[i]
            low = self._minlen[i]
            if m.idd is not None:
                low = min(low, sre_parse.parse(m.idd.pattern).getwidth()[0] + 3)
            lows.append(low)
        self.min_any = min(lows, default=0)
        self._max_minlen = max(self._minlen, default=0)
        self._idds = [m.idd if m is not None else None for m in self._region_meta]
        self._prefix_rules: dict = {}
        self._pre = [self._prefilter(m) for m in self._region_meta]
        self._nothing = (None,) * len(self.regions)
        self._has_unknown_region = len(self._valid_regions) < len(self.regions)
        # Candidates of fewer characters match for no region, whatever their characters: a
        # number needs min_any digits, or a plus sign and 3 digits (POSSIBLE leniency: no bound)
        self.min_chars = min(self.min_any, 4) if self.enabled else 0
        # per digit count below _max_minlen: the regions a national number can be valid for
        self._by_len = [[ri for ri in self._valid_regions if n >= self._minlen[ri]] for n in range(self._max_minlen)]
        # `plan` memoised by shape: no piece of at least min_any digits is dropped for its digits'
        # values (`_regions_for` without an international prefix gives some region)
        self._shape_free = all(self._by_len[n] for n in range(self.min_any, self._max_minlen))
        self._shapes: dict[tuple, tuple | None] = {}
        self._plans: dict[str, tuple | None] = {}
        idd_pats = [m.idd.pattern for m in self._region_meta if m is not None and m.idd is not None]
        self._idd_any = re.compile("|".join(f"(?:{p})" for p in idd_pats)) if idd_pats else None
        # _INNER_MATCHES with a character each needs in a candidate of the simple class
        # (None: always run); "" for one that cannot match there (wide hyphens)
        known = {
            "/+(.*)": "/", "(\\([^(]*)": "(", "(?u)(?:\\s-|-\\s)\\s*(.+)": "-",
            "(?u)[\u2012-\u2015\uff0d]\\s*(.+)": "\u2012", "(?u)\\.+\\s*([^.]+)": ".", "(?u)\\s+(\\S+)": " ",
        }
        self._inner = [(p, known.get(p.pattern)) for p in pm._INNER_MATCHES]
        # per ASCII code: the characters `_parse_and_verify` rejects next to a candidate, and the
        # lead characters ('(', '[', '+') that start one before its first digit (fastpatterns)
        self.ascii_bad = np.array([self._bad(chr(c)) if c < 128 else False for c in range(256)], dtype=bool)
        self.ascii_lead = np.array(
            [c < 128 and pm._LEAD_PATTERN.match(chr(c)) is not None for c in range(256)], dtype=bool
        )
        # digit_validity: automata by (pattern, prefix mode), format pattern widths, counts of
        # (string, region) pairs answered in batch and by the scalar path
        self._dfas: dict = {}
        self._widths: dict = {}
        self._np_alts: dict = {}
        self._sets: dict = {}
        self._format_plans: dict = {}
        self.batch_stats = {"rows": 0, "scalar_rows": 0, "cells": 0, "scalar_cells": 0}

    def _internals_ok(self) -> bool:
        pm, pnu = self.pm, self.pnu
        names_pm = ("_SLASH_SEPARATED_DATES", "_TIME_STAMPS", "_TIME_STAMPS_SUFFIX", "_INNER_MATCHES",
                    "_MATCHING_BRACKETS", "_PUB_PAGES", "_LEAD_PATTERN")
        names_pnu = ("_UNWANTED_END_CHAR_PATTERN", "_test_number_length", "_is_valid_region_code",
                     "_choose_formatting_pattern_for_number", "_formatting_rule_has_first_group_only",
                     "_maybe_strip_national_prefix_carrier_code", "_MIN_LENGTH_FOR_NSN", "_MAX_LENGTH_FOR_NSN",
                     "_MAX_LENGTH_COUNTRY_CODE")
        return all(hasattr(pm, n) for n in names_pm) and all(hasattr(pnu, n) for n in names_pnu) and (
            pnu._MIN_LENGTH_FOR_NSN == 2 and pnu._MAX_LENGTH_FOR_NSN == 17 and pnu._MAX_LENGTH_COUNTRY_CODE == 3
        )

    def _meta(self, md) -> _Meta:
        m = self._metas.get(id(md))
        if m is None or m.md is not md:
            m = self._metas[id(md)] = _Meta(md, self.pnu)
        return m

    # -- region independent --------------------------------------------------------------------

    def _bad(self, ch: str) -> bool:
        b = self._bad_char.get(ch)
        if b is None:
            M = self.pm.PhoneNumberMatcher
            b = self._bad_char[ch] = bool(M._is_invalid_punctuation_symbol(ch) or M._is_latin_letter(ch))
        return b

    def _checks(self, text: str, group: str, offset: int, digits: str) -> int:
        """`_parse_and_verify`'s checks before `parse`, and `parse`'s extraction of a viable
        number, whose digits are `digits` (all the digits of the piece): 0 (no region accepts
        the piece), 1 (a number in national format or after an IDD), 2 (after a plus sign)."""
        pm = self.pm
        if group.isdigit():  # no brackets, no page range, nothing to strip
            if offset > 0 and self._bad(text[offset - 1]):
                return 0
            last = offset + len(group)
            if last < len(text) and self._bad(text[last]):
                return 0
            return 1 if len(group) >= 2 else 0
        if not group:
            return 0
        if "(" in group or ")" in group or "[" in group or "]" in group:
            if pm._MATCHING_BRACKETS.fullmatch(group) is None or pm._PUB_PAGES.search(group):
                return 0
        # else the bracket check passes and a page reference needs a '('
        if offset > 0 and group[0] not in "([+" and self._bad(text[offset - 1]):
            return 0  # (_LEAD_PATTERN: an opening bracket or plus sign)
        last = offset + len(group)
        if last < len(text) and self._bad(text[last]):
            return 0
        # parse -> _build_national_number_for_parsing -> _extract_possible_number: the leading
        # and trailing characters it strips are not digits
        m = _START.search(group)
        if m is None:
            return 0
        number = group[m.start():]
        t = self.pnu._UNWANTED_END_CHAR_PATTERN.search(number)
        if t:
            number = number[: t.start()]
        # _is_viable_phone_number: exactly 2 digits, or >= 3 digits among valid punctuation
        # (after a plus sign: >= 3 digits)
        if number[:1] == "+":
            return 2 if len(digits) >= 3 else 0
        if len(number) < 2 or not (len(digits) >= 3 or (len(number) == 2 and len(digits) == 2)):
            return 0
        return 1

    # -- per region ----------------------------------------------------------------------------

    def _country_meta(self, cc: int):
        lst = self._cc_lists.get(cc)
        if lst is None:
            lst = []
            for rc in self.cc_regions.get(cc, ()):
                md_list = self.PhoneMetadata.metadata_for_region(rc.upper(), None)
                md = self.PhoneMetadata.metadata_for_region_or_calling_code(cc, rc.upper())
                lst.append((rc, self._meta(md_list) if md_list is not None else None,
                            self._meta(md) if md is not None else None))
            self._cc_lists[cc] = lst
        return lst

    def _cc_lengths(self, cc: int):
        """The lengths a valid national number of this country code can have (None: any)."""
        lens = set()
        for _, _, m in self._country_meta(cc):
            if m is None:
                continue
            if not m.gen_lengths:
                return None
            lens |= m.gen_lengths
        return frozenset(lens)

    def _is_valid(self, cc: int, nsn: str) -> bool:
        key = nsn + "/" + str(cc)
        v = self._valid_cc_memo.get(key)
        if v is None:
            if len(self._valid_cc_memo) > 200_000:
                self._valid_cc_memo.clear()
            lens = self._cc_len_memo.get(cc, _MISSING)
            if lens is _MISSING:
                lens = self._cc_len_memo[cc] = self._cc_lengths(cc)
            if lens is not None and len(nsn) not in lens:
                v = False
            else:
                lst = self._cc_lists.get(cc)
                if lst is not None and len(lst) == 1 and lst[0][2] is not None and lst[0][0] != "001":
                    m = lst[0][2]  # one region: its metadata decides
                    v = cc == m.cc and m.is_known(nsn)
                else:
                    v = self._is_valid_slow(cc, nsn)
            self._valid_cc_memo[key] = v
        return v

    def _is_valid_slow(self, cc: int, nsn: str) -> bool:
        """`is_valid_number` of a number without extension."""
        lst = self._country_meta(cc)
        if not lst:
            return False
        if len(lst) == 1:
            rc, _, m = lst[0]
        else:  # _region_code_for_number_from_list
            rc = m = None
            for r, ml, mv in lst:
                if ml is None:
                    continue
                if ml.leading is not None:
                    if ml.leading.match(nsn):
                        rc, m = r, mv
                        break
                elif ml.is_known(nsn):
                    rc, m = r, mv
                    break
        if rc is None or m is None:
            return False
        if rc != "001" and cc != m.cc:
            return False
        return m.is_known(nsn)

    def _prefix_present(self, cc: int, nsn: str, raw_digits: str, m_read=None, stripped=None) -> bool:
        """`_is_national_prefix_present_if_required` for a number read in national format
        (`stripped`: whether the national prefix strips from raw_digits with `m_read`)."""
        got = self._prefix_rules.get(cc, _MISSING)
        if got is _MISSING:
            got = self._prefix_rules[cc] = self._build_prefix_rules(cc)
        if got is None:
            return True
        by_len, needs, rules, m = got
        n = len(nsn)
        combined = by_len.get(n, _MISSING)
        if combined is _MISSING:
            combined = by_len[n] = self._formats_for_len(rules, n)
        if combined is False:
            return True  # no format fits a number this long
        if combined is not None:
            fm = combined.fullmatch(nsn)
            if fm is None or not needs[fm.lastgroup]:
                return True
        else:
            for ld, pat, need in rules:
                if (ld is None or ld.match(nsn)) and pat.fullmatch(nsn):
                    break
            else:
                return True
            if not need:
                return True
        # the national prefix (or carrier code) must have been written
        if m is m_read and stripped is not None:
            return stripped
        return m.strip_np(raw_digits)[1]

    def _build_prefix_rules(self, cc: int):
        """The formats of the country's main region (`_choose_formatting_pattern_for_number`
        takes the first whose last leading-digits pattern matches and whose pattern matches
        the whole number), each with whether it needs the national prefix written; and one
        regular expression whose first matching alternative is that format."""
        pnu = self.pnu
        md = self.PhoneMetadata.metadata_for_region(pnu.region_code_for_country_code(cc), None)
        if md is None:
            return None
        rules, needs = [], {}
        for i, f in enumerate(md.number_format):
            ldp = f.leading_digits_pattern[-1] if len(f.leading_digits_pattern) > 0 else None
            need = bool(f.national_prefix_formatting_rule) and not f.national_prefix_optional_when_formatting
            need = need and not pnu._formatting_rule_has_first_group_only(f.national_prefix_formatting_rule)
            rules.append((re.compile(ldp) if ldp is not None else None, re.compile(f.pattern), need))
            needs[f"f{i}"] = need
        return {}, needs, rules, self._meta(md)

    @staticmethod
    def _formats_for_len(rules, n: int):
        """One regular expression whose first matching alternative is the first format that
        a number of n digits can take (a format's pattern must match all of it, so its width
        must allow n); False where none can; None where it cannot be built (loop instead)."""
        alts = []
        for i, (ld, pat, _) in enumerate(rules):
            try:
                lo, hi = sre_parse.parse(pat.pattern).getwidth()
            except Exception:  # pragma: no cover
                return None
            if not lo <= n <= hi:
                continue
            alts.append(f"(?P<f{i}>" + (f"(?=(?:{ld.pattern}))" if ld is not None else "") + f"(?:{pat.pattern}))")
        if not alts:
            return False
        try:
            return re.compile("|".join(alts))
        except re.error:  # pragma: no cover - metadata patterns are plain
            return None

    def valid(self, ri: int, digits: str, plus: bool) -> bool:
        """`parse(piece, region, keep_raw_input=True)` then `_verify(VALID, ...)`, for a piece of
        the simple class whose digits are `digits` (after a plus sign when `plus`)."""
        if not plus:
            pre = self._pre[ri]
            if pre is not None and pre.fullmatch(digits) is None:
                return False
        elif len(digits) > 2 and self._extract_cc(digits)[0]:
            ri = -1  # a country code after the plus sign: the region plays no part
        key = digits + self._key_tails[ri + 1][plus]
        v = self._valid_memo.get(key)
        if v is None:
            if len(self._valid_memo) > 200_000:
                self._valid_memo.clear()
            r = ri if ri >= 0 else self._valid_regions[0]
            v = self._valid_memo[key] = self._valid(self._region_meta[r], self.regions[r], digits, plus)
        return v

    def _prefilter(self, meta):
        """A regular expression every digit string that `_valid` accepts (without a plus sign)
        for this region matches: after an international prefix or the country code anything;
        otherwise an optional national prefix and a number of the country's general
        description (`is_valid_number` checks it). None where a transform rule rewrites the
        national prefix."""
        if meta is None or meta.transform is not None:
            return None
        gens = []
        for _, _, mv in self._country_meta(meta.cc):
            if mv is not None and mv.gen is not None and mv.gen.pattern not in gens:
                gens.append(mv.gen.pattern)
        alts = []
        if meta.idd is not None:
            alts.append(f"(?:{meta.idd.pattern})[0-9]*")
        alts.append(f"{meta.cc_str}[0-9]*")
        if gens:
            np_ = f"(?:{meta.np.pattern})?" if meta.np is not None else ""
            alts.append(np_ + "(?:" + "|".join(f"(?:{g})" for g in gens) + ")")
        try:
            return re.compile("|".join(alts))
        except re.error:  # pragma: no cover
            return None

    def _extract_cc(self, number: str):
        """`_extract_country_code`"""
        if not number or number[0] == "0":
            return 0, number
        for i in range(1, min(len(number), 3) + 1):
            if int(number[:i]) in self.cc_regions:
                return int(number[:i]), number[i:]
        return 0, number

    def _cc_phase(self, meta: _Meta, D: str):
        """`_maybe_extract_country_code` of a number without a plus sign: (read in national
        format, country code or 0, national number), or None where it raises."""
        if meta.idd is not None:
            im = meta.idd.match(D)
            if im is not None:
                rest = D[im.end():]
                if not rest or rest[0] != "0":  # _parse_prefix_as_idd: stripped
                    if len(rest) <= 2:
                        return None  # TOO_SHORT_AFTER_IDD
                    cc, national = self._extract_cc(rest)
                    if cc == 0:
                        return None  # INVALID_COUNTRY_CODE
                    return False, cc, national
        if D.startswith(meta.cc_str):
            pot, _ = meta.strip_np(D[len(meta.cc_str):])
            if (not meta.gen_full(D) and meta.gen_full(pot)) or meta.len_result(len(D)) == self._TOO_LONG:
                return False, meta.cc, pot  # FROM_NUMBER_WITHOUT_PLUS_SIGN
        return True, 0, ""

    def _valid(self, meta: _Meta, region: str, D: str, plus: bool) -> bool:
        # parse: _maybe_extract_country_code, and its retry without the plus sign
        if plus:
            if len(D) <= 2:
                return False  # TOO_SHORT_AFTER_IDD
            cc, national = self._extract_cc(D)
            from_default = False
            if cc == 0:  # INVALID_COUNTRY_CODE: parse tries again without the plus sign
                r = self._cc_phase(meta, D)
                if r is None or r[1] == 0:
                    return False
                from_default, cc, national = r
        else:
            r = self._cc_phase(meta, D)
            if r is None:
                return False
            from_default, cc, national = r
        if cc != 0:
            number_region = self.pnu.region_code_for_country_code(cc)
            if number_region != region:
                md = self.PhoneMetadata.metadata_for_region_or_calling_code(cc, number_region)
                m = self._meta(md)
            else:
                m = meta
        else:
            national = D
            cc = meta.cc
            m = meta
        if len(national) < 2:
            return False  # TOO_SHORT_NSN
        pot, stripped = m.strip_np(national)
        if m.len_result(len(pot)) not in self._NOT_STRIPPED:
            national = pot
        if len(national) < 2 or len(national) > 17:
            return False
        # national_significant_number(numobj) == national (leading zeros are kept as written)
        if not self._is_valid(cc, national):
            return False
        if not from_default:
            return True
        # read in national format: m is the region's metadata and national was D before the
        # strip, so `stripped` is what the check computes when m is its country's main region
        return self._prefix_present(cc, national, D, m, stripped)

    def verdicts(self, text: str, start: int, end: int):
        """For the candidate text[start:end] (as `PhoneNumberMatcher._find` cut it): a tuple
        with, per region, None or the (start, end) of `_extract_match`'s match relative to
        `start`; or None when the candidate is outside the simple class (ask libphonenumber).
        (Tuples, one shared where nothing matches: callers keep many of them, and tuples of
        atoms cost the garbage collector nothing.)"""
        out = self._verdicts(text, start, end)
        if out is None:
            return None
        return tuple(out) if any(out) else self._nothing

    def _verdicts(self, text: str, start: int, end: int):
        plan = self.plan(text, start, end)
        if plan is None:
            return None
        has_plus, pieces = plan
        out = [None] * len(self.regions)
        left = len(self._valid_regions)
        for a, b, digits, plus in pieces:
            regs = self._valid_regions if has_plus else self._regions_for(len(digits), digits)
            if plus and len(digits) > 2 and self._extract_cc(digits)[0]:
                # a country code after the plus sign: one verdict for every region (`valid`)
                if not self.valid(regs[0], digits, True):
                    continue
                regs = [ri for ri in regs if out[ri] is None]
                for ri in regs:
                    out[ri] = (a, b)
                left -= len(regs)
            else:
                for ri in regs:
                    if out[ri] is None and self.valid(ri, digits, plus):
                        out[ri] = (a, b)
                        left -= 1
            if not left:
                break
        return out

    def plan(self, text: str, start: int, end: int):
        """What the verdicts on the candidate text[start:end] depend on, for a candidate of the
        simple class: (whether it holds a plus sign, the pieces `_parse_and_verify` may accept
        in the order it tries them, as (start, end) relative to `start`, the piece's digits,
        whether they follow a plus sign)), tuples all through (callers keep many: tuples of
        atoms cost the garbage collector nothing); None outside the class. For each region the
        verdict is the first piece whose digits are valid there (`valid`; without a plus sign in
        the candidate, only for the regions `_regions_for` gives).

        Memoised by what `_plan` reads. Without a '/' or a space in the candidate, that is its
        shape (digits as '0'), and whether the characters just before and after it are
        rejected neighbours (`_bad`): the dates and time stamps `_plan` skips need a '/' or a
        space, every other pattern it applies (`_SIMPLE`, `_HEX`, the inner matches, brackets,
        publication pages, `_START`, trailing characters) reads digits only as digits, pieces
        too short for every region are dropped by their digit count alone (`_shape_free`), and
        the other characters `_checks` looks at are the candidate's own. The pieces' digits are
        then read from the candidate (an ASCII one as bytes: translated by table, not by regex).
        Other candidates are memoised by their text, the character before and the three after
        it (`_TIME_STAMPS_SUFFIX`)."""
        if not self.enabled or end - start > _MAX_INPUT:
            return None
        cand = text[start:end]
        if self._shape_free and "/" not in cand and " " not in cand:
            bad = self._bad_char
            bp = bn = False
            if start > 0:
                bp = bad.get(text[start - 1])
                if bp is None:
                    bp = self._bad(text[start - 1])
            if end < len(text):
                bn = bad.get(text[end])
                if bn is None:
                    bn = self._bad(text[end])
            raw = cand.encode("ascii") if cand.isascii() else None  # (bytes: translate by table)
            shape = raw.translate(_SHAPE_BYTES) if raw is not None else cand.translate(_SHAPE)
            key = (bp, bn, shape)
            memo = self._shapes
            got = memo.get(key, _MISSING)
            if got is _MISSING:
                got = self._plan(text, start, end)
                if got is not None:
                    got = (got[0], tuple((a, b, plus) for a, b, _, plus in got[1]))
                if len(memo) > 100_000:
                    memo.clear()
                memo[key] = got
            if got is None:
                return None
            if raw is not None:
                drop = _NON_DIGIT_BYTES
                return got[0], tuple((a, b, raw[a:b].translate(None, drop).decode(), plus) for a, b, plus in got[1])
            sub = _NON_DIGITS.sub
            return got[0], tuple((a, b, sub("", cand[a:b]), plus) for a, b, plus in got[1])
        key = f"{end - start}:" + (text[start - 1 : end + 3] if start else "\n" + text[: end + 3])
        memo = self._plans
        got = memo.get(key, _MISSING)
        if got is _MISSING:
            got = self._plan(text, start, end)
            if len(memo) > 200_000:
                memo.clear()
            memo[key] = got
        return got

    def _plan(self, text: str, start: int, end: int):
        cand = text[start:end]
        if _SIMPLE.fullmatch(cand) is None:
            if _HEX.fullmatch(cand):
                # "0x1f2": the 'x' cannot start an extension (one digit before it is not a
                # viable number), so _contains_only_valid_x_chars fails; no inner match
                return False, ()
            return None
        has_plus = "+" in cand
        if self._has_unknown_region and has_plus:
            return None  # parse reads numbers with a plus sign even for an unknown region
        if not self._valid_regions:
            return False, ()
        if cand.isdigit():  # one piece, no date, no time stamp, nothing to strip
            n = len(cand)
            if n < self.min_any or n < 2:
                return False, ()
            bad = self._bad_char
            if start > 0:
                b = bad.get(text[start - 1])
                if b or (b is None and self._bad(text[start - 1])):
                    return False, ()
            if end < len(text):
                b = bad.get(text[end])
                if b or (b is None and self._bad(text[end])):
                    return False, ()
            return False, ((0, n, cand, False),)
        pm = self.pm
        if pm._SLASH_SEPARATED_DATES.search(cand):
            return False, ()
        if pm._TIME_STAMPS.search(cand) and pm._TIME_STAMPS_SUFFIX.match(text, end):
            return False, ()
        lo = min(self.min_any, 3) if has_plus else self.min_any
        if len(_NON_DIGITS.sub("", cand)) < lo:
            return False, ()  # too few digits for any region
        pieces = []
        hi = self._max_minlen
        for group, off in self._pieces(text, cand, start):
            digits = _NON_DIGITS.sub("", group)
            n = len(digits)
            if n < lo:
                continue  # too few digits for any region
            if n < hi and not has_plus and not self._regions_for(n, digits):
                continue  # shorter than any valid number of the regions, and no IDD
            chk = self._checks(text, group, off, digits)
            if chk:
                pieces.append((off - start, off - start + len(group), digits, chk == 2))
        return has_plus, tuple(pieces)

    # -- batches of digit strings ---------------------------------------------------------------

    def digit_validity(self, ds: Sequence[str]):
        """Per string of `ds` (ASCII digits only) and per region, what the scalar path of
        `_verdicts` gives a candidate made of those digits alone (neighbours aside):
        `len(d) >= max(min_any, 2) and ri in _regions_for(len(d), d) and valid(ri, d, False)`.
        A bool array of shape (len(ds), len(regions)); None when the matcher is not enabled
        (`verdicts` answers nothing then: callers ask libphonenumber). Raises ValueError for a
        string with anything but ASCII digits.

        All strings of one length are answered together by digit automata (`digitdfa`),
        following `_valid` step by step as masks: the prefilter; D starting with the region's
        international prefix (left to the scalar path: the country code after it may be any
        country's); D starting with the country code (read without it when that makes a
        number); the national prefix strip (exact where its pattern is an alternation of fixed
        widths without a transform rule, else the strings it matches go to the scalar path);
        `_is_valid` (the region of the number chosen by leading digits among those of the
        country code, its general description and number types); and, read in national
        format, the national prefix the first fitting number format requires. The (string,
        region) pairs left over, and all pairs of a length group where a pattern has no
        automaton, go to the scalar path; `batch_stats` counts both."""
        if not self.enabled:
            return None
        out = np.zeros((len(ds), len(self.regions)), dtype=bool)
        if not ds:
            return out
        block = "".join(ds)
        if block and not (block.isascii() and block.isdigit()):  # ASCII: isdigit is 0-9
            raise ValueError("digit_validity takes strings of ASCII digits")
        digits = np.frombuffer(block.encode("ascii"), dtype=np.uint8) - np.uint8(48)
        lens = np.fromiter(map(len, ds), dtype=np.intp, count=len(ds))
        starts = np.zeros(len(ds), dtype=np.intp)
        np.cumsum(lens[:-1], out=starts[1:])
        lo = max(self.min_any, 2)
        stats = self.batch_stats
        for n in np.unique(lens[lens >= lo]).tolist():
            rows = np.flatnonzero(lens == n)
            cols = digits[np.arange(n)[:, None] + starts[rows][None, :]]  # a string per column
            any_scalar = np.zeros(len(rows), dtype=bool)
            for ri in self._valid_regions:
                try:
                    hit, slow = self._batch_column(ri, n, cols)
                except _NoAutomaton:
                    hit, slow = np.zeros(0, dtype=np.intp), np.arange(len(rows))
                out[rows[hit], ri] = True
                for i in rows[slow].tolist():
                    d = ds[i]
                    if ri in self._regions_for(n, d) and self.valid(ri, d, False):
                        out[i, ri] = True
                any_scalar[slow] = True
                stats["cells"] += len(rows)
                stats["scalar_cells"] += len(slow)
            stats["rows"] += len(rows)
            stats["scalar_rows"] += int(any_scalar.sum())
        return out

    def _run(self, pattern: str, prefix: bool, cols) -> np.ndarray:
        """`re.match` (prefix) or `re.fullmatch` of the pattern, found or not, for each column
        of digits; raises _NoAutomaton where the pattern has no automaton."""
        key = (pattern, prefix)
        dfa = self._dfas.get(key, _MISSING)
        if dfa is _MISSING:
            dfa = self._dfas[key] = compile_digits(pattern, prefix)
        if dfa is None:
            raise _NoAutomaton(pattern)
        if cols.shape[1] == 0:
            return np.zeros(0, dtype=bool)
        return dfa.run(cols)

    def _labels(self, preds: tuple, cols) -> np.ndarray:
        """For predicates ((pattern, prefix), ...), at most 64: per column a uint64 whose bit
        k says whether predicate k holds; one automaton for all where it is small enough."""
        dfa = self._sets.get(preds, _MISSING)
        if dfa is _MISSING:
            for p, pre in preds:  # raises _NoAutomaton for a pattern without one
                self._run(p, pre, cols[:, :0])
            dfa = self._sets[preds] = compile_set(preds) if len(preds) > 1 else self._dfas[preds[0]]
        if cols.shape[1] == 0:
            return np.zeros(0, dtype=np.uint64)
        if dfa is not None:
            return dfa.run_labels(cols)
        lab = np.zeros(cols.shape[1], dtype=np.uint64)
        for k, (p, pre) in enumerate(preds):
            lab |= self._run(p, pre, cols).astype(np.uint64) << np.uint64(k)
        return lab

    @staticmethod
    def _split(values: np.ndarray):
        """[(value, indices of the entries with it)] over the distinct values (one sort only
        where they differ)."""
        if values.size == 0:
            return []
        lo, hi = int(values.min()), int(values.max())
        if lo == hi:
            return [(lo, np.arange(values.size))]
        return [(v, np.flatnonzero(values == v)) for v in np.unique(values).tolist()]

    @staticmethod
    def _first_bit(lab: np.ndarray) -> np.ndarray:
        """The lowest bit set in each label, -1 where none."""
        low = lab & (~lab + np.uint64(1))
        out = np.full(lab.shape, -1, dtype=np.intp)
        nz = low != 0
        out[nz] = np.log2(low[nz].astype(np.float64)).astype(np.intp)
        return out

    def _gen_full(self, m: _Meta, cols, offs) -> np.ndarray:
        """`m.gen_full(D[off:])` per column, offs one offset or one per column."""
        N = cols.shape[1]
        if m.gen is None:
            return np.zeros(N, dtype=bool)
        if np.isscalar(offs):
            return self._run(m.gen.pattern, False, cols[offs:])
        res = np.zeros(N, dtype=bool)
        for off, sel in self._split(offs):
            res[sel] = self._run(m.gen.pattern, False, cols[off:, sel])
        return res

    def _batch_strip(self, m: _Meta, cols, off: int):
        """`m.strip_np(D[off:])` per column: (offset of the result, stripped, left to the
        scalar path). Exact where the national prefix pattern is an alternation of fixed
        widths without a transform rule (the match ends at the width of the first alternative
        that matches); elsewhere columns where the pattern matches are left to the scalar path."""
        n, N = cols.shape
        new = np.full(N, off, dtype=np.intp)
        stripped = np.zeros(N, dtype=bool)
        escape = np.zeros(N, dtype=bool)
        if off >= n or m.np is None or N == 0:
            return new, stripped, escape
        key = (m.np.pattern, m.transform)
        alts = self._np_alts.get(key, _MISSING)
        if alts is _MISSING:
            alts = self._np_alts[key] = None if m.transform else fixed_alternatives(m.np.pattern)
            if alts is not None:  # widths, then -1 for no match
                alts = self._np_alts[key] = (alts[0], np.array(alts[1] + [-1], dtype=np.intp))
        X = cols[off:]
        if alts is None:
            return new, stripped, self._run(m.np.pattern, True, X)
        width = alts[1][self._first_bit(alts[0].run_labels(X))]  # of the first that matches
        matched = np.flatnonzero(width >= 0)
        for w, part in self._split(width[matched]):
            sel = matched[part]
            sub = cols[:, sel]
            # a viable number stays whole when what follows the prefix is not
            ok = ~(self._gen_full(m, sub, off) & ~self._gen_full(m, sub, off + w))
            new[sel[ok]] = off + w
            stripped[sel[ok]] = True
        return new, stripped, escape

    def _batch_column(self, ri: int, n: int, cols):
        """For region ri and the digit strings of length n in cols (one per column): the
        columns `valid` accepts, and those left to the scalar path. Mirrors `_valid` without a
        plus sign, less the numbers after an international prefix."""
        none = np.zeros(0, dtype=np.intp)
        M = self._region_meta[ri]
        rows = np.arange(cols.shape[1])
        if n < self._minlen[ri]:
            # not among _regions_for(n, D) unless D starts with the region's IDD
            if M.idd is None:
                return none, none
            return none, rows[self._run(M.idd.pattern, True, cols)]
        # `valid`'s prefilter (bit 0), D starting with the country code (1), with the
        # international prefix (2)
        pre = self._pre[ri]
        preds = ((pre.pattern if pre is not None else "[0-9]*", False), (M.cc_str, True))
        if M.idd is not None:
            preds += ((M.idd.pattern, True),)
        lab = self._labels(preds, cols)
        ok = (lab & np.uint64(1)) != 0
        if not ok.any():
            return none, none  # (the prefilter rejects every string)
        lab, rows, cols = lab[ok], rows[ok], cols[:, ok]
        slow = [none]
        away = (lab & np.uint64(4)) != 0  # _cc_phase: after an international prefix
        if away.any():
            slow.append(rows[away])
            lab, rows, cols = lab[~away], rows[~away], cols[:, ~away]
        # _cc_phase: D starting with the country code is read without it where that gives a
        # number (or D is too long): FROM_NUMBER_WITHOUT_PLUS_SIGN
        N = len(rows)
        offs = np.zeros(N, dtype=np.intp)  # where the national number starts
        default = np.ones(N, dtype=bool)  # read in national format (FROM_DEFAULT_COUNTRY)
        keep = np.ones(N, dtype=bool)
        B = np.flatnonzero(lab & np.uint64(2))
        if B.size:
            sub = cols[:, B]
            pot, _, esc = self._batch_strip(M, sub, len(M.cc_str))
            if M.len_result(n) == self._TOO_LONG:
                cond = np.ones(B.size, dtype=bool)
            else:
                cond = ~self._gen_full(M, sub, 0) & self._gen_full(M, sub, pot)
            take = cond & ~esc
            default[B[take]] = False
            offs[B[take]] = pot[take]
            keep[B[esc]] = False
            slow.append(rows[B[esc]])
        hits = [none]
        for from_default in (True, False):
            sel = np.flatnonzero(keep & (default == from_default))
            if sel.size == 0:
                continue
            mm = M
            if not from_default:  # the country code's main region reads the number
                number_region = self.pnu.region_code_for_country_code(M.cc)
                if number_region != self.regions[ri]:
                    mm = self._meta(self.PhoneMetadata.metadata_for_region_or_calling_code(M.cc, number_region))
            hit, esc = self._batch_national(M.cc, mm, n, cols[:, sel], offs[sel], from_default)
            hits.append(rows[sel[hit]])
            slow.append(rows[sel[esc]])
        return np.concatenate(hits), np.concatenate(slow)

    def _batch_national(self, cc: int, m: _Meta, n: int, cols, offs, from_default: bool):
        """`_valid` from its national prefix strip on, for the national numbers D[off:] of
        country code cc read with metadata m: (valid columns, columns left to the scalar
        path)."""
        N = cols.shape[1]
        hit = np.zeros(N, dtype=bool)
        escape = np.zeros(N, dtype=bool)
        for off, sel in self._split(offs):
            if n - off < 2:
                continue  # TOO_SHORT_NSN
            sub = cols[:, sel] if sel.size < N else cols
            pot, stripped, esc = self._batch_strip(m, sub, off)
            escape[sel[esc]] = True
            live = np.flatnonzero(~esc)
            for p, part in self._split(pot[live]):
                part = live[part]
                # the stripped number is kept unless its length is impossible
                start = p if m.len_result(n - p) not in self._NOT_STRIPPED else off
                size = n - start
                if size < 2 or size > 17:
                    continue
                digits = sub[:, part] if part.size < sub.shape[1] else sub
                ok = self._batch_is_valid(cc, size, digits[start:])
                if from_default:
                    chk = np.flatnonzero(ok)
                    present, esc2 = self._batch_prefix_present(
                        cc, size, digits[start:, chk], m, stripped[part[chk]], digits[:, chk])
                    ok[chk] = present
                    escape[sel[part[chk[esc2]]]] = True
                hit[sel[part[ok]]] = True
        return np.flatnonzero(hit), np.flatnonzero(escape)

    def _batch_is_known(self, m: _Meta, n: int, cols) -> np.ndarray:
        """`m.is_known(D)` for the columns (numbers of n digits)."""
        no = np.zeros(cols.shape[1], dtype=bool)
        if not m.has_gen or (m.gen_lengths and n not in m.gen_lengths) or m.gen is None:
            return no
        alt = m.known_pattern(n)
        if alt is None:
            return no
        return self._labels(((m.gen.pattern, False), (alt.pattern, False)), cols) == np.uint64(3)

    def _batch_is_valid(self, cc: int, n: int, cols) -> np.ndarray:
        """`_is_valid(cc, D)` for the columns (numbers of n digits): the country's lengths,
        then `_is_valid_slow`'s region of the number and its number types."""
        N = cols.shape[1]
        res = np.zeros(N, dtype=bool)
        lens = self._cc_len_memo.get(cc, _MISSING)
        if lens is _MISSING:
            lens = self._cc_len_memo[cc] = self._cc_lengths(cc)
        lst = self._country_meta(cc)
        if (lens is not None and n not in lens) or not lst or N == 0:
            return res
        chosen = np.full(N, -1, dtype=np.intp)
        if len(lst) == 1:
            chosen[:] = 0
        else:  # _region_code_for_number_from_list: the first region that claims the number
            rem = np.arange(N)
            k = 0
            while k < len(lst) and rem.size:
                ml = lst[k][1]
                if ml is None:
                    k += 1
                    continue
                if ml.leading is None:
                    hit = self._batch_is_known(ml, n, cols[:, rem])
                    chosen[rem[hit]] = k
                    rem = rem[~hit]
                    k += 1
                    continue
                # a run of regions claiming by leading digits: one automaton
                run = []
                while k < len(lst) and len(run) < 64 and (lst[k][1] is None or lst[k][1].leading is not None):
                    if lst[k][1] is not None:
                        run.append(k)
                    k += 1
                leads = tuple((lst[j][1].leading.pattern, True) for j in run)
                first = self._first_bit(self._labels(leads, cols[:, rem]))
                hit = first >= 0
                chosen[rem[hit]] = np.asarray(run, dtype=np.intp)[first[hit]]
                rem = rem[~hit]
        picked = np.flatnonzero(chosen >= 0)
        for k, part in self._split(chosen[picked]):
            rc, _, mv = lst[k]
            if mv is None or (rc != "001" and cc != mv.cc):
                continue
            sel = picked[part]
            res[sel] = self._batch_is_known(mv, n, cols[:, sel] if sel.size < N else cols)
        return res

    def _batch_prefix_present(self, cc: int, n: int, cols, m_read: _Meta, stripped, dcols):
        """`_prefix_present(cc, nsn, D, m_read, stripped)` for national numbers nsn of n
        digits (cols) and their digit strings D (dcols): (present, left to the scalar path)."""
        N = cols.shape[1]
        present = np.ones(N, dtype=bool)
        escape = np.zeros(N, dtype=bool)
        got = self._prefix_rules.get(cc, _MISSING)
        if got is _MISSING:
            got = self._prefix_rules[cc] = self._build_prefix_rules(cc)
        if got is None or N == 0:
            return present, escape
        _, _, rules, m = got
        # _choose_formatting_pattern_for_number: the first format whose pattern matches all
        # of the number and whose last leading-digits pattern matches at its start (formats
        # whose pattern cannot match n digits left out); one automaton for the lot
        plan = self._format_plans.get((cc, n))
        if plan is None:
            preds, fmt_need = [], []
            for ld, pat, need in rules:
                w = self._widths.get(pat.pattern)
                if w is None:
                    w = self._widths[pat.pattern] = sre_parse.parse(pat.pattern).getwidth()
                if w[0] <= n <= w[1]:
                    preds.append((pat.pattern, False))
                    preds.append((ld.pattern, True) if ld is not None else ("", True))
                    fmt_need.append(need)
            plan = self._format_plans[(cc, n)] = (tuple(preds), fmt_need)
        preds, fmt_need = plan
        hits = []
        for c in range(0, len(preds), 64):
            lab = self._labels(preds[c : c + 64], cols)
            for k in range(0, min(64, len(preds) - c), 2):  # pattern (bit k) and leading digits (k + 1)
                hits.append((lab >> np.uint64(k)) & (lab >> np.uint64(k + 1)) & np.uint64(1))
        chosen = np.full(N, -1, dtype=np.intp)
        for k in range(len(hits) - 1, -1, -1):  # the first format that fits wins
            chosen[hits[k] != 0] = k
        needs = np.array(fmt_need + [False], dtype=bool)
        need = np.flatnonzero(needs[chosen])
        if need.size:
            if m is m_read:
                present[need] = stripped[need]
            else:  # whether the main region's national prefix strips from D
                _, strip2, esc = self._batch_strip(m, dcols[:, need], 0)
                present[need] = strip2 & ~esc
                escape[need] = esc
        return present, escape

    def _regions_for(self, n: int, digits: str):
        """The regions a number of these n digits (no plus sign) can be valid for: those with
        numbers this long, and those whose international prefix it starts with."""
        if n >= self._max_minlen:
            return self._valid_regions
        if self._idd_any is None or not self._idd_any.match(digits):
            return self._by_len[n]
        minlen, idds = self._minlen, self._idds
        return [ri for ri in self._valid_regions if n >= minlen[ri] or (idds[ri] is not None and idds[ri].match(digits))]

    def _pieces(self, text: str, cand: str, offset: int):
        """The pieces `_parse_and_verify` sees, in order: the candidate, then
        `_extract_inner_match`'s groups."""
        yield cand, offset
        unwanted = self.pnu._UNWANTED_END_CHAR_PATTERN
        for pattern, trigger in self._inner:
            if trigger is not None and trigger not in cand:
                continue  # the pattern cannot match without this character
            gm = pattern.search(cand)
            first = True
            while gm:
                if first:
                    group = cand[: gm.start()]
                    t = unwanted.search(group)
                    yield (group[: t.start()] if t else group), offset
                    first = False
                group = gm.group(1)
                t = unwanted.search(group)
                yield (group[: t.start()] if t else group), offset + gm.start(1)
                gm = pattern.search(cand, gm.start() + 1)

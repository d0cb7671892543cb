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
"""

from __future__ import annotations

import re

try:
    import re._parser as sre_parse  # Python >= 3.11
except ImportError:  # pragma: no cover
    import sre_parse

_SIMPLE = re.compile(r"(?:[(\[]?\+)?[0-9 \-./()\[\]]+")
_HEX = re.compile(r"[0-9][xX][0-9]+")
_START = re.compile(r"[+0-9]")
_NON_DIGITS = re.compile(r"[^0-9]+")
_MAX_INPUT = 250
_MISSING = object()


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
        alt = self.known.get(n, _MISSING)
        if alt is _MISSING:
            pats = [d.national_number_pattern for d in self.descs if not d.possible_length or n in d.possible_length]
            alt = self.known[n] = re.compile("|".join(f"(?:{p})" for p in pats)) if pats else None
        return alt is not None and alt.fullmatch(nsn) is not None

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
        self._min_any = min(lows, default=0)
        self._max_minlen = max(self._minlen, default=0)
        self._idds = [m.idd if m is not None else None for m in self._region_meta]
        self._prefix_rules: dict = {}
        self._pre = [self._prefilter(m) for m in self._region_meta]
        self._nothing = (None,) * len(self.regions)
        self._has_unknown_region = len(self._valid_regions) < len(self.regions)
        # Candidates of fewer characters match for no region, whatever their characters: a
        # number needs min_any digits, or a plus sign and 3 digits (POSSIBLE leniency: no bound)
        self.min_chars = min(self._min_any, 4) if self.enabled else 0
        # per digit count below _max_minlen: the regions a national number can be valid for
        self._by_len = [[ri for ri in self._valid_regions if n >= self._minlen[ri]] for n in range(self._max_minlen)]
        idd_pats = [m.idd.pattern for m in self._region_meta if m is not None and m.idd is not None]
        self._idd_any = re.compile("|".join(f"(?:{p})" for p in idd_pats)) if idd_pats else None
        # _INNER_MATCHES with a character each needs in a candidate of the simple class
        # (None: always run); "" for one that cannot match there (wide hyphens)
        known = {
            "/+(.*)": "/", "(\\([^(]*)": "(", "(?u)(?:\\s-|-\\s)\\s*(.+)": "-",
            "(?u)[\u2012-\u2015\uff0d]\\s*(.+)": "\u2012", "(?u)\\.+\\s*([^.]+)": ".", "(?u)\\s+(\\S+)": " ",
        }
        self._inner = [(p, known.get(p.pattern)) for p in pm._INNER_MATCHES]

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

    def digit_validity(self, ds):
        """For candidates of ASCII digits only (with no neighbour that `_parse_and_verify`
        rejects): a boolean array, one row per string, one column per region, True where
        `_extract_match` matches the whole candidate for that region."""
        import numpy as np

        out = np.zeros((len(ds), len(self.regions)), dtype=bool)
        lo = max(self._min_any, 2)
        for i, d in enumerate(ds):
            n = len(d)
            if n < lo:
                continue
            for ri in self._regions_for(n, d):
                if self.valid(ri, d, False):
                    out[i, ri] = True
        return out

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
        atoms cost the garbage collector nothing); None outside the class. For each region the verdict
        is the first piece whose digits are valid there (`valid`; without a plus sign in the
        candidate, only for the regions `_regions_for` gives)."""
        if not self.enabled or end - start > _MAX_INPUT:
            return None
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
            if n < self._min_any or n < 2:
                return False, []
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
        lo = min(self._min_any, 3) if has_plus else self._min_any
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

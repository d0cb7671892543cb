"""Context-word pre-check for `FastPatternEngine._enhance`: tokenise only where a boost is possible.

Presidio's `LemmaContextAwareEnhancer` boosts a result at `start` when one of its recognizer's
context words is a SUBSTRING of one of the keyword lemmas it inspects: from the token `i` that
covers `start` (the first token whose end is after `start`), backwards until `prefix + 1`
keyword lemmas are collected (token `i` included), and forwards until `suffix + 1` are. Lemmas
are spaCy's LOWER (`str.lower()` of the token text); a lemma is a keyword when it is in the
text's keyword list (`NlpArtifacts.set_keywords`: lemmas that are not stop words, punctuation,
"-PRON-" or "be", split at ':'). Every inspected token lies in [start(j_back), end(j_fwd)),
where `j_back` is the `prefix + 1`-th keyword token at or before `i` (or the first token) and
`j_fwd` the `suffix + 1`-th keyword token at or after `i` (or the last token).

`ContextPrecheck.check` computes, WITHOUT running the tokenizer on the text, a range [L, U)
containing [start(j_back), end(j_fwd)), and returns None when no context word occurs
(case-insensitively) inside [L, U). A context word that is a substring of a token's lemma
occurs inside that token's characters (see "Lower-casing"), so then no inspected lemma contains
a context word, the result is not boosted, and skipping the tokenizer for it changes nothing.

Counting keywords without tokenising. The text between ASCII whitespace is cut into "chunks"
(maximal runs of other characters) and "gaps" (the ASCII whitespace between two chunks).
`sure_count` gives, for a chunk or gap, a number of its tokens that are keywords in ANY context
(a lower bound; 0 when unknown):

* `_STRONG` rule: a chunk without ':' holding an ASCII character that is not a letter, not
  Unicode punctuation (P*), not whitespace and not ':' (a digit, `$+<=>|~^` or a backquote) has
  at least one keyword token, however spaCy splits it: the token holding that character has a
  lemma holding it, which is then not punctuation (spaCy's `is_punct`: all characters P*), not
  a stop word (`_strong_rule_holds` checks every stop word is letters and punctuation only),
  not "be"/"-PRON-", and has no ':' so it is in the keyword list as is.
* Otherwise (chunks without digits and without non-ASCII whitespace, and gaps) the chunk is
  tokenised ALONE (cached per string) and its keyword tokens counted, when these tokens are the
  ones it gets in any context: spaCy's `_tokenize_affixes` cuts the text at `str.isspace`
  characters and tokenises every non-whitespace run (and every whitespace run, less a leading
  ' ' that goes to the token before) from that run's string alone, so the affix pass gives the
  chunk the same tokens in context as alone. `_apply_special_cases` then re-tokenises only
  token spans whose text (with the whitespace between tokens) is a special-case key;
  `special_cases_safe` checks that keys with whitespace are whitespace only, so a match across
  a chunk's border has no rule and is copied unchanged, and only a match INSIDE the chunk can
  change it. Such a match leaves consecutive tokens spelling a special-case key (the key's
  affix tokens, or its rule's tokens if applied). `_spells_key` rejects chunks whose tokens
  alone spell a key of the special matcher (`matcher_keys`); for the others there was no match
  alone, their tokens alone are the affix pass's, and no context can create a match inside
  them. A counted lemma has no ':' and `is_keyword`, so it is in the keyword list.
* Chunks holding non-ASCII whitespace (U+00A0, U+2003, ...) are not one spaCy run: only the
  `_STRONG` rule applies to them. A gap next to such a chunk is part of a longer spaCy
  whitespace run: it counts 0.
Extra keywords in Presidio's list (':'-pieces of other tokens) only make MORE tokens keywords,
which can only end both walks sooner, so lower bounds stay valid.

Backward bound L: going back from `start` over chunks (and gaps) that end at or before
`start` (all their tokens come before token `i`), L is the start of the chunk where the sure
counts reach prefix + 1: the walk stops at or after it, so start(j_back) >= L (else L = `lo`).
Forward bound U: going forward over chunks (and gaps) starting at or after `start` (tokens at or
after `i`), U is the end of the chunk where the sure counts reach suffix + 1: end(j_fwd) <= U
(else U = `hi`). Chunks cut by the search window, at `lo`/`hi` with a non-space neighbour
outside the segment, or holding `start`, are not counted, which only widens [L, U).

Lower-casing. Lemma = token_text.lower(). When `text.lower()` has the same length as `text`,
every character lowers to exactly one character, and per-character lowering is context free
except for Greek capital sigma (final form). `ContextPrecheck` is only enabled when no context
word contains a sigma form, so a context word inside token_text.lower() is also found at the
same offsets in text.lower(). Texts whose lower-casing changes the length (e.g. 'İ') are not
pre-checked (`lowered` returns None) and every result goes to the tokenizer as before.

Walk from chunk tokens (`ChunkWalk`). Results that pass the pre-check walk Presidio's keyword
walk over per-chunk tokens instead of a tokenised window. Chunks and gaps whose tokens alone are
their tokens in any context (the conditions of the tokenising branch of `sure_count`; for a gap,
text less the ' ' given to the token before, or all of a leading run at the segment start; a
gap's special-case matches, whitespace-only keys, lie inside it, so gaps need no `_spells_key`)
are tokenised once per string (by `ChunkTokenizer`, the tokenizer's affix pass replayed in Python,
or by the tokenizer where a special case could apply) and cached as (start, end, lower, keyword)
tuples; keyword flags
add the segment's ':'-pieces (`SegmentPieces`, which finds them in the chunks holding
`lm + ':'` or `':' + lm` rather than tokenising the segment). Chunks that hold no occurrence of
the result's context words cannot give a matching lemma, so only their keyword COUNT matters:
the first pass does not tokenise such chunks when they hold a digit (mostly unique strings) and
are not cached, and counts them as
between 1 (`_STRONG` rule: no ':' and a `_STRONG` character) or 0 and their length (a token
has at least one character). Lemmas collected while the lower bounds have not reached the
walk's need are surely inspected, those after it possibly; when a possibly-inspected lemma
could change the answer (the first context word, in the recognizer's order, in a lemma), the
walk is redone with exact counts, where such a chunk is counted without tokenising only when
its one sure keyword ends the walk. The walk returns the surely inspected lemmas ("" for a
keyword of a chunk that cannot match), which give the same first context word as Presidio's
full list; given the first context word that occurs inside the pre-check's bounds [L, U) (no
lemma the walk inspects holds an earlier one), it ends at the first surely inspected lemma
holding that word and returns it alone. Anything it cannot be sure of (non-ASCII whitespace
next to a gap, chunks spelling a special-case key, chunks over 512 characters, a result
starting on whitespace) returns None and the result is tokenised on its window as below.

Results that pass are tokenised on the window [L, U) (chunk-aligned, so spaCy splits it like
the segment; `_context_list` falls back to wider windows if the walk does not complete inside
it). `SegmentPieces` gives such windows the ':'-pieces of the whole segment. The assumptions
about spaCy (3.8 tokenizer internals) are exercised against Presidio's own enhancer in
tests/test_fastcontext.py.
"""

from __future__ import annotations

import bisect
import re
from typing import Callable, Sequence

_ASCII_WS = " \t\n\r\x0b\x0c"
# A maximal run of non-(ASCII-)whitespace characters. The lookbehind may look before `pos`, so a
# run cut by the search window's start is not matched; at `endpos` the lookahead succeeds, so
# callers drop a last run that ends at `endpos` when the real text continues with non-space.
_CHUNK = re.compile(r"(?<![^ \t\n\r\x0b\x0c])[^ \t\n\r\x0b\x0c]+")
# ASCII characters that are not letters, not Unicode punctuation (category P*), not whitespace
# and not ':' (they lower-case to themselves).
_STRONG = re.compile(r"[0-9$+<=>|~^`]")
_DIGIT = re.compile(r"[0-9]")
_NONWS = re.compile(r"[^ \t\n\r\x0b\x0c]*")
_SIGMAS = ("\u03c3", "\u03c2", "\u03a3")


def special_cases_safe(tokenizer) -> bool:
    """True when every special-case key of `tokenizer` that contains whitespace is whitespace only."""
    try:
        rules = tokenizer.rules
    except Exception:
        return False
    for key in rules or {}:
        if any(c.isspace() for c in key) and not key.isspace():
            return False
    return True


def matcher_keys(tokenizer) -> list[str]:
    """The special-case keys that `_apply_special_cases` may match (those `add_special_case` puts
    into the tokenizer's special matcher; every key when `faster_heuristics` is off or unknown)."""
    rules = tokenizer.rules or {}
    if getattr(tokenizer, "faster_heuristics", None) is not True:
        return list(rules)
    return [
        k
        for k in rules
        if tokenizer.find_prefix(k) or tokenizer.find_infix(k) or tokenizer.find_suffix(k) or " " in k
    ]


def _strong_rule_holds(tokenizer) -> bool:
    """A chunk without ':' containing a `_STRONG` character has at least one keyword token.

    Whatever the tokenisation, some token contains that character c, so its lemma contains c:
    it is not punctuation (spaCy's `is_punct`: every character in a P* category), not a stop
    word (checked here: every stop word consists of letters and punctuation only), not "be" or
    "-PRON-", and has no ':' (the chunk has none): Presidio counts it as a keyword. This checks
    that the vocabulary uses spaCy's own `is_punct` and a stop-word list (lexemes whose flags
    were changed by hand afterwards are not supported)."""
    import functools
    import unicodedata

    from spacy.attrs import IS_PUNCT, IS_STOP
    from spacy.lang import lex_attrs

    getters = getattr(tokenizer.vocab, "lex_attr_getters", {}) or {}
    punct, stop = getters.get(IS_PUNCT), getters.get(IS_STOP)
    if punct is not lex_attrs.is_punct:
        return False
    if not (isinstance(stop, functools.partial) and stop.func is lex_attrs.is_stop):
        return False
    stops = stop.keywords.get("stops")
    if stops is None:
        return False
    for w in stops:
        for ch in w.lower():
            if not (ch.isalpha() or unicodedata.category(ch).startswith("P")):
                return False
    return True


class ChunkTokenizer:
    """The tokens spaCy's tokenizer gives a string without whitespace, as (start, end) spans,
    computed in Python from the tokenizer's own rules instead of calling it: a chunk seen once
    (a log field such as `took=618ms`) costs spaCy a new Doc and a lexeme per new token string.

    This is `Tokenizer._split_affixes` then `_attach_tokens` (spaCy 3.8, tokenizer.pyx) for a
    string that is one whitespace-free run: while the string changes, stop at a `token_match`,
    else strip the prefix (`prefix_search`) and the suffix (`suffix_search`, of what follows
    the prefix) as they do; then the rest is one token when `token_match` or `url_match`
    matches it, else it is cut at the `infix_finditer` matches as `_attach_tokens` cuts it;
    the prefixes come first and the suffixes last, innermost first. Wherever the tokenizer
    would look up a special case (the string, the string less its prefix or its suffix, the
    rest: keys of `tokenizer.rules`), None is returned and the caller asks the tokenizer. The
    tokenizer's cache only holds what this computes (a cached rest is a whitespace run that was
    tokenised the same way from scratch). `_apply_special_cases`, which runs on the whole text
    after this, is the callers' concern (`ContextPrecheck._spells_key`)."""

    def __init__(self, tokenizer):
        self.rules = frozenset(tokenizer.rules or {})
        self.token_match = tokenizer.token_match
        self.url_match = tokenizer.url_match
        self.prefix_search = tokenizer.prefix_search
        self.suffix_search = tokenizer.suffix_search
        self.infix_finditer = tokenizer.infix_finditer

    def spans(self, text: str) -> list[tuple[int, int]] | None:
        rules, token_match = self.rules, self.token_match
        pre_search, suf_search = self.prefix_search, self.suffix_search
        if text in rules:
            return None
        string, off, last_size = text, 0, 0
        prefixes: list[tuple[int, int]] = []
        suffixes: list[tuple[int, int]] = []
        while string and len(string) != last_size:
            if token_match is not None and token_match(string):
                break
            if string in rules:
                return None
            last_size = n = len(string)
            m = pre_search(string) if pre_search is not None else None
            pre_len = m.end() - m.start() if m is not None else 0
            if pre_len and n > pre_len and string[pre_len:] in rules:
                return None
            m = suf_search(string[pre_len:]) if suf_search is not None else None
            suf_len = m.end() - m.start() if m is not None else 0
            if suf_len and n > suf_len and string[:-suf_len] in rules:
                return None
            if pre_len and suf_len and pre_len + suf_len <= n:
                prefixes.append((off, off + pre_len))
                suffixes.append((off + n - suf_len, off + n))
                string = string[pre_len:-suf_len]
                off += pre_len
            elif pre_len:
                prefixes.append((off, off + pre_len))
                string = string[pre_len:]
                off += pre_len
            elif suf_len:
                suffixes.append((off + n - suf_len, off + n))
                string = string[:-suf_len]
        out = prefixes
        if string:
            if string in rules:
                return None
            n = len(string)
            if (token_match is not None and token_match(string)) or (self.url_match is not None and self.url_match(string)):
                out.append((off, off + n))
            else:
                start = 0
                for m in self.infix_finditer(string) if self.infix_finditer is not None else ():
                    a, b = m.start(), m.end()
                    if a == 0:  # (`infix_start == start_before_infixes`)
                        continue
                    if a != start:
                        out.append((off + start, off + a))
                    if a != b:
                        out.append((off + a, off + b))
                    start = b
                if start < n:
                    out.append((off + start, off + n))
        out.extend(reversed(suffixes))
        return out


class ContextPrecheck:
    """Necessary condition for a context boost, per result, without tokenising (see module doc)."""

    def __init__(
        self,
        tokenizer,
        is_keyword: Callable[[str], bool],
        prefix_count: int,
        suffix_count: int,
        contexts: Sequence[Sequence[str]],
    ):
        self.tokenizer = tokenizer
        self.is_keyword = is_keyword
        self.need_back = prefix_count + 1
        self.need_fwd = suffix_count + 1
        words = [w for ctx in contexts for w in ctx]
        self.enabled = special_cases_safe(tokenizer) and not any(s in w.lower() for w in words for s in _SIGMAS)
        self._keys = frozenset(matcher_keys(tokenizer)) if self.enabled else frozenset()
        self._key_len = max(map(len, self._keys), default=0)
        self._sure: dict[str, int] = {}
        self._gaps: dict[str, int] = {}
        self._strong_ok = self.enabled and _strong_rule_holds(tokenizer)
        self._affix = ChunkTokenizer(tokenizer) if self.enabled else None
        self._vocab = tokenizer.vocab
        from spacy.attrs import LOWER

        self._lower_getter = (getattr(self._vocab, "lex_attr_getters", None) or {}).get(LOWER)

    def token_lower(self, token: str) -> str:
        """spaCy's `lower_` of a token with this text: its lexeme's, or for a text without one
        what the vocabulary's LOWER getter gives the lexeme it would create."""
        if self._lower_getter is None or token in self._vocab:
            return self._vocab[token].lower_
        return self._lower_getter(token)

    def chunk_tokens(self, chunk: str) -> tuple[list[tuple[int, int]], list[str]] | None:
        """Spans and lower-cased texts of the tokens spaCy gives `chunk` (a whitespace-free run
        of a text) in any context, or None when that is not certain: the affix pass's tokens
        (`ChunkTokenizer`, else the tokenizer itself) when no run of them spells a special-case
        key (see `sure_count`). A chunk holding non-ASCII whitespace (U+00A0, ...) is not one
        spaCy run: None."""
        if any(c.isspace() for c in chunk):
            return None
        spans = self._affix.spans(chunk) if self._affix is not None else None
        if spans is not None:
            if self._spells_key(chunk, spans):
                spans = None  # (the tokenizer decides, and the check below)
            else:
                low = self.token_lower
                return spans, [low(chunk[a:b]) for a, b in spans]
        return self.spacy_tokens(chunk)

    def spacy_tokens(self, text: str, keys: bool = True) -> tuple[list[tuple[int, int]], list[str]] | None:
        """Spans and lower-cased texts of the tokenizer's tokens of `text` (one chunk, or one gap),
        None unless they cover it without holes and (`keys`) no run of them spells a
        special-case key."""
        doc = self.tokenizer(text)
        spans = [(t.idx, t.idx + len(t.text)) for t in doc]
        whole = [s for s, _ in spans[1:]] == [e for _, e in spans[:-1]]
        if not (spans and whole and spans[0][0] == 0 and spans[-1][1] == len(text)):
            return None
        if keys and self._spells_key(text, spans):
            return None
        return spans, [t.lower_ for t in doc]

    def sure_count(self, chunk: str, gap: bool = False) -> int:
        """How many tokens of `chunk` are certainly keywords in any context (0: unknown).

        `chunk` is a run of non-(ASCII-)whitespace characters between ASCII whitespace, or
        (`gap`) the ASCII whitespace between two such runs less the one ' ' spaCy attaches to the
        token before. A chunk holding other whitespace (e.g. U+00A0) is not one spaCy run: only
        the `_STRONG` rule applies to it (it holds whatever token holds that character). For
        the others, spaCy's run is exactly `chunk`, and the tokenizer's affix
        pass gives it the same tokens in context as alone. Its special-case pass could change
        them only through a match inside the chunk (a match across whitespace has no rule, see
        `special_cases_safe`), which would leave tokens whose concatenation is a special-case key
        (the key's pattern tokens, or its rule tokens where the rule was applied). So when no run
        of consecutive tokens of the chunk alone spells a key, there was no match alone, the
        tokens alone are the affix pass's, no context can add a match, and they are the tokens
        in context too. Of those, a lemma without ':' that `is_keyword` is in Presidio's list."""
        k = self._sure.get(chunk) if not gap else self._gaps.get(chunk)
        if k is None:
            if not gap and self._strong_ok and ":" not in chunk and _STRONG.search(chunk):
                return 1  # see _strong_rule_holds; not cached (such chunks are mostly unique)
            if not gap and _DIGIT.search(chunk):
                return 0  # unknown: mostly unique (times, addresses), not worth a tokenizer call
            k = 0
            got = self.spacy_tokens(chunk) if gap else self.chunk_tokens(chunk)
            if got is not None:
                iskw = self.is_keyword
                k = sum(1 for lm in got[1] if ":" not in lm and iskw(lm))
            cache = self._gaps if gap else self._sure
            if len(cache) > 500_000:
                cache.clear()
            cache[chunk] = k
        return k

    def _spells_key(self, chunk: str, spans: list[tuple[int, int]]) -> bool:
        keys, top = self._keys, self._key_len
        for i, (s, _) in enumerate(spans):
            for _, e in spans[i:]:
                if e - s > top:
                    break
                if chunk[s:e] in keys:
                    return True
        return False

    @staticmethod
    def lowered(text: str, lo: int, hi: int) -> str | None:
        """text[lo:hi].lower() when it keeps offsets, else None (no pre-check for this segment)."""
        low = text[lo:hi].lower()
        return low if len(low) == hi - lo else None

    def _gap(self, text: str, a: int, b: int) -> int:
        """Sure keywords among the tokens of the whitespace text[a:b] between two chunks."""
        if b - a <= 1 and text[a] == " ":
            return 0
        if text[a - 1].isspace() or (b < len(text) and text[b].isspace()):
            return 0  # part of a longer whitespace run (non-ASCII spaces around it): unknown
        return self.sure_count(text[a + 1 : b] if text[a] == " " else text[a:b], gap=True)

    def _lower(self, text: str, start: int, lo: int) -> int:
        """L of the bounds [L, U) that contain every character Presidio's walk can inspect for a
        result at `start`: going back over chunks (and whitespace between them) ending at or
        before it. L is `lo` or the start of a whitespace-delimited chunk, U (`_upper`) is `hi`
        or the end of one, so text[L:U] is also a window that spaCy tokenises like the segment."""
        sure, gap = self.sure_count, self._gap
        need = self.need_back
        width = 16 * need + 32
        L = lo
        while True:
            a = max(lo, start - width)
            ms = [m.span() for m in _CHUNK.finditer(text, a, start)]
            if ms and ms[-1][1] == start and text[start] not in _ASCII_WS:
                ms.pop()  # continues past `start`
            got = 0
            for k in range(len(ms) - 1, -1, -1):
                s, e = ms[k]
                got += sure(text[s:e])
                if got >= need:
                    L = s
                    break
                if k:
                    got += gap(text, ms[k - 1][1], s)
                    if got >= need:
                        L = ms[k - 1][0]
                        break
            if got >= need or a <= lo:
                break
            width *= 4
        return L

    def _upper(self, text: str, start: int, hi: int) -> int:
        """U: going forward over chunks (and whitespace between them) starting at or after `start`."""
        sure, gap = self.sure_count, self._gap
        need = self.need_fwd
        if start < hi and text[start] not in _ASCII_WS and (start == 0 or text[start - 1] in _ASCII_WS):
            # the usual case: a chunk starts at `start` and has enough sure keywords itself
            e = _NONWS.match(text, start, hi).end()
            if sure(text[start:e]) >= need:
                return e
        width = 16 * need + 32
        U = hi
        while True:
            b = min(hi, start + width)
            got, last = 0, -1  # (the end of the chunk before)
            for m in _CHUNK.finditer(text, start, b):
                s, e = m.span()
                if e == b and b < hi and text[b] not in _ASCII_WS:
                    break  # cut by the window
                if last >= 0:
                    got += gap(text, last, s)
                    if got >= need:
                        U = e
                        break
                got += sure(text[s:e])
                if got >= need:
                    U = e
                    break
                last = e
            if got >= need or b >= hi:
                break
            width *= 4
        return U

    @staticmethod
    def occurrences(low: str, words: Sequence[str], end: int | None = None) -> tuple[list[int], list[int]] | None:
        """Where `words` occur in `low` (a lowered segment; those ending by `end` when given), for
        `check`: the occurrences' end offsets in order, and for each the largest start among the
        occurrences ending at or before it; None when none occurs. (`check` of a result only
        looks at those ending by its U: `end` may be the largest U of the results to check.)"""
        occ = []
        for w in words:
            n = len(w)
            i = low.find(w, 0, end)
            while i >= 0:
                occ.append((i + n, i))
                i = low.find(w, i + 1, end)
        if not occ:
            return None
        occ.sort()
        ends, best, top = [], [], -1
        for e, s in occ:
            top = max(top, s)
            ends.append(e)
            best.append(top)
        return ends, best

    def check(self, text: str, low: str, lo: int, hi: int, start: int, words: Sequence[str], occ=None, failed=None):
        """None when a result at `start` with lower-cased context `words` cannot be boosted, else
        its bounds [L, U) (`low` from `lowered`; `occ`: `occurrences(low, words)`, computed
        here when not given). A boost needs an occurrence inside [L, U): the last one to start
        among those ending by U must start at or after L. U comes first: without such an
        occurrence L is not needed. (U > `start`: when every occurrence ends by `start`, that
        occurrence is the last one, and U is computed only for a result that passes.)

        `failed` (a list, the same for the results of one recognizer in one segment) remembers
        the last result that failed on L: [its start, the occurrence k it was measured
        against]. L and U only grow with `start` (going back from a later start counts the
        same chunks and more), so a later result whose U leads to the same occurrence k fails
        too, without computing its L."""
        if occ is None:
            occ = self.occurrences(low, words)
            if occ is None:
                return None
        ends = occ[0]
        if ends[-1] <= start - lo:  # every occurrence ends by `start` < U: k is the last, U waits
            U, k = None, len(ends) - 1
        else:
            U = self._upper(text, start, hi)
            k = bisect.bisect_right(ends, U - lo) - 1
            if k < 0:
                return None
        if failed and failed[1] == k and start >= failed[0]:
            return None
        L = self._lower(text, start, lo)
        if occ[1][k] >= L - lo:
            return L, self._upper(text, start, hi) if U is None else U
        if failed is not None:
            failed[:] = (start, k)
        return None


_MAX_LOOSE = 24  # chunks counted 0..len in the first walk before it gives up
_MAX_CHUNK = 512  # longer chunks are left to the window path (`ChunkWalk.walk` returns None)


class ChunkWalk:
    """Presidio's keyword walk for one result, built from per-chunk tokens (see module doc, "Walk
    from chunk tokens"). Needs an enabled `ContextPrecheck` and a segment with `lowered` text."""

    def __init__(self, check: ContextPrecheck):
        self.check = check
        self.is_keyword = check.is_keyword
        self.need_back, self.need_fwd = check.need_back, check.need_fwd
        self._chunks: dict[str, tuple | None] = {}
        self._gaps: dict[str, tuple | None] = {}

    def tokens(self, chunk: str, gap: bool = False):
        """The tokens of `chunk` (or of the whitespace token text `gap`) as spaCy gives them in any
        context, as (start, end, lower, base keyword) tuples relative to the chunk; None when that
        is not certain (the conditions of `ContextPrecheck.sure_count`'s tokenising branch)."""
        cache = self._gaps if gap else self._chunks
        got = cache.get(chunk, 0)
        if got != 0:
            return got
        # (a whitespace run's special-case matches, whitespace-only keys, lie inside it: they are
        # the same alone and in context, so gaps need no `_spells_key`)
        toks = self.check.spacy_tokens(chunk, keys=False) if gap else self.check.chunk_tokens(chunk)
        got = None
        if toks is not None:
            iskw = self.is_keyword
            got = tuple((a, b, lm, ":" not in lm and iskw(lm)) for (a, b), lm in zip(*toks))
        if len(cache) > 200_000:
            cache.clear()
        cache[chunk] = got
        return got

    def walk(
        self, text: str, low: str, lo: int, hi: int, start: int, words: Sequence[str], seg, substring=True, first=None
    ):
        """Keyword lemmas of Presidio's walk for a result at `start` that give the same context
        word as the full list (the first of `words` that is in, or for `substring` a substring
        of, one of them), or None when this walk cannot be sure (the caller then tokenises a
        window). Tries first without tokenising chunks whose keyword count the `_STRONG` rule
        bounds (see module doc, "Walk from chunk tokens"), then with exact counts.

        `first`: the first of `words` that occurs in `low` inside the bounds `ContextPrecheck.check`
        gave the result (every character the walk inspects lies inside them). No lemma of the walk
        holds a word before it, so the first surely inspected lemma that holds `first` decides
        the answer: the walk ends there and returns that lemma alone."""
        got = self._walk(text, low, lo, hi, start, words, seg, substring, False, first)
        if got is False:
            got = self._walk(text, low, lo, hi, start, words, seg, substring, True, first)
        return got

    def _walk(self, text, low, lo, hi, start, words, seg, substring, exact, first):
        if not (lo <= start < hi) or text[start].isspace():
            return None
        ws = _ASCII_WS
        cs = start
        while cs > lo and text[cs - 1] not in ws:
            cs -= 1
            if start - cs > _MAX_CHUNK:
                return None
        ce = _NONWS.match(text, start, min(hi, start + _MAX_CHUNK + 1)).end()
        if ce - start > _MAX_CHUNK:
            return None
        strong_ok = self.check._strong_ok
        need_b, need_f = self.need_back, self.need_fwd
        cached = self._chunks

        def clean(a: int, b: int) -> bool:
            for w in words:
                if low.find(w, a - lo, b - lo) >= 0:
                    return False
            return True

        def kws(toks) -> list[str]:
            out = []
            for t in toks:
                lm = t[2]
                if t[3] or (":" not in lm and seg is not None and seg.maybe(lm) and seg.has(lm)):
                    out.append(lm)
            return out

        def bounded(a: int, b: int) -> bool:
            # a chunk whose keyword count the _STRONG rule bounds below by 1 and that holds no
            # occurrence of a context word (no lemma of it can match)
            return strong_ok and ":" not in text[a:b] and _STRONG.search(text, a, b) is not None and clean(a, b)

        # units, in walk order: (0, keyword lemmas) exact, or (1, lo, hi) a keyword count between
        # lo and hi of a chunk whose lemmas cannot match; None: not sure, use the window path
        chunk = text[cs:ce]
        head_b = head_f = None
        if need_f == 1 and cs == start and _STRONG.match(text, start) and bounded(cs, ce):
            # token i starts the chunk and holds a _STRONG character: one keyword back and forward
            head_b, head_f = (1, 1, 1), (1, 1, 1)
        elif not exact and (bounded(cs, ce) or (chunk not in cached and _DIGIT.search(chunk) and clean(cs, ce))):
            # no lemma of the chunk can match; keyword counts bounded as for `bounded` chunks
            sure1 = strong_ok and ":" not in chunk
            lb_b = 1 if sure1 and _STRONG.search(text, cs, start + 1) else 0
            lb_f = 1 if sure1 and _STRONG.search(text, start, ce) else 0
            head_b, head_f = (1, lb_b, start - cs + 1), (1, lb_f, ce - start)
        else:
            toks = self.tokens(chunk)
            if toks is None:
                return None
            rel = start - cs
            i = 0
            while toks[i][1] <= rel:
                i += 1
            head_b, head_f = (0, kws(toks[i::-1])), (0, kws(toks[i:]))

        def consume(head, units, need):
            mn = mx = 0
            sure, maybe = [], []
            u = head
            while True:
                if u[0] == 0:
                    for lm in u[1]:
                        if mn >= need:
                            break
                        if mx < need:
                            if first is not None and (first in lm if substring else first == lm):
                                return lm  # decides the answer (see `walk`)
                            sure.append(lm)
                        else:
                            maybe.append(lm)
                        mn += 1
                        mx += 1
                else:
                    mn += u[1]
                    mx += u[2]
                if mn >= need:
                    break
                u = units.send(mn)
                if u is None:
                    return None
                if u is True:  # segment edge
                    break
                if u is False:  # too many loose bounds: walk again with exact counts
                    return False
            return sure, maybe

        def chunk_unit(a, b, mn, need, loose, backward):
            """One whitespace chunk [a, b) as a unit for `consume` (a sure count, a loose count,
            or its exact tokens, nearest first); returns the new (mn, loose), or None once it
            has told `consume` to stop (None: cannot decide here; False: too many loose bounds)."""
            if (not exact or mn + 1 >= need) and bounded(a, b):
                return (yield (1, 1, b - a)), loose
            if not exact and text[a:b] not in cached and _DIGIT.search(text, a, b) and clean(a, b):
                if loose + 1 > _MAX_LOOSE:
                    yield False
                    return None
                return (yield (1, 0, b - a)), loose + 1
            toks = self.tokens(text[a:b])
            if toks is None:
                yield None
                return None
            return (yield (0, kws(reversed(toks) if backward else toks))), loose

        def gap_unit(g, mn, backward):
            """The whitespace token text `g` between two chunks as a unit (its tokens, nearest
            first); returns the new mn, or None once it has told `consume` to stop."""
            if not g:
                return mn
            toks = self.tokens(g, gap=True)
            if toks is None:
                yield None
                return None
            return (yield (0, kws(reversed(toks) if backward else toks)))

        def back_units():
            loose = 0
            mn = yield
            p = cs
            while p > lo:
                gs = p
                while gs > lo and text[gs - 1] in ws:
                    gs -= 1
                if text[p].isspace():
                    yield None  # the chunk starts with non-ASCII whitespace: a longer spaCy run
                    return
                if gs == lo:
                    g = text[lo:p]  # leading whitespace: one spaCy run, no ' ' given to a token
                else:
                    if text[gs - 1].isspace():
                        yield None  # non-ASCII whitespace: a longer spaCy run
                        return
                    g = text[gs + 1 : p] if text[gs] == " " else text[gs:p]
                mn = yield from gap_unit(g, mn, True)
                if mn is None:
                    return
                if gs == lo:
                    break
                b = a = gs
                while a > lo and text[a - 1] not in ws:
                    a -= 1
                    if b - a > _MAX_CHUNK:
                        yield None
                        return
                got = yield from chunk_unit(a, b, mn, need_b, loose, True)
                if got is None:
                    return
                mn, loose = got
                p = a
            while True:
                yield True

        def fwd_units():
            loose = 0
            mn = yield
            p = ce
            while p < hi:
                ge = p
                while ge < hi and text[ge] in ws:
                    ge += 1
                if text[p - 1].isspace() or (ge < hi and text[ge].isspace()):
                    yield None  # non-ASCII whitespace next to the gap: a longer spaCy run
                    return
                g = text[p + 1 : ge] if text[p] == " " else text[p:ge]
                mn = yield from gap_unit(g, mn, False)
                if mn is None:
                    return
                if ge >= hi:
                    break
                a = ge
                b = _NONWS.match(text, a, min(hi, a + _MAX_CHUNK + 1)).end()
                if b - a > _MAX_CHUNK:
                    yield None
                    return
                got = yield from chunk_unit(a, b, mn, need_f, loose, False)
                if got is None:
                    return
                mn, loose = got
                p = b
            while True:
                yield True

        out = []
        for head, gen, need in ((head_b, back_units(), need_b), (head_f, fwd_units(), need_f)):
            next(gen)
            got = consume(head, gen, need)
            gen.close()
            if got is None or got is False:
                return got
            if isinstance(got, str):
                return [got]
            out.append(got)
        sure = out[0][0] + out[1][0]
        maybe = out[0][1] + out[1][1]
        for w in words:
            if substring:
                if any(w in lm for lm in sure):
                    break
                if any(w in lm for lm in maybe):
                    return False
            else:
                if w in sure:
                    break
                if w in maybe:
                    return False
        return list(set(sure))


class SegmentPieces:
    """The ':'-pieces of one segment's keywords, for windows tokenised on their own.

    Presidio counts a lemma as a keyword when it is in the keyword list of the WHOLE text, which
    also holds the ':'-separated pieces of every keyword lemma containing ':' (e.g. "us" from
    "us:123" makes every "us" a keyword, although "us" is a stop word). A window sees only its
    own pieces. A piece of a lemma with ':' is next to a ':' in that lemma, so a lemma `lm` can
    only be such a piece when `lm + ':'` or `':' + lm` occurs in the lower-cased segment; only
    then is the segment tokenised as a whole (once) to get its exact pieces."""

    def __init__(self, engine, text: str, lo: int, hi: int, low: str | None):
        self.engine, self.text, self.lo, self.hi, self.low = engine, text, lo, hi, low
        self._pieces: set[str] | None = None
        self._any_colon = ":" in text[lo:hi] if low is None else ":" in low

    def maybe(self, lm: str) -> bool:
        if not self._any_colon:
            return False
        if self.low is None or any(s in lm for s in _SIGMAS):
            return True
        return (lm + ":") in self.low or (":" + lm) in self.low

    def has(self, lm: str) -> bool:
        if self._pieces is None:
            walker = getattr(self.engine, "_ctx_walker", None)
            if walker is not None and self.low is not None:
                got = self._has_local(walker, lm)
                if got is not None:
                    return got
            whole = self.engine._tokens(self.text[self.lo : self.hi], self.lo)
            self._pieces = whole[4] if len(whole) > 4 else set()
        return lm in self._pieces

    def _has_local(self, walker: ChunkWalk, lm: str) -> bool | None:
        """`has` from the chunks holding `lm + ':'` or `':' + lm` alone (a lemma with ':' lies in
        one chunk, and holds its pieces next to a ':'), None when one of them is not certain to
        be tokenised in context as alone (`ChunkWalk.tokens`)."""
        if not lm or any(c.isspace() for c in lm) or any(s in lm for s in _SIGMAS):
            return None
        text, low, lo, hi, ws = self.text, self.low, self.lo, self.hi, _ASCII_WS
        iskw = walker.is_keyword
        seen = self.__dict__.setdefault("_local", {})
        for key in (lm + ":", ":" + lm):
            pos = low.find(key)
            while pos >= 0:
                a = pos + lo
                while a > lo and text[a - 1] not in ws:
                    a -= 1
                b = _NONWS.match(text, pos + lo, hi).end()
                pieces = seen.get(a)
                if pieces is None:
                    toks = walker.tokens(text[a:b])
                    if toks is None:
                        return None
                    pieces = set()
                    for t in toks:
                        if ":" in t[2] and iskw(t[2]):
                            pieces.update(t[2].split(":"))
                    seen[a] = pieces
                if lm in pieces:
                    return True
                pos = low.find(key, b - lo)
        return False

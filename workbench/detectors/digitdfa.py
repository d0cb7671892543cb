"""Regular expressions over the digits 0-9 compiled to deterministic automata, run on many
digit strings at once with numpy.

libphonenumber's metadata patterns are plain regular expressions over digits. On a string D
of ASCII digits, the only questions fastphone asks of them are "does the pattern match all of
D" (`re.fullmatch(p, D) is not None`) and "does it match a prefix of D" (`re.match(p, D) is not
None`). Both depend on the pattern's language alone, not on the backtracking engine's
priorities, so an automaton answers them exactly:

* `compile_digits(pattern, prefix)` parses the pattern with Python's own parser (`re._parser`)
  and accepts literals, character classes (ranges, literals, negation, the digit/word/space
  categories), `.`, groups without flags, alternation and greedy or lazy repeats (bounded or
  not). Each is read over the alphabet 0-9: a class is the set of digits it contains, a
  non-digit literal matches nothing, `\\d` and `\\w` match every digit. Anything else (anchors,
  lookarounds, back references, atomic groups, possessive repeats, inline flags) and automata
  over `max_states` states give None: the caller answers those questions another way.
* `compile_set(preds)` decides up to 64 such predicates in one automaton (bit k of its label
  for predicate k): a Thompson NFA per predicate, then the subset construction over their
  union, a state being the live NFA states and the bits of the prefix predicates already
  satisfied (their NFA states are dropped then). Where no loop keeps NFA states alive, every
  run has settled after `depth` steps, and no more columns are read.
* `fixed_alternatives(pattern)` gives where `re.match` ends for an alternation of fixed-width
  alternatives: at the width of the first alternative that matches.
* `DigitDFA.run_labels(cols)` steps one state per string through a uint8 matrix of digits of
  shape (length, number of strings), one numpy gather per column.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile

import numpy as np

try:
    import re._constants as sre_c  # Python >= 3.11
    import re._parser as sre_parse
except ImportError:  # pragma: no cover
    import sre_constants as sre_c
    import sre_parse

_ALL = (1 << 10) - 1
_MAX_NFA = 50_000
# bump when the construction changes: cached automata of an older construction are not read
_CACHE_VERSION = 1
log = logging.getLogger(__name__)


class Unsupported(Exception):
    """The pattern uses a construct the automaton cannot stand for."""


class DigitDFA:
    """A deterministic automaton over 0-9 deciding several predicates at once. State 0 is
    the start; `table[s * 10 + d]` is 10 times the state after state s reads digit d (states
    are stored multiplied by 10, so a step is one add and one gather); `labels[s * 10]` has
    bit k set when predicate k holds for a string that ends in state s. After `depth` steps
    (None: no bound) every run is in a state that no further digit changes."""

    __slots__ = ("patterns", "table", "labels", "depth", "n_states", "extra")

    def __init__(self, patterns, trans: list, labels: list, depth):
        self.patterns = patterns
        self.n_states = len(trans)
        self.table = (np.asarray(trans, dtype=np.intp) * 10).ravel()
        lab = np.zeros(len(trans) * 10, dtype=np.uint64)
        lab[::10] = np.asarray(labels, dtype=np.uint64)
        self.labels = lab
        self.depth = depth
        self.extra = None

    @classmethod
    def from_arrays(cls, patterns, table, labels, depth: int, extra=None) -> "DigitDFA":
        """An automaton from its arrays as stored (`depth` -1: no bound); checks their shapes."""
        table = np.asarray(table, dtype=np.intp)
        labels = np.asarray(labels, dtype=np.uint64)
        n = len(table) // 10
        if table.ndim != 1 or len(table) != n * 10 or labels.shape != table.shape or n == 0:
            raise ValueError("not an automaton")
        if table.min() < 0 or table.max() >= n * 10 or (table % 10).any():
            raise ValueError("transition out of range")
        self = cls.__new__(cls)
        self.patterns, self.table, self.labels, self.n_states = patterns, table, labels, n
        self.depth = None if depth < 0 else depth
        self.extra = extra
        return self

    def run_labels(self, cols: np.ndarray, first: int = 0) -> np.ndarray:
        """The predicates' bits (uint64) for each string: cols is a (length, N) array of digit
        values (0-9), column i one string; the strings read are cols[first:, i]."""
        stop = cols.shape[0]
        if self.depth is not None:
            stop = min(stop, first + self.depth)
        table = self.table
        if first < stop:
            st = table[cols[first].astype(np.intp)]
            for j in range(first + 1, stop):
                st = table[st + cols[j]]
        else:
            st = np.zeros(cols.shape[1], dtype=np.intp)
        return self.labels[st]

    def run(self, cols: np.ndarray, first: int = 0) -> np.ndarray:
        """Whether the first predicate holds, for each string (see run_labels)."""
        return (self.run_labels(cols, first) & np.uint64(1)).astype(bool)

    def matches(self, digits: str) -> int:
        """The predicates' bits for one string (tests, debugging)."""
        cols = np.frombuffer(digits.encode("ascii"), dtype=np.uint8).reshape(-1, 1) - np.uint8(48)
        return int(self.run_labels(cols)[0])


class _NFA:
    def __init__(self):
        self.eps: list[list[int]] = []
        self.sym: list[list[tuple[int, int]]] = []

    def new(self) -> int:
        if len(self.eps) >= _MAX_NFA:
            raise Unsupported("NFA too large")
        self.eps.append([])
        self.sym.append([])
        return len(self.eps) - 1

    def step(self, s: int, mask: int) -> int:
        t = self.new()
        if mask:
            self.sym[s].append((mask, t))
        return t


def _digit_mask(lo: int, hi: int) -> int:
    lo, hi = max(lo, 48), min(hi, 57)
    m = 0
    for c in range(lo, hi + 1):
        m |= 1 << (c - 48)
    return m


_CATEGORIES = {
    sre_c.CATEGORY_DIGIT: _ALL, sre_c.CATEGORY_NOT_DIGIT: 0,
    sre_c.CATEGORY_WORD: _ALL, sre_c.CATEGORY_NOT_WORD: 0,
    sre_c.CATEGORY_SPACE: 0, sre_c.CATEGORY_NOT_SPACE: _ALL,
}


def _class_mask(items) -> int:
    m = 0
    negate = False
    for op, av in items:
        if op is sre_c.NEGATE:
            negate = True
        elif op is sre_c.LITERAL:
            m |= _digit_mask(av, av)
        elif op is sre_c.RANGE:
            m |= _digit_mask(av[0], av[1])
        elif op is sre_c.CATEGORY and av in _CATEGORIES:
            m |= _CATEGORIES[av]
        else:
            raise Unsupported(f"class item {op} {av}")
    return _ALL & ~m if negate else m


def _build(nfa: _NFA, seq, s: int) -> int:
    for op, av in seq:
        if op is sre_c.LITERAL:
            s = nfa.step(s, _digit_mask(av, av))
        elif op is sre_c.NOT_LITERAL:
            s = nfa.step(s, _ALL & ~_digit_mask(av, av))
        elif op is sre_c.ANY:
            s = nfa.step(s, _ALL)
        elif op is sre_c.IN:
            s = nfa.step(s, _class_mask(av))
        elif op is sre_c.SUBPATTERN:
            _group, add_flags, del_flags, p = av
            if add_flags or del_flags:
                raise Unsupported("inline flags")
            s = _build(nfa, p, s)
        elif op is sre_c.BRANCH:
            t = nfa.new()
            for alt in av[1]:
                a = nfa.new()
                nfa.eps[s].append(a)
                nfa.eps[_build(nfa, alt, a)].append(t)
            s = t
        elif op is sre_c.MAX_REPEAT or op is sre_c.MIN_REPEAT:
            lo, hi, p = av
            for _ in range(lo):
                s = _build(nfa, p, s)
            if hi == sre_c.MAXREPEAT:
                loop = nfa.new()
                nfa.eps[s].append(loop)
                nfa.eps[_build(nfa, p, loop)].append(loop)
                s = loop
            else:
                t = nfa.new()
                nfa.eps[s].append(t)
                for _ in range(hi - lo):
                    s = _build(nfa, p, s)
                    nfa.eps[s].append(t)
                s = t
        else:
            raise Unsupported(f"op {op}")
    return s


def _closure(nfa: _NFA, states) -> frozenset:
    seen = set(states)
    todo = list(states)
    while todo:
        for t in nfa.eps[todo.pop()]:
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return frozenset(seen)


def _parse(pattern: str):
    parsed = sre_parse.parse(pattern)
    if parsed.state.flags & ~sre_c.SRE_FLAG_UNICODE:
        raise Unsupported("flags")
    return parsed


def compile_digits(pattern: str, prefix: bool, max_states: int = 20_000):
    """The automaton deciding `re.match(pattern, D) is not None` (prefix) or
    `re.fullmatch(pattern, D) is not None` for strings D of ASCII digits (`run` gives it);
    None where the pattern is outside the supported class or the automaton would have more
    than max_states states."""
    return compile_set([(pattern, prefix)], max_states)


def compile_set(preds, max_states: int = 20_000):
    """One automaton for up to 64 predicates (pattern, prefix): bit k of `run_labels` says
    whether predicate k holds. None as for compile_digits."""
    if not 0 < len(preds) <= 64:
        raise ValueError("1 to 64 predicates")
    preds = tuple((p, bool(prefix)) for p, prefix in preds)

    def build():
        try:
            parsed = [(_parse(p) if isinstance(p, str) else p, prefix) for p, prefix in preds]
            return _compile_parsed(preds, parsed, max_states)
        except (Unsupported, RecursionError, sre_c.error):
            return None

    if not all(isinstance(p, str) for p, _ in preds):
        return build()
    return _cached(("set", preds, max_states), preds, build)


def fixed_alternatives(pattern: str):
    """(automaton, widths) for the top-level alternatives of the pattern, in order, each of
    one fixed width: bit k of the automaton's labels says whether alternative k matches a
    prefix. `re.match(pattern, D)`, when it matches, ends at the width of the first
    alternative that matches (nothing follows the alternation to make the engine backtrack
    into a later one). None where an alternative has matches of several lengths, or there is
    no automaton."""
    got = _cached(("alternatives", pattern), (pattern,), lambda: _alternatives(pattern))
    if isinstance(got, tuple):  # (automaton, widths) as built
        return got
    if got is None:
        return None
    return got, [int(w) for w in got.extra]


def _alternatives(pattern: str):
    try:
        parsed = _parse(pattern)
        items = list(parsed)
        while len(items) == 1 and items[0][0] is sre_c.SUBPATTERN and not (items[0][1][1] or items[0][1][2]):
            items = list(items[0][1][3])
        alts = items[0][1][1] if len(items) == 1 and items[0][0] is sre_c.BRANCH else [items]
        if len(alts) > 64:
            return None
        subs, widths = [], []
        for alt in alts:
            sub = sre_parse.SubPattern(parsed.state, list(alt))
            lo, hi = sub.getwidth()
            if lo != hi:
                return None
            subs.append((sub, True))
            widths.append(lo)
        dfa = _compile_parsed((pattern,), subs, 20_000)
        return None if dfa is None else (dfa, widths)
    except (Unsupported, RecursionError, sre_c.error):
        return None


def _compile_parsed(key, parsed, max_states: int):
    """Subset construction over the union of the predicates' NFAs. A DFA state is the set of
    NFA states still alive and the bits of the prefix predicates already satisfied (their
    NFA states are dropped then: nothing can unset the bit)."""
    try:
        nfa = _NFA()
        owner: list[int] = []
        starts, finals = [], []
        for k, (p, _) in enumerate(parsed):
            s0 = nfa.new()
            final = _build(nfa, p, s0)
            starts.append(s0)
            finals.append(final)
            owner.extend([k] * (len(nfa.eps) - len(owner)))
    except (Unsupported, RecursionError):
        return None
    prefix_bits = sum(1 << k for k, (_, pre) in enumerate(parsed) if pre)
    final_bit = {f: 1 << k for k, f in enumerate(finals)}

    def normal(ss: frozenset, mask: int):
        hit = 0
        for f, bit in final_bit.items():
            if f in ss and bit & prefix_bits:
                hit |= bit
        if hit:
            mask |= hit
            ss = frozenset(t for t in ss if not (1 << owner[t]) & hit)
        return ss, mask

    index: dict = {}
    keys: list = []
    trans: list = []
    labels: list = []

    def state_of(ss: frozenset, mask: int) -> int:
        k = normal(ss, mask)
        i = index.get(k)
        if i is None:
            if len(keys) >= max_states:
                raise Unsupported("DFA too large")
            i = index[k] = len(keys)
            keys.append(k)
            full = sum(bit for f, bit in final_bit.items() if f in k[0] and not bit & prefix_bits)
            labels.append(k[1] | full)
            trans.append(None)
        return i

    try:
        state_of(_closure(nfa, starts), 0)
        i = 0
        while i < len(keys):
            ss, mask = keys[i]
            row = []
            for d in range(10):
                bit = 1 << d
                nxt = [t for s in ss for m, t in nfa.sym[s] if m & bit]
                row.append(state_of(_closure(nfa, nxt), mask))
            trans[i] = row
            i += 1
    except Unsupported:
        return None
    return DigitDFA(key, trans, labels, _depth(trans, keys))


def _depth(trans, keys):
    """Steps after which every run is in a state with no live NFA state (no digit changes
    it), or None where a loop avoids those."""
    memo: dict[int, int] = {}
    on_path: set[int] = set()

    def depth(s: int):
        if not keys[s][0]:
            return 0
        if s in memo:
            return memo[s]
        if s in on_path:
            raise Unsupported("loop")
        on_path.add(s)
        d = 1 + max(depth(t) for t in trans[s])
        on_path.discard(s)
        memo[s] = d
        return d

    try:
        return depth(0)
    except (Unsupported, RecursionError):
        return None


# -- automata kept on disk ------------------------------------------------------------------------


def _cached(key, patterns, build):
    """`build()` (a DigitDFA, (DigitDFA, widths) or None), kept in `cache_dir("digitdfa")`
    under a hash of `key` (patterns, prefix modes, bounds) and the construction's version.
    Compiling the automata of one phone recognizer's metadata takes about a CPU-second per
    process; a file holds only numpy arrays, loaded without pickle. Returns what `build` gave
    or, from the cache, a DigitDFA (widths in `extra`) or None."""
    from workbench.detectors.base import cache_dir

    digest = hashlib.sha256(repr((_CACHE_VERSION, key)).encode()).hexdigest()[:32]
    path = cache_dir("digitdfa") / f"{digest}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            if not z["ok"]:
                return None
            return DigitDFA.from_arrays(patterns, z["table"], z["labels"], int(z["depth"]), z["extra"])
    except Exception:  # not cached yet, or unreadable (truncated, not an archive, out of range): compile
        pass
    got = build()
    dfa, extra = (got[0], np.asarray(got[1], dtype=np.int64)) if isinstance(got, tuple) else (got, np.zeros(0, np.int64))
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        with os.fdopen(fd, "wb") as f:
            if dfa is None:
                np.savez(f, ok=False)
            else:
                depth = -1 if dfa.depth is None else dfa.depth
                np.savez(f, ok=True, table=dfa.table, labels=dfa.labels, depth=depth, extra=extra)
        os.replace(tmp, path)
    except OSError as e:  # a read-only home is not an error: we compile next time
        log.info("digit automaton not cached: %s", e)
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return got

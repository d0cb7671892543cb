"""The context pre-check (workbench/detectors/fastcontext.py) never skips a real boost.

1. Against Presidio itself: on adversarial generated texts (context words at every distance,
   in other words, upper case, stop words, punctuation, ':'-joined tokens, URLs, hyphens,
   tokenizer special cases, odd whitespace, non-ASCII), for every token start and a sample of
   other offsets, Presidio's `LemmaContextAwareEnhancer` (on the artifacts of Presidio's own
   spaCy engine over the whole text) is asked whether each recognizer's context words boost a
   result there. Whenever it says yes, `ContextPrecheck.check` must not return None, and the
   context list the engine computes from the pre-check's window must equal Presidio's.
2. Whole engine: results with the pre-check equal results that tokenise every result
   (`_enhance(..., always_tokenise=True)`), on the generated benchmark corpus and the texts above.
3. The chunk walk (`ChunkWalk`, used for results that pass the pre-check) gives the context word
   of the walk over the whole segment's tokens, in both of its passes, and `SegmentPieces.has`
   from chunks equals the segment's ':'-pieces.
"""

from __future__ import annotations

import functools
import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

WORDS = (
    "the of and to a in is it you that he was for on are as with his they at be this have from or one "
    "had by word but not what all were we when your can said there use an each which she do how their "
    "us our me call save number thus because house public policy update meeting account bank"
).split()
PUNCT = [",", ".", ";", "!", "?", "-", "--", "(", ")", "[", "]", '"', "'", "...", "/", ":", "#", "&", "*", "_"]
SPECIAL = ["can't", "don't", "it's", "a.m.", "p.m.", "U.S.", "Dr.", ":)", "=/", ":-)", "e.g.", "and/or",
           "w/o", "gonna", "Let's", "10a.m.", "'s", "’s", "<3", "o.O", "vs."]
COLON = ["us:123", "ssn:12", "a:b", "10:30", "card:4111", "http://ip.example.com/lic", "mac=19:24:12:5d:0a:af",
         "2024-10-03T21:15:50.886Z", "the:us", "call:me", "IP:10.0.0.1", "x:::y", "foo:"]
ODD = ["café", "İp", "straße", "ΣΊΣΥΦΟΣ", "naïve", "Ωmega", "ﬁle", "K-card", "phone\u00adnumber", "ıp", "ǅ"]
WS = [" ", " ", " ", " ", "  ", "\n", " \n", "\n\n", "\t", " \t ", "\xa0", "\u2003", "\r\n", "   \n  ",
      "\xa0 \n", " \u2003\n", "\n\xa0", " \xa0  ", "\x1c", " \u3000 "]


@pytest.fixture(scope="module")
def setup():
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

    from workbench.detectors.fastpatterns import FastPatternsDetector
    from workbench.detectors.patterns import PatternsConfig, build_nlp_engine

    det = FastPatternsDetector(PatternsConfig())
    engine = det.engine
    nlp_engine = build_nlp_engine()
    return det, engine, nlp_engine, LemmaContextAwareEnhancer()


def _context_words(engine) -> list[str]:
    return sorted({w for r in engine.recs for w in r.context})


def _piece(rnd: random.Random, ctx: list[str]) -> str:
    k = rnd.random()
    if k < 0.22:
        w = rnd.choice(ctx)
        form = rnd.random()
        if form < 0.2:
            w = w.upper()
        elif form < 0.3:
            w = w.title()
        elif form < 0.45:
            w = rnd.choice(["pre", "x", "un", "my-", "e-", "("]) + w
        elif form < 0.6:
            w = w + rnd.choice(["s", "ed", ":", "#", "-holder", ".", ",", ")", "'s", ":12", "=7"])
        return w
    if k < 0.55:
        return rnd.choice(WORDS)
    if k < 0.63:
        return rnd.choice(PUNCT)
    if k < 0.71:
        return rnd.choice(SPECIAL)
    if k < 0.79:
        return rnd.choice(COLON)
    if k < 0.85:
        return rnd.choice(ODD)
    if k < 0.93:
        return str(rnd.randint(0, 10 ** rnd.randint(1, 12)))
    return rnd.choice(["4111-1111-1111-1111", "078-05-1120", "192.168.0.1", "john@example.com",
                       "www.example.org", "555-123-4567", "AB12CDE", "1/2/2020"])


def _adversarial_texts(engine, n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    ctx = _context_words(engine)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rnd.randint(1, 40)):
            parts.append(_piece(rnd, ctx))
            parts.append(rnd.choice(WS) if rnd.random() < 0.85 else "")
        t = "".join(parts)
        if rnd.random() < 0.3:
            t = rnd.choice(WS) + t
        out.append(t)
    return out


def _presidio_boost(enh, artifacts, text: str, start: int, ctx: list[str]) -> tuple[bool, set[str]] | None:
    try:
        words = enh._extract_surrounding_words(nlp_artifacts=artifacts, word=text[start:start + 1], start=start)
    except ValueError:  # no token covers `start`
        return None
    return bool(enh._find_supportive_word_in_context(words, ctx, enh.context_matching_mode)), set(words)


def test_precheck_never_skips_a_presidio_boost(setup):
    from workbench.detectors.fastcontext import SegmentPieces

    _, engine, nlp_engine, enh = setup
    check, lowered = engine._ctx_precheck()
    assert check.enabled
    ctxs = [(ri, r.context, lowered[ri]) for ri, r in enumerate(engine.recs) if r.context]
    texts = _adversarial_texts(engine, 260, seed=1)
    rnd = random.Random(2)
    boosts = skipped = 0
    for text in texts:
        if not text:
            continue
        art = nlp_engine.process_text(text, "en")
        starts = {t.idx for t in art.tokens}
        starts.update(rnd.randrange(len(text)) for _ in range(8))
        low = check.lowered(text, 0, len(text))
        seg = SegmentPieces(engine, text, 0, len(text), low)
        failed = {ri: [] for ri, _, _ in ctxs}  # as `_enhance` keeps them, results in order of start
        last = (0, 0)
        for start in sorted(starts):
            if start >= len(text):
                continue
            if low is not None:  # the bounds grow with the start (what `failed` relies on)
                bounds = (check._lower(text, start, 0), check._upper(text, start, len(text)))
                assert bounds[0] >= last[0] and bounds[1] >= last[1], (text, start, bounds, last)
                last = bounds
            seen = None
            for ri, ctx, words in ctxs:
                ref = _presidio_boost(enh, art, text, start, ctx)
                if ref is None:
                    break
                boosted, ref_words = ref
                if low is None:
                    continue  # segment not pre-checked: always tokenised
                win = check.check(text, low, 0, len(text), start, words, None, failed[ri])
                if win is None:
                    skipped += 1
                    assert not boosted, (text, start, ctx)
                    continue
                boosts += boosted
                if seen is None:  # the window the pre-check hands on gives Presidio's context list
                    seen = set(engine._context_list(text, start, 0, len(text), None, win, seg))
                    assert seen == ref_words, (text, start, win)
    assert boosts > 200 and skipped > 5000, (boosts, skipped)  # the data exercises both outcomes


def _compare_engine(engine, texts):
    plain = engine.analyze_batch(texts)
    engine._enhance = functools.partial(type(engine)._enhance, engine, always_tokenise=True)
    try:
        ref = engine.analyze_batch(texts)
    finally:
        del engine._enhance
    bad = [(i, a, b) for i, (a, b) in enumerate(zip(plain, ref)) if sorted(a) != sorted(b)]
    return bad, sum(len(a) for a in ref), sum(1 for a in ref for r in a if r[5])


def test_engine_equal_with_and_without_precheck(setup):
    from pii_corpus import generate

    _, engine, _, _ = setup
    texts = list(generate(250_000, seed=5)) + _adversarial_texts(engine, 300, seed=3)
    bad, n, boosted = _compare_engine(engine, texts)
    assert not bad, bad[:3]
    assert n > 1000 and boosted > 100, (n, boosted)


def test_precheck_skips_most_results(setup):
    """The pre-check must do its job: most results with context words are not tokenised."""
    from pii_corpus import generate

    _, engine, _, _ = setup
    check, lowered = engine._ctx_precheck()
    texts = list(generate(200_000, seed=9))
    passed = total = 0
    for text in texts:
        low = check.lowered(text, 0, len(text))
        for rows in engine.analyze_batch([text]):
            for r in rows:
                words = lowered[r[4]]
                if not words or low is None or not any(w in low for w in words):
                    continue
                total += 1
                passed += check.check(text, low, 0, len(text), r[1], words) is not None
    assert total > 200 and passed < 0.6 * total, (passed, total)


def _first_hit(words: list[str], lemmas, substring: bool) -> str | None:
    for w in words:
        if any((w in lm) if substring else (w == lm) for lm in lemmas):
            return w
    return None


def test_chunk_walk_equals_the_walk_over_whole_tokens(setup):
    """`ChunkWalk` (per-chunk tokens, keyword counts bounded without tokenising) gives the same
    context word as the walk over the whole segment's tokens, for every token start and other
    offsets, in its loose first pass (when it is sure) and in its exact pass, with and without
    the early end at the first context word inside the pre-check's bounds (`first`); and
    `SegmentPieces.has` from chunks equals the whole segment's ':'-pieces."""
    from pii_corpus import generate

    from workbench.detectors.fastcontext import SegmentPieces

    _, engine, _, _ = setup
    check, lowered = engine._ctx_precheck()
    walker = engine._ctx_walker
    assert walker is not None
    substring = engine.ctx_mode == "substring"
    ctxs = [words for words in lowered if words]
    adversarial = _adversarial_texts(engine, 60, seed=7)
    texts = adversarial + list(generate(8_000, seed=11))
    rnd = random.Random(4)
    n = {"loose": 0, "unsure": 0, "exact": 0, "none": 0, "hits": 0, "pieces": 0, "corpus_none": 0, "early": 0}
    for ti, text in enumerate(texts):
        if not text:
            continue
        low = check.lowered(text, 0, len(text))
        if low is None:
            continue
        toks = engine._tokens(text, 0)
        if not toks[0]:
            continue
        seg = SegmentPieces(engine, text, 0, len(text), low)
        for lm in set(toks[2]):
            if ":" not in lm and seg.maybe(lm):
                n["pieces"] += 1
                assert seg.has(lm) == (lm in toks[4]), (text, lm)
        starts = set(toks[0]) | {rnd.randrange(len(text)) for _ in range(6)}
        for start in sorted(starts):
            ref = engine._walk(toks, start)
            if ref is None:
                continue
            ref_words = set(ref[0] + ref[1])
            for words in ctxs:
                want = _first_hit(words, ref_words, substring)
                n["hits"] += want is not None
                win = check.check(text, low, 0, len(text), start, words)
                if win is None:
                    assert want is None, (text, start, words)  # (the pre-check is a necessary condition)
                    firsts = (None,)
                else:
                    firsts = (None, next(w for w in words if low.find(w, win[0], win[1]) >= 0))
                for exact, first in ((e, f) for e in (False, True) for f in firsts):
                    got = walker._walk(text, low, 0, len(text), start, words, seg, substring, exact, first)
                    if got is None:
                        n["none"] += 1
                        n["corpus_none"] += ti >= len(adversarial) and not text[start].isspace()
                        continue
                    if got is False:
                        assert not exact
                        n["unsure"] += 1
                        continue
                    n["exact" if exact else "loose"] += 1
                    n["early"] += first is not None and len(got) == 1 and first in got[0]
                    assert _first_hit(words, got, substring) == want, (text, start, words, exact, first, got)
                    assert set(got) - {""} <= ref_words, (text, start, got)
    # the data exercises every outcome
    assert n["loose"] > 20_000 and n["exact"] > 20_000 and n["unsure"] > 100 and n["hits"] > 1000, n
    assert n["corpus_none"] < 0.1 * n["exact"] and n["pieces"] > 20 and n["early"] > 1000, n


def test_chunk_tokenizer_equals_spacy(setup):
    """`ChunkTokenizer` (spaCy's affix pass in Python) gives the tokenizer's own tokens for every
    whitespace-free run of the generated corpus and of adversarial texts (emoticons, 'a.m.',
    URLs, e-mails, brackets, colons, non-ASCII), wherever `chunk_tokens` uses it (no run of its
    tokens spells a special-case key); and the lower-cased texts and keyword flags of
    `chunk_tokens` are spaCy's lemmas and Presidio's keyword test on a fresh vocabulary.
    A variant that drops the suffix rules is caught by the same comparison."""
    import re

    import spacy
    from pii_corpus import generate

    from workbench.detectors.fastcontext import ChunkTokenizer

    _, engine, _, _ = setup
    check, _ = engine._ctx_precheck()
    texts = list(generate(300_000, seed=17)) + _adversarial_texts(engine, 1500, seed=19)
    chunks = sorted({c for t in texts for c in re.findall(r"[^ \t\n\r\x0b\x0c]+", t) if not any(x.isspace() for x in c)})
    ref_nlp = spacy.blank("en")  # a fresh vocabulary: the lexemes it creates are the getters' values
    no_suffix = ChunkTokenizer(check.tokenizer)
    no_suffix.suffix_search = None
    used = caught = 0
    for c in chunks:
        spans = check._affix.spans(c)
        if spans is None or check._spells_key(c, spans):
            continue
        doc = ref_nlp.tokenizer(c)
        assert spans == [(t.idx, t.idx + len(t.text)) for t in doc], c
        got = check.chunk_tokens(c)
        assert got is not None and got[1] == [t.lower_ for t in doc], c
        for t, lm in zip(doc, got[1]):
            lex = ref_nlp.vocab[lm]
            assert engine._is_keyword(lm) == (not lex.is_stop and not lex.is_punct and lm not in ("-PRON-", "be")), lm
        used += 1
        caught += no_suffix.spans(c) != spans
    assert used > 5000 and caught > 100, (used, caught)

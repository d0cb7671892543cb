"""The `ner` detector: windowing, batching, offsets, label maps, and a tiny NER model trained here.

The model (2-layer BERT, WordPiece tokenizer trained on synthetic sentences) is trained once per
test session in a temporary directory; nothing is downloaded.
"""

from __future__ import annotations


import numpy as np
import pytest

torch = pytest.importorskip("torch")

from workbench.config import ConfigError  # noqa: E402
from workbench.detectors import tiny  # noqa: E402
from workbench.detectors.batching import Encoded, pack_by_tokens, token_windows  # noqa: E402
from workbench.detectors.ner import NerConfig, NerDetector, decode_entities, parse_label  # noqa: E402

KIND = {"PER": "PERSON", "LOC": "LOCATION", "ORG": "ORGANIZATION"}


@pytest.fixture(scope="session")
def ner_model(tmp_path_factory):
    torch.set_num_threads(1)
    return str(tiny.train_tiny_ner(tmp_path_factory.mktemp("tiny-ner") / "model", seed=0))


@pytest.fixture(scope="session")
def det(ner_model):
    torch.set_num_threads(1)
    return NerDetector(NerConfig(model=ner_model, device="cpu"))


# ----------------------------------------------------------------------------- pure helpers


@pytest.mark.parametrize("n,size,overlap", [(1, 8, 2), (8, 8, 2), (9, 8, 2), (100, 8, 3), (1000, 50, 20), (37, 10, 0)])
def test_token_windows_partition(n, size, overlap):
    ws = token_windows(n, size, overlap)
    owned = []
    for a, b, s, e in ws:
        assert 0 <= a <= s < e <= b <= n
        assert b - a <= size
        owned.extend(range(s, e))
    assert owned == list(range(n))  # every token owned by exactly one window, in order
    for (a1, b1, _, _), (a2, _, _, _) in zip(ws, ws[1:]):
        assert b1 - a2 == min(overlap, size - 1)  # neighbours share `overlap` tokens
    for a, b, s, e in ws[1:-1]:
        assert s - a >= overlap // 2 and b - e >= overlap // 2  # context on both sides
    assert token_windows(0, 8, 2) == []


def test_pack_by_tokens_budget_and_coverage():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 300, size=500).tolist()
    batches = pack_by_tokens(lengths, max_tokens=2048, max_batch=64)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(500))
    for b in batches:
        assert len(b) <= 64
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 2048
    # length bucketing: batches come longest first and each is a contiguous length range
    maxes = [max(lengths[i] for i in b) for b in batches]
    assert maxes == sorted(maxes, reverse=True)
    assert [len(b) for b in pack_by_tokens([5, 5, 5], max_tokens=9)] == [1, 1, 1]
    assert [len(b) for b in pack_by_tokens([500], max_tokens=10)] == [1]


def test_parse_label():
    assert parse_label("B-PER") == ("B", "PER")
    assert parse_label("I_LOC") == ("I", "LOC")
    assert parse_label("S-ORG") == ("S", "ORG")
    assert parse_label("O") == ("", "O")
    assert parse_label("PER") == ("", "PER")
    assert parse_label("LABEL_3") == ("", "LABEL_3")


def _onehot(rows: list[int], n: int = 5, p: float = 0.9) -> np.ndarray:
    out = np.full((len(rows), n), (1 - p) / (n - 1), dtype=np.float32)
    for i, r in enumerate(rows):
        out[i, r] = p
    return out


LABELS = [parse_label(x) for x in ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]]


def test_decode_entities_offsets_whitespace_and_unicode():
    text = "Zoë  Ångström\n\nvisited   São Paulo."
    # tokens (as a WordPiece tokenizer would split them), with their word ids
    toks = [("Zo", 0, 2, 0), ("ë", 2, 3, 0), ("Ång", 5, 8, 1), ("ström", 8, 13, 1), ("visited", 15, 22, 2),
            ("São", 25, 28, 3), ("Paulo", 29, 34, 4), (".", 34, 35, 5)]
    for t, s, e, _ in toks:
        assert text[s:e] == t
    enc = Encoded(np.arange(len(toks)), np.array([[s, e] for _, s, e, _ in toks]), np.array([w for *_, w in toks]))
    probs = _onehot([1, 0, 2, 0, 0, 3, 4, 0])  # 2nd sub-token of each word says O: "first" ignores it
    ents = decode_entities(text, enc, probs, LABELS, "first")
    assert [(b, text[s:e]) for b, s, e, _ in ents] == [("PER", "Zoë  Ångström"), ("LOC", "São Paulo")]
    assert all(abs(sc - 0.9) < 1e-6 for *_, sc in ents)
    # token level: the O sub-tokens split the entity
    ents = decode_entities(text, enc, probs, LABELS, "simple")
    assert [text[s:e] for _, s, e, _ in ents] == ["Zo", "Ång", "São Paulo"]


def test_decode_entities_bio_rules():
    text = "Ann Bo Cy Dee"
    offs = np.array([[0, 3], [4, 6], [7, 9], [10, 13]])
    enc = Encoded(np.arange(4), offs, np.arange(4))
    # B I B I: two entities; I after O starts a new one; LOC after PER is separate
    for rows, want in [
        ([1, 2, 1, 2], ["Ann Bo", "Cy Dee"]),
        ([1, 0, 2, 2], ["Ann", "Cy Dee"]),
        ([1, 3, 4, 0], ["Ann", "Bo Cy"]),
        ([0, 0, 0, 0], []),
    ]:
        got = [text[s:e] for _, s, e, _ in decode_entities(text, enc, _onehot(rows), LABELS, "first")]
        assert got == want, rows
    # average over sub-tokens of a word: one strong B-PER and one weak O -> still PER, mean score
    enc2 = Encoded(np.arange(2), np.array([[0, 2], [2, 3]]), np.array([0, 0]))
    p = np.array([[0.1, 0.9, 0, 0, 0], [0.6, 0.4, 0, 0, 0]], dtype=np.float32)
    (b, s, e, sc), = decode_entities("Ann", enc2, p, LABELS, "average")
    assert (b, s, e) == ("PER", 0, 3) and abs(sc - 0.65) < 1e-6
    assert decode_entities("Ann", enc2, p, LABELS, "max")[0][3] == pytest.approx(0.9)


# ----------------------------------------------------------------------------- with the tiny model


def _score(data, results, kind="PER"):
    tp = n_pred = n_gold = 0
    for (text, gold), spans in zip(data, results):
        g = {(s, e) for s, e, k in gold if k == kind}
        p = {(s.start, s.end) for s in spans if s.entity_type == KIND[kind]}
        tp += len(g & p)
        n_pred += len(p)
        n_gold += len(g)
    return tp / max(1, n_pred), tp / max(1, n_gold)


def test_heldout_names_found_at_exact_offsets(det):
    data = tiny.ner_examples(300, seed=123, split="heldout")
    train_names = set(tiny._split(tiny.FIRST, "train")) | set(tiny._split(tiny.LAST, "train"))
    results = det([t for t, _ in data])
    precision, recall = _score(data, results, "PER")
    # held-out names in held-out sentence templates, exact character spans and type
    assert recall >= 0.5, (precision, recall)
    assert precision >= 0.35, (precision, recall)
    # names the model never saw in training, found exactly
    unseen = 0
    for (text, gold), spans in zip(data, results):
        got = {(s.start, s.end) for s in spans if s.entity_type == "PERSON"}
        for s, e, k in gold:
            if k == "PER" and (s, e) in got and not set(text[s:e].split()) & train_names:
                unseen += 1
    assert unseen >= 50
    for (text, _), spans in zip(data, results):
        for s in spans:
            assert 0 <= s.start < s.end <= len(text)
            assert text[s.start:s.end] == text[s.start:s.end].strip()
            assert s.detector == "ner" and 0 <= s.score <= 1


def test_non_ascii_and_whitespace_runs(det):
    texts = [
        "Dear Zoë,\n\nthanks for visiting Kraków.",
        "I met   Łukasz Wiśniewski    in  Zürich last week.",
        "Yesterday\tSøren called me from São Paulo.\r\n",
        "My name is Björn Ångström and I am from Reykjavík.",
        "🙂 Lunch with Chloé Lefèvre was great, see you in Málaga!",
    ]
    want = [{"Zoë", "Kraków"}, {"Łukasz Wiśniewski", "Zürich"}, {"Søren", "São Paulo"},
            {"Björn Ångström", "Reykjavík"}, {"Chloé Lefèvre", "Málaga"}]
    results = det(texts)
    found = total = 0
    for text, spans, w in zip(texts, results, want):
        got = {text[s.start:s.end] for s in spans}
        found += len(got & w)
        total += len(w)
        for s in spans:  # whatever is found starts and ends on real characters of the text
            assert not text[s.start].isspace() and not text[s.end - 1].isspace()
    assert found >= total - 2, [[(t[s.start:s.end], s.entity_type) for s in sp] for t, sp in zip(texts, results)]


def _long_text(n_sent: int, seed: int):
    data = tiny.ner_examples(n_sent, seed=seed, split="train")
    text, gold = "", []
    for t, spans in data:
        base = len(text)
        text += t + ("\n\n" if len(text) % 3 == 0 else "  ")
        gold += [(base + s, base + e, k) for s, e, k in spans]
    return text, gold


def test_windows_merge_back(ner_model):
    text, gold = _long_text(60, seed=7)
    full = NerDetector(NerConfig(model=ner_model, device="cpu", max_length=128, window_overlap=32))
    n_tok = len(full.adapter.encode([text])[0])
    assert n_tok > 600  # many windows
    ref = {(s.start, s.end, s.entity_type) for s in full([text])[0]}
    gold_set = {(s, e, KIND[k]) for s, e, k in gold}
    assert len(ref & gold_set) >= 0.4 * len(gold_set)
    straddled = whole = 0
    for max_length in (20, 24, 31):
        small = NerDetector(NerConfig(model=ner_model, device="cpu", max_length=max_length, window_overlap=8))
        enc = small.adapter.encode([text])[0]
        got = {(s.start, s.end, s.entity_type) for s in small([text])[0]}
        # mostly the same entities as with long windows (this tiny model is context-sensitive)
        assert len(got & ref) >= 0.6 * len(ref), max_length
        assert len(got & gold_set) >= 0.4 * len(gold_set), max_length
        # entities whose tokens cross an ownership boundary between two windows come out whole
        bounds = [oe for _, _, _, oe in token_windows(len(enc), small.window, small.overlap)][:-1]
        starts = enc.offsets[:, 0]
        for s, e, t in ref & gold_set:
            toks = np.flatnonzero((starts >= s) & (starts < e))
            if any(toks[0] < b <= toks[-1] for b in bounds):
                straddled += 1
                whole += (s, e, t) in got
    assert straddled >= 10 and whole >= 0.75 * straddled, (straddled, whole)


def test_windowed_equals_naive_reference(ner_model):
    """Batched, windowed detector == a plain loop: one window at a time through the HF model,
    each token's probabilities taken from the window that owns it, then decoded."""
    text, _ = _long_text(12, seed=11)
    det = NerDetector(NerConfig(model=ner_model, device="cpu", max_length=24, window_overlap=8, max_tokens=4096))
    a = det.adapter
    enc = a.encode([text])[0]
    probs = np.zeros((len(enc), len(det.labels)), dtype=np.float32)
    n_windows = 0
    for ws, we, os_, oe in token_windows(len(enc), det.window, det.overlap):
        ids = torch.tensor([a.prefix + enc.ids[ws:we].tolist() + a.suffix])
        with torch.no_grad():
            p = det.model(input_ids=ids).logits.float().softmax(-1)[0].numpy()
        probs[os_:oe] = p[len(a.prefix) + os_ - ws: len(a.prefix) + oe - ws]
        n_windows += 1
    assert n_windows > 8
    want = [(KIND.get(b, b), s, e, sc) for b, s, e, sc in decode_entities(text, enc, probs, det.labels, "first")
            if sc >= 0.5]
    got = [(s.entity_type, s.start, s.end, s.score) for s in det([text])[0]]
    assert [w[:3] for w in want] == [g[:3] for g in got]
    assert np.allclose([w[3] for w in want], [g[3] for g in got], atol=1e-4)
    assert len(got) >= 10
    for t, s, e, _ in got:
        assert text[s:e].strip() == text[s:e] and "\n" not in text[s:e][:1]


def test_same_results_for_any_batch_size(ner_model):
    data = tiny.ner_examples(40, seed=3, split="heldout")
    texts = [t for t, _ in data] + [_long_text(8, seed=1)[0], "", "   ", "ok"]
    one = NerDetector(NerConfig(model=ner_model, device="cpu", max_length=32, window_overlap=8, max_batch=1))
    many = NerDetector(NerConfig(model=ner_model, device="cpu", max_length=32, window_overlap=8, max_tokens=100000))
    lengths = [b - a + one.adapter.n_special for e in one.adapter.encode(texts)
               for a, b, _, _ in token_windows(len(e), one.window, one.overlap)]
    assert len(pack_by_tokens(lengths, 100000, many.config.max_batch)) * 10 < len(lengths)  # wide batches
    a, b = one(texts), many(texts)
    assert sum(len(x) for x in a) > 20
    for sa, sb in zip(a, b):
        assert [(s.entity_type, s.start, s.end) for s in sa] == [(s.entity_type, s.start, s.end) for s in sb]
        for x, y in zip(sa, sb):
            assert abs(x.score - y.score) < 1e-4
    # streaming (background tokenization of the next batch) gives the same as one call per batch
    chunks = [texts[i:i + 7] for i in range(0, len(texts), 7)]
    streamed = [s for out in many.stream(iter(chunks)) for s in out]
    assert [[(s.start, s.end, s.entity_type) for s in x] for x in streamed] == \
        [[(s.start, s.end, s.entity_type) for s in x] for x in b]


def test_label_map_and_filters(ner_model):
    text = "I met José Müller in Kraków last week."
    base = NerDetector(NerConfig(model=ner_model, device="cpu"))([text])[0]
    assert {s.entity_type for s in base} >= {"PERSON", "LOCATION"}
    d = NerDetector(NerConfig(model=ner_model, device="cpu", label_map={"PER": "NAME", "LOC": None}))
    got = d([text])[0]
    assert {s.entity_type for s in got} == {"NAME"} | ({"ORGANIZATION"} & {s.entity_type for s in base})
    assert [(s.start, s.end) for s in got if s.entity_type == "NAME"] == \
        [(s.start, s.end) for s in base if s.entity_type == "PERSON"]
    only = NerDetector(NerConfig(model=ner_model, device="cpu", entities=["LOCATION"]))([text])[0]
    assert only and {s.entity_type for s in only} == {"LOCATION"}
    strict = NerDetector(NerConfig(model=ner_model, device="cpu", thresholds={"PERSON": 1.0}))([text])[0]
    assert "PERSON" not in {s.entity_type for s in strict}
    assert all(s.rule in ("PER", "LOC", "ORG") and s.extra["model"] == "model" for s in base)


def test_offline_model_errors(monkeypatch, tmp_path):
    monkeypatch.delenv("WORKBENCH_NER_MODEL", raising=False)
    with pytest.raises(ConfigError, match="WORKBENCH_NER_MODEL is not set"):
        NerDetector(NerConfig())
    with pytest.raises(ConfigError, match="directory not found"):
        NerDetector(NerConfig(model=str(tmp_path / "nope")))
    with pytest.raises(ConfigError, match="no config.json"):
        NerDetector(NerConfig(model=str(tmp_path)))
    with pytest.raises(ConfigError, match="offline"):
        NerDetector(NerConfig(model="someone/not-in-the-cache-ner"))
    monkeypatch.setenv("WORKBENCH_NER_MODEL", str(tmp_path / "also-nope"))
    with pytest.raises(ConfigError, match="also-nope"):
        NerDetector(NerConfig())
    with pytest.raises(Exception, match="window_overlap"):
        NerConfig(model="x", max_length=16, window_overlap=8)


def test_pii_full_profile_with_overlap_resolution(ner_model, monkeypatch):
    from workbench.config import load_profile
    from workbench.detectors.registry import build_detectors
    from workbench.pipeline.worker import detect

    monkeypatch.setenv("WORKBENCH_NER_MODEL", ner_model)
    profile = load_profile("pii-full")
    assert set(profile.detectors) >= {"patterns", "ner"}
    dets = build_detectors(profile.detectors)
    texts = ["Contact James Smith (Globex) for details: james.smith@example.com or +1 212 555 0187.",
             "I met Zoë  Müller in Kraków last week."]
    out = detect(dets, texts)
    types = {(texts[i][s.start:s.end], s.entity_type) for i, spans in enumerate(out) for s in spans}
    assert ("james.smith@example.com", "EMAIL_ADDRESS") in types
    assert ("Zoë  Müller", "PERSON") in types
    for spans in out:  # after resolution no two findings from different detectors overlap
        for a in spans:
            for b in spans:
                if a is not b and a.start < b.end and b.start < a.end:
                    assert set(a.detector.split("+")) & set(b.detector.split("+"))


@pytest.mark.gpu
def test_gpu_matches_cpu_and_batch_size(ner_model):
    data = tiny.ner_examples(200, seed=21, split="heldout")
    texts = [t for t, _ in data] + [_long_text(20, seed=2)[0]]
    key = lambda out: [[(s.entity_type, s.start, s.end) for s in x] for x in out]  # noqa: E731
    cpu = NerDetector(NerConfig(model=ner_model, device="cpu", max_length=48, window_overlap=8))(texts)
    g1 = NerDetector(NerConfig(model=ner_model, device="cuda", dtype="float32", max_length=48, window_overlap=8,
                               max_batch=1))(texts)
    gm = NerDetector(NerConfig(model=ner_model, device="cuda", dtype="float32", max_length=48, window_overlap=8))(texts)
    assert key(g1) == key(gm) == key(cpu)
    for a, b in zip(g1, gm):
        assert all(abs(x.score - y.score) < 1e-4 for x, y in zip(a, b))
    bf = NerDetector(NerConfig(model=ner_model, device="cuda", max_length=48, window_overlap=8))
    assert bf.model.dtype in (torch.bfloat16, torch.float16)
    got = {(i, *s) for i, x in enumerate(key(bf(texts))) for s in x}
    ref = {(i, *s) for i, x in enumerate(key(cpu)) for s in x}
    assert len(got & ref) >= 0.9 * len(ref | got)


def test_flat_encoding_matches_tokenizer(det):
    texts = ["I met   Łukasz\n\nin Zürich.", "", "🙂 ok", "a " * 50]
    batch = det.adapter.encode_batch(texts)
    assert batch.starts[0] == 0 and len(batch) == 4
    for i, t in enumerate(texts):
        ref = det.tokenizer(t, add_special_tokens=False, return_offsets_mapping=True)
        enc = batch.text(i)
        assert enc.ids.tolist() == ref["input_ids"]
        assert [tuple(o) for o in enc.offsets.tolist()] == [tuple(o) for o in ref["offset_mapping"]]
        assert enc.word_ids.tolist() == [w for w in ref.word_ids()]

"""Detector `ner`: named entities (people, places, organisations, ...) from a Hugging Face
token-classification model, batched, on GPU when there is one.

How a batch of texts becomes spans:

1. every text is tokenized once by the fast tokenizer's Rust backend (no special tokens), which
   gives each token its character offsets in the original text and its word id;
2. long texts are cut into windows of `max_length` tokens that overlap by `window_overlap`
   tokens; each token is *owned* by one window (the one where it has the most context), so every
   token gets exactly one prediction and entities that cross a window edge come out whole;
3. windows of all texts are sorted by length and packed into batches up to `max_tokens` padded
   tokens (`batching.pack_by_tokens`); the next batch is collated in a background thread while
   the model runs the current one (bf16/fp16 on CUDA, fp32 on CPU, `torch.inference_mode`);
4. token probabilities are aggregated per word (`aggregation`: first sub-token, average or max),
   words are grouped into entities by their BIO/BIOES tags, and each entity is reported with the
   character offsets of its first and last word: exact indices into the original string, also
   for non-ASCII text and runs of spaces or newlines.

The model's labels (PER, LOC, ORG, GPE, ...) map to entity types (PERSON, LOCATION,
ORGANIZATION, ...) through `label_map`; a label mapped to null is never reported.

The model comes from a local directory or a hub id already in the Hugging Face cache: nothing is
downloaded unless the profile sets `allow_download: true`. `model` may name an environment
variable: `model: ${WORKBENCH_NER_MODEL}` (or `${WORKBENCH_NER_MODEL:-/models/ner}`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Iterator, Literal, Sequence

import numpy as np
from pydantic import Field, model_validator

from workbench.config import Strict, expand_env
from workbench.detectors.base import Span
from workbench.detectors.batching import (
    BatchRunner,
    Encoded,
    EncodedBatch,
    TokenizerAdapter,
    load_model,
    owned_rows,
    plan_windows,
    prefetch,
)

log = logging.getLogger(__name__)

NAME = "ner"

#: Model label (without its B-/I- prefix) -> entity type. Profile entries are added on top
#: (and override these); map a label to null to never report it.
DEFAULT_LABEL_MAP: dict[str, str | None] = {
    "PER": "PERSON", "PERSON": "PERSON", "NAME": "PERSON", "PATIENT": "PERSON", "STAFF": "PERSON",
    "FIRSTNAME": "PERSON", "LASTNAME": "PERSON", "USERNAME": "PERSON",
    "LOC": "LOCATION", "LOCATION": "LOCATION", "GPE": "LOCATION", "CITY": "LOCATION",
    "COUNTRY": "LOCATION", "STATE": "LOCATION", "FAC": "LOCATION",
    "ORG": "ORGANIZATION", "ORGANIZATION": "ORGANIZATION", "ORGANISATION": "ORGANIZATION",
    "COMPANY": "ORGANIZATION", "HOSPITAL": "ORGANIZATION", "VENDOR": "ORGANIZATION",
    "FACILITY": "LOCATION", "STREET_ADDRESS": "LOCATION", "ADDRESS": "LOCATION", "STREET": "LOCATION",
    "HOSP": "ORGANIZATION", "PATORG": "ORGANIZATION", "HCW": "PERSON",
    "DATE": "DATE_TIME", "TIME": "DATE_TIME", "DATE_TIME": "DATE_TIME",
    "NORP": "NRP", "NRP": "NRP",
    "EMAIL": "EMAIL_ADDRESS", "PHONE": "PHONE_NUMBER", "AGE": "AGE",
    "MISC": None,
}

_PREFIXES = ("B", "I", "E", "S", "L", "U")


class NerConfig(Strict):
    model: str = Field("${WORKBENCH_NER_MODEL}", description="local model directory or hub id in the HF cache; ${ENV} expands")
    revision: str | None = None
    allow_download: bool = Field(False, description="let transformers download the model (off: local files only)")
    trust_remote_code: bool = False
    device: str = Field("auto", description="auto (cuda if available), cpu, cuda, cuda:1, ...")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    label_map: dict[str, str | None] = Field(default_factory=dict, description="model label -> entity type (null: drop)")
    unmapped: Literal["keep", "drop"] = Field("keep", description="labels missing from the map: keep their name, or drop")
    entities: list[str] | Literal["all"] = "all"
    threshold: float = Field(0.5, ge=0, le=1)
    thresholds: dict[str, float] = Field(default_factory=dict, description="per entity type")
    aggregation: Literal["first", "average", "max", "simple"] = "first"
    max_length: int | None = Field(None, ge=4, description="tokens per window incl. special tokens (default: the model's)")
    window_overlap: int = Field(64, ge=0, description="tokens shared by neighbouring windows")
    max_tokens: int | None = Field(None, ge=16, description="padded tokens per batch (default 65536 on CUDA, 2048 on CPU)")
    max_batch: int = Field(1024, ge=1, description="most windows per batch")

    @model_validator(mode="after")
    def _check(self) -> "NerConfig":
        if self.max_length is not None and self.window_overlap >= self.max_length // 2:
            raise ValueError("window_overlap must be less than half of max_length")
        for k, v in self.thresholds.items():
            if not 0 <= v <= 1:
                raise ValueError(f"thresholds.{k}: must be between 0 and 1")
        return self


def parse_label(label: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('', 'O'); 'PER' -> ('', 'PER')."""
    lab = str(label)
    if lab.upper() == "O":
        return "", "O"
    if len(lab) > 2 and lab[1] in "-_" and lab[0].upper() in _PREFIXES:
        return lab[0].upper(), lab[2:]
    return "", lab


def aggregate_words(probs: np.ndarray, new_word: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-word probabilities from per-token ones.

    `new_word[i]` is True where token i starts a word. Returns (word_probs [W, C], first token
    of each word, end token (exclusive) of each word).
    """
    n = len(probs)
    starts = np.arange(n) if how == "simple" else np.flatnonzero(new_word)
    ends = np.r_[starts[1:], n].astype(np.int64)
    if how in ("simple", "first"):
        wp = probs[starts]
    elif how == "average":
        wp = np.add.reduceat(probs, starts, axis=0) / (ends - starts)[:, None]
    elif how == "max":
        m = probs.max(axis=1)
        widx = np.repeat(np.arange(len(starts)), ends - starts)
        order = np.lexsort((-m, widx))
        wp = probs[order[starts]]
    else:
        raise ValueError(f"unknown aggregation {how!r}")
    return wp, starts, ends


def decode_batch(texts: Sequence[str], batch: EncodedBatch, probs: np.ndarray, labels: Sequence[tuple[str, str]],
                 aggregation: str = "first") -> list[list[tuple[str, int, int, float]]]:
    """Group token probabilities of a whole batch into entities, per text:
    [(model label base, start, end, score)].

    Vectorized over all tokens of the batch; Python only loops over the words that are not O.
    `labels[i]` is the parsed (prefix, base) of class i. Offsets are character indices into the
    text; leading/trailing whitespace is never part of a span.
    """
    out: list[list[tuple[str, int, int, float]]] = [[] for _ in range(len(batch))]
    n = len(batch.ids)
    if n == 0:
        return out
    text_of = np.repeat(np.arange(len(batch)), batch.lengths)
    new_word = np.ones(n, dtype=bool)
    new_word[1:] = (batch.word_ids[1:] != batch.word_ids[:-1]) | (text_of[1:] != text_of[:-1])
    wp, starts, ends = aggregate_words(probs, new_word, aggregation)
    lab = wp.argmax(axis=1)
    is_o = np.array([b == "O" for _, b in labels])
    cand = np.flatnonzero(~is_o[lab])
    if len(cand) == 0:
        return out
    score = wp[cand, lab[cand]].tolist()
    c_lab = lab[cand].tolist()
    c_text = text_of[starts[cand]].tolist()
    c_s = batch.offsets[starts[cand], 0].tolist()
    c_e = batch.offsets[ends[cand] - 1, 1].tolist()
    prefixes = [p for p, _ in labels]
    bases = [b for _, b in labels]
    cand_l = cand.tolist()

    cur = None  # [text, base, start char, end char, score sum, n words, last word, closed]

    def flush(c):
        t, base, s, e, ssum, k = c[0], c[1], c[2], c[3], c[4], c[5]
        text = texts[t]
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out[t].append((base, s, e, ssum / k))

    for j, w in enumerate(cand_l):
        li = c_lab[j]
        prefix, base = prefixes[li], bases[li]
        if (cur is not None and not cur[7] and w == cur[6] + 1 and c_text[j] == cur[0] and base == cur[1]
                and prefix in ("I", "E", "L", "")):
            cur[3] = c_e[j]
            cur[4] += score[j]
            cur[5] += 1
            cur[6] = w
        else:
            if cur is not None:
                flush(cur)
            cur = [c_text[j], base, c_s[j], c_e[j], score[j], 1, w, False]
        if prefix in ("E", "L", "S", "U"):
            cur[7] = True
    if cur is not None:
        flush(cur)
    return out


def decode_entities(text: str, enc: Encoded, probs: np.ndarray, labels: Sequence[tuple[str, str]],
                    aggregation: str = "first") -> list[tuple[str, int, int, float]]:
    """`decode_batch` for one text."""
    batch = EncodedBatch(np.asarray(enc.ids), np.asarray(enc.offsets).reshape(-1, 2), np.asarray(enc.word_ids),
                         np.array([0, len(enc)], dtype=np.int64))
    return decode_batch([text], batch, probs, labels, aggregation)[0]


class NerDetector:
    """Detector `ner`: a token-classification model over a batch of texts (see module doc)."""

    name = NAME
    Config = NerConfig

    def __init__(self, config: NerConfig | None = None):
        self.config = cfg = config or NerConfig()
        model = expand_env(cfg.model, "detectors.ner.model")
        self.tokenizer, self.model, self.device = load_model(
            "AutoModelForTokenClassification", model, allow_download=cfg.allow_download,
            trust_remote_code=cfg.trust_remote_code, revision=cfg.revision, device=cfg.device, dtype=cfg.dtype,
        )
        self.model_name = Path(model).name or model
        self.adapter = TokenizerAdapter(self.tokenizer, getattr(self.model.config, "max_position_embeddings", None))
        max_len = min(cfg.max_length or self.adapter.max_length, self.adapter.max_length)
        self.window = max(1, max_len - self.adapter.n_special)
        self.overlap = min(cfg.window_overlap, max(0, self.window // 2 - 1))
        id2label = self.model.config.id2label
        self.labels = [parse_label(id2label[i]) for i in range(len(id2label))]
        lm = dict(DEFAULT_LABEL_MAP)
        lm.update(cfg.label_map)
        self.label_map = lm
        self.entities = None if cfg.entities == "all" else set(cfg.entities)
        self._types: dict[str, str] = {}
        max_tokens = cfg.max_tokens or (65536 if self.device.type == "cuda" else 2048)
        self.runner = BatchRunner(self.model, self.adapter, self.device, max_tokens=max_tokens,
                                  max_batch=cfg.max_batch, head=lambda x: x.float().softmax(-1))

    def entity_type(self, base: str) -> str | None:
        if base in self.label_map:
            return self.label_map[base]
        if base.upper() in self.label_map:
            return self.label_map[base.upper()]
        return base.upper() if self.config.unmapped == "keep" else None

    def _run(self, texts: Sequence[str], batch: EncodedBatch) -> list[list[Span]]:
        cfg = self.config
        win = plan_windows(batch, self.window, self.overlap)
        probs = np.zeros((len(batch.ids), len(self.labels)), dtype=np.float32)
        npre = len(self.adapter.prefix)
        for idx, arr in self.runner.run(batch, win):
            rows, col, tok = owned_rows(win, idx, npre)
            probs[tok] = arr[rows, col]
        out: list[list[Span]] = []
        extra = {"model": self.model_name}
        for ents in decode_batch(texts, batch, probs, self.labels, cfg.aggregation):
            spans = []
            for base, s, e, sc in ents:
                et = self._types.get(base)
                if et is None:
                    et = self._types[base] = self.entity_type(base) or ""
                if not et or (self.entities is not None and et not in self.entities):
                    continue
                if sc < cfg.thresholds.get(et, cfg.threshold):
                    continue
                spans.append(Span(et, s, e, sc, NAME, base, dict(extra)))
            spans.sort(key=lambda x: (x.start, x.end, x.entity_type))
            out.append(spans)
        return out

    def __call__(self, texts: Sequence[str]) -> list[list[Span]]:
        texts = list(texts)
        return self._run(texts, self.adapter.encode_batch(texts))

    def stream(self, batches: Iterable[Sequence[str]], depth: int = 2) -> Iterator[list[list[Span]]]:
        """Spans for each batch of texts, tokenizing the next batches in a background thread
        (at most `depth` batches ahead, so memory stays bounded on an endless stream)."""

        def enc():
            for b in batches:
                b = list(b)
                yield b, self.adapter.encode_batch(b)

        for b, e in prefetch(enc(), depth=depth):
            yield self._run(b, e)

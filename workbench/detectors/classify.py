"""Detector `classify`: a sequence-classification model over whole texts (prompt injection,
toxicity, any label set), batched, on GPU when there is one; optional injection pattern rules.

Each text gets at most ONE finding covering the whole text (start=0, end=len(text)): the
reportable label with the highest score at or above its threshold. A chat log scanned with
`--field 'messages[].content'` therefore gives one finding per message. The finding carries the
entity type (label mapped through `label_map`, e.g. INJECTION -> PROMPT_INJECTION), the score,
the raw model label as `rule`, and in `extra` every label's score and the other labels that also
passed their thresholds.

Texts longer than the model's window are cut into overlapping token windows; a label's score
for the text is the max (or mean, `window_aggregate`) over its windows. Labels are softmax
scores, or independent sigmoid scores for multi-label models (`multi_label`, default: from the
model's `problem_type`). Labels that mean "nothing found" (SAFE, BENIGN, LABEL_0 of a binary
model, ...) are mapped to null and never reported.

With `injection_rules: true` (or a rule file path) the pattern rules of the `injection`
detector also run; a rule hit and a model label of the same entity type give one finding with
the higher score and both in `extra`. `model` may be left out to run the rules only.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, Sequence

import numpy as np
from pydantic import Field, model_validator

from workbench.config import Strict, expand_env
from workbench.detectors.base import Span
from workbench.detectors.batching import (
    BatchRunner,
    EncodedBatch,
    TokenizerAdapter,
    load_model,
    plan_windows,
    prefetch,
)
from workbench.detectors.injection import load_rules, match_rules

log = logging.getLogger(__name__)

NAME = "classify"

#: Model label -> entity type; null = "nothing found", never reported. Profile entries override.
DEFAULT_LABEL_MAP: dict[str, str | None] = {
    "INJECTION": "PROMPT_INJECTION", "PROMPT_INJECTION": "PROMPT_INJECTION", "JAILBREAK": "PROMPT_INJECTION",
    "TOXIC": "TOXICITY", "TOXICITY": "TOXICITY", "SEVERE_TOXIC": "TOXICITY", "OBSCENE": "OBSCENE",
    "THREAT": "THREAT", "INSULT": "INSULT", "IDENTITY_HATE": "HATE", "HATE": "HATE", "UNSAFE": "UNSAFE",
    "SAFE": None, "BENIGN": None, "LEGIT": None, "LEGITIMATE": None, "NORMAL": None, "NEUTRAL": None,
    "NON_TOXIC": None, "NOT_TOXIC": None, "NON-TOXIC": None, "OK": None, "CLEAN": None, "NONE": None,
}


def _norm_label(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", str(label)).strip("_").upper()


class ClassifyConfig(Strict):
    model: str | None = Field(None, description="local model directory or hub id in the HF cache; ${ENV} expands")
    revision: str | None = None
    allow_download: bool = False
    trust_remote_code: bool = False
    device: str = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    label_map: dict[str, str | None] = Field(default_factory=dict, description="model label -> entity type (null: never report)")
    unmapped: Literal["keep", "drop"] = "keep"
    threshold: float = Field(0.5, ge=0, le=1)
    thresholds: dict[str, float] = Field(default_factory=dict, description="per entity type or model label")
    multi_label: bool | None = Field(None, description="sigmoid per label (default: from the model's problem_type)")
    max_length: int | None = Field(None, ge=4)
    window_overlap: int = Field(32, ge=0)
    window_aggregate: Literal["max", "mean"] = "max"
    max_tokens: int | None = Field(None, ge=16, description="padded tokens per batch (default 65536 on CUDA, 2048 on CPU)")
    max_batch: int = Field(1024, ge=1)
    injection_rules: bool | str = Field(False, description="also run the injection pattern rules (true or a rule file)")
    one_per_text: bool = Field(True, description="one finding per text (the best label); false: one per label passing")

    @model_validator(mode="after")
    def _check(self) -> "ClassifyConfig":
        if not self.model and not self.injection_rules:
            raise ValueError("give a model, or injection_rules: true, or both")
        if self.max_length is not None and self.window_overlap >= self.max_length // 2:
            raise ValueError("window_overlap must be less than half of max_length")
        return self


class ClassifyDetector:
    """Detector `classify` (see module doc): one whole-text finding per text."""

    name = NAME
    Config = ClassifyConfig

    def __init__(self, config: ClassifyConfig | None = None):
        self.config = cfg = config or ClassifyConfig(injection_rules=True)
        self.rules = ()
        if cfg.injection_rules:
            path = "default" if cfg.injection_rules is True else str(cfg.injection_rules)
            self.rules = load_rules(path)
        self.model = None
        self.adapter: TokenizerAdapter | None = None
        if cfg.model:
            model = expand_env(cfg.model, "detectors.classify.model")
            self.tokenizer, self.model, self.device = load_model(
                "AutoModelForSequenceClassification", model, allow_download=cfg.allow_download,
                trust_remote_code=cfg.trust_remote_code, revision=cfg.revision, device=cfg.device, dtype=cfg.dtype,
            )
            self.model_name = Path(model).name or model
            mc = self.model.config
            self.adapter = TokenizerAdapter(self.tokenizer, getattr(mc, "max_position_embeddings", None))
            max_len = min(cfg.max_length or self.adapter.max_length, self.adapter.max_length)
            self.window = max(1, max_len - self.adapter.n_special)
            self.overlap = min(cfg.window_overlap, max(0, self.window // 2 - 1))
            self.raw_labels = [str(mc.id2label[i]) for i in range(len(mc.id2label))]
            multi = cfg.multi_label if cfg.multi_label is not None else mc.problem_type == "multi_label_classification"
            self.multi_label = bool(multi)
            lm = {k: v for k, v in DEFAULT_LABEL_MAP.items()}
            if len(self.raw_labels) == 2 and not self.multi_label:
                # a binary model without label names: LABEL_0 = negative, LABEL_1 = positive
                lm.setdefault("LABEL_0", None)
            lm.update({_norm_label(k): v for k, v in cfg.label_map.items()})
            self.entity_of = [self._entity(lab, lm) for lab in self.raw_labels]
            head = (lambda x: x.float().sigmoid()) if self.multi_label else (lambda x: x.float().softmax(-1))
            max_tokens = cfg.max_tokens or (65536 if self.device.type == "cuda" else 2048)
            self.runner = BatchRunner(self.model, self.adapter, self.device, max_tokens=max_tokens,
                                      max_batch=cfg.max_batch, head=head)

    def _entity(self, label: str, lm: dict[str, str | None]) -> str | None:
        key = _norm_label(label)
        if key in lm:
            return lm[key]
        return key if self.config.unmapped == "keep" else None

    def _threshold(self, entity: str, label: str) -> float:
        t = self.config.thresholds
        return t.get(label, t.get(entity, self.config.threshold))

    def _scores(self, batch: EncodedBatch) -> list[np.ndarray | None]:
        """Per text: the label scores aggregated over its windows (None for texts without tokens)."""
        n = len(batch)
        win = plan_windows(batch, self.window, self.overlap)
        c = len(self.raw_labels)
        use_max = self.config.window_aggregate == "max"
        agg = np.full((n, c), -np.inf if use_max else 0.0, dtype=np.float64)
        for idx, arr in self.runner.run(batch, win):
            if use_max:
                np.maximum.at(agg, win.text[idx], arr)
            else:
                np.add.at(agg, win.text[idx], arr)
        counts = np.bincount(win.text, minlength=n)
        if not use_max:
            agg /= np.maximum(counts, 1)[:, None]
        return [agg[i] if counts[i] else None for i in range(n)]

    def _findings(self, text: str, scores: np.ndarray | None) -> list[Span]:
        cands: list[tuple[float, str, str]] = []  # (score, entity, raw label)
        extra: dict[str, Any] = {"scope": "text"}
        if scores is not None:
            extra["model"] = self.model_name
            extra["scores"] = {lab: round(float(s), 4) for lab, s in zip(self.raw_labels, scores)}
            for lab, ent, s in zip(self.raw_labels, self.entity_of, scores):
                if ent is not None and s >= self._threshold(ent, lab):
                    cands.append((float(s), ent, lab))
        hit = match_rules(self.rules, text) if self.rules else None
        cands.sort(key=lambda c: (-c[0], c[1]))
        if not self.config.one_per_text:
            out = [Span(ent, 0, len(text), s, NAME, lab, dict(extra)) for s, ent, lab in cands]
            if hit is not None:
                out.append(Span(hit.entity_type, 0, len(text), hit.score, NAME, hit.rule, {**extra, **hit.extra}))
            return out
        if hit is not None:
            extra["rules"] = hit.extra["rules"]
            extra["rule_score"] = hit.score
            extra["match_start"], extra["match_end"] = hit.extra["match_start"], hit.extra["match_end"]
            same = [c for c in cands if c[1] == hit.entity_type]
            if same:
                s, ent, lab = same[0]
                cands.remove(same[0])
                cands.append((max(s, hit.score), ent, lab))
            else:
                cands.append((hit.score, hit.entity_type, hit.rule))
            cands.sort(key=lambda c: (-c[0], c[1]))
        if not cands:
            return []
        s, ent, lab = cands[0]
        if len(cands) > 1:
            extra["labels"] = [c[1] for c in cands[1:]]
        return [Span(ent, 0, len(text), s, NAME, lab, extra)]

    def _run(self, texts: list[str], batch: EncodedBatch | None) -> list[list[Span]]:
        scores: list[np.ndarray | None] = [None] * len(texts)
        if self.model is not None and batch is not None:
            scores = self._scores(batch)
        return [self._findings(t, s) if t else [] for t, s in zip(texts, scores)]

    def __call__(self, texts: Sequence[str]) -> list[list[Span]]:
        texts = list(texts)
        enc = self.adapter.encode_batch(texts) if self.adapter is not None else None
        return self._run(texts, enc)

    def stream(self, batches: Iterable[Sequence[str]], depth: int = 2) -> Iterator[list[list[Span]]]:
        """Findings for each batch of texts, tokenizing the next batches in a background thread."""

        def enc():
            for b in batches:
                b = list(b)
                yield b, (self.adapter.encode_batch(b) if self.adapter is not None else None)

        for b, e in prefetch(enc(), depth=depth):
            yield self._run(b, e)

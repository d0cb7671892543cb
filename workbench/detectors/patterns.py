"""Presidio's pattern recognizers, fully offline.

Presidio's default English registry (email, phone, credit card, IBAN, IP, US SSN, URL, crypto
wallet, date, MAC, UUID, US bank/licence/ITIN/passport, UK NHS, medical licence) with its
validators (Luhn, IBAN checksum, ...) and context words, without downloading anything:

- the NLP engine is a blank spaCy English pipeline plus a component that sets
  `token.lemma_ = token.lower_`, so Presidio's lemma-based context enhancer still raises
  scores when context words ("phone", "card", ...) are near a match;
- `SpacyRecognizer` (named entities from a statistical model) is removed from the registry;
- the e-mail recognizer's tldextract lookup uses tldextract's bundled public-suffix snapshot
  (`suffix_list_urls=()`), never the network.

Long texts are analysed in overlapping windows so memory stays bounded and the blank
tokenizer's length limit never applies; spans are mapped back to offsets in the whole text.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any, Literal, Sequence

from pydantic import Field, field_validator

from workbench.config import Strict
from workbench.detectors.base import Span, windows  # noqa: F401 (windows: used by fastpatterns too)

log = logging.getLogger(__name__)

NAME = "patterns"


class EntityOptions(Strict):
    enabled: bool = True
    threshold: float | None = Field(None, ge=0, le=1, description="per-entity score threshold")
    context: list[str] = Field(default_factory=list, description="extra context words for this entity")
    regions: list[str] | None = Field(None, description="PHONE_NUMBER only: libphonenumber regions")


class PatternsConfig(Strict):
    entities: list[str] | Literal["all"] = "all"
    threshold: float = Field(0.4, ge=0, le=1)
    language: Literal["en"] = "en"
    options: dict[str, EntityOptions] = Field(default_factory=dict)
    window_chars: int = Field(100_000, ge=1_000, description="texts longer than this are analysed in windows")
    window_overlap: int = Field(2_000, ge=100, description="characters shared by neighbouring windows")
    engine: Literal["fast", "presidio"] = Field(
        "fast",
        description="fast: Presidio's recognizers compiled into one Hyperscan scan (same findings, much faster); "
        "presidio: stock AnalyzerEngine, one text at a time",
    )

    @field_validator("entities")
    @classmethod
    def _known_entities(cls, v: Any) -> Any:
        if v == "all":
            return v
        known = set(supported_entities())
        unknown = [e for e in v if e not in known]
        if unknown:
            raise ValueError(f"unknown entity {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return v

    @field_validator("options")
    @classmethod
    def _known_option_entities(cls, v: dict[str, EntityOptions]) -> dict[str, EntityOptions]:
        known = set(supported_entities())
        unknown = [e for e in v if e not in known]
        if unknown:
            raise ValueError(f"options for unknown entity {', '.join(unknown)}")
        for ent, opt in v.items():
            if opt.regions is not None and ent != "PHONE_NUMBER":
                raise ValueError(f"options.{ent}.regions: only PHONE_NUMBER takes regions")
        return v

    def active_entities(self) -> list[str]:
        ents = supported_entities() if self.entities == "all" else list(self.entities)
        return [e for e in ents if self.options.get(e, EntityOptions()).enabled]


def _lemma_component():
    import spacy
    from spacy.language import Language

    name = "workbench_lower_lemma"
    if not Language.has_factory(name):

        @Language.component(name)
        def lower_lemma(doc):  # pragma: no cover - trivial
            for token in doc:
                token.lemma_ = token.lower_
            return doc

    nlp = spacy.blank("en")
    nlp.add_pipe(name)
    nlp.max_length = 10**9  # windows bound the length; the blank tokenizer has no model limit
    return nlp


def build_nlp_engine():
    """A Presidio SpacyNlpEngine over a blank English pipeline (no model download)."""
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": "blank"}])
    engine.nlp = {"en": _lemma_component()}
    return engine


@lru_cache(maxsize=1)
def _offline_tld_extractor():
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _offline_email_recognizer_class():
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    class OfflineEmailRecognizer(EmailRecognizer):
        """Presidio's EmailRecognizer with tldextract's bundled suffix list (never the network)."""

        def validate_result(self, pattern_text: str):
            return bool(_offline_tld_extractor()(pattern_text).fqdn)

    OfflineEmailRecognizer.__name__ = "EmailRecognizer"
    return OfflineEmailRecognizer


def build_registry(nlp_engine, config: PatternsConfig | None = None):
    """Presidio's predefined English recognizers, made offline, with per-entity options applied."""
    from presidio_analyzer import RecognizerRegistry
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer, SpacyRecognizer

    config = config or PatternsConfig()
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp_engine)
    email_cls = _offline_email_recognizer_class()
    kept = []
    for rec in registry.recognizers:
        if isinstance(rec, SpacyRecognizer):
            continue
        if type(rec).__name__ == "EmailRecognizer" and not isinstance(rec, email_cls):
            rec = email_cls(context=rec.context)
        phone = config.options.get("PHONE_NUMBER")
        if isinstance(rec, PhoneRecognizer) and phone is not None and phone.regions:
            rec = PhoneRecognizer(context=rec.context, supported_regions=phone.regions)
        for ent in rec.supported_entities:
            extra = config.options.get(ent)
            if extra is not None and extra.context:
                rec.context = list(rec.context or []) + [c.lower() for c in extra.context]
        kept.append(rec)
    registry.recognizers = kept
    return registry


@lru_cache(maxsize=1)
def supported_entities() -> list[str]:
    from presidio_analyzer import RecognizerRegistry
    from presidio_analyzer.predefined_recognizers import SpacyRecognizer

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"])
    ents: list[str] = []
    for rec in registry.recognizers:
        if isinstance(rec, SpacyRecognizer):
            continue
        for e in rec.supported_entities:
            if e not in ents:
                ents.append(e)
    return ents


def build_analyzer(config: PatternsConfig | None = None):
    """An offline Presidio AnalyzerEngine with pattern recognizers only."""
    from presidio_analyzer import AnalyzerEngine

    # presidio warns about every non-English recognizer it skips: noise in a scan's output
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    config = config or PatternsConfig()
    nlp_engine = build_nlp_engine()
    registry = build_registry(nlp_engine, config)
    return AnalyzerEngine(
        registry=registry,
        nlp_engine=nlp_engine,
        supported_languages=["en"],
        default_score_threshold=config.threshold,
    )


class PatternsDetector:
    """Detector `patterns`: Presidio pattern recognizers, offline, called on a batch of texts."""

    name = NAME
    Config = PatternsConfig

    def __init__(self, config: PatternsConfig | None = None):
        self.config = config or PatternsConfig()
        self.analyzer = build_analyzer(self.config)
        self.entities = self.config.active_entities()
        self._thresholds = {
            e: o.threshold for e, o in self.config.options.items() if o.threshold is not None
        }

    def _analyze(self, text: str) -> list[Span]:
        cfg = self.config
        spans: list[Span] = []
        for ws, we, own_start, own_end in windows(len(text), cfg.window_chars, cfg.window_overlap):
            results = self.analyzer.analyze(
                text=text[ws:we],
                language=cfg.language,
                entities=self.entities,
                score_threshold=cfg.threshold,
                return_decision_process=True,  # keeps the context word of a boost (built anyway)
            )
            for r in results:
                start, end = r.start + ws, r.end + ws
                if not (own_start <= start < own_end):
                    continue
                if r.score < self._thresholds.get(r.entity_type, cfg.threshold):
                    continue
                meta = r.recognition_metadata or {}
                rec = meta.get("recognizer_name", "")
                extra: dict[str, Any] = {"recognizer": rec}
                if meta.get("is_score_enhanced_by_context"):
                    extra["context_enhanced"] = True  # (a recognizer's own boost)
                # the context word Presidio's enhancer boosted the score with
                word = getattr(r.analysis_explanation, "supportive_context_word", "")
                if word:
                    extra["context_word"] = word
                spans.append(Span(r.entity_type, start, end, float(r.score), NAME, rec, extra))
        spans.sort(key=lambda s: (s.start, s.end, s.entity_type))
        return spans

    def __call__(self, texts: Sequence[str]) -> list[list[Span]]:
        return [self._analyze(t) if t else [] for t in texts]

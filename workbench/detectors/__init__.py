"""Detectors: text in, spans out (patterns, secrets, ner, classify)."""

from workbench.detectors.base import Detector, Span

__all__ = ["Detector", "Span"]

"""Workbench: batch scanning of AI training data, logs, model outputs and models for security issues."""

__version__ = "0.1.0"

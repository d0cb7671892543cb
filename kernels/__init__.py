"""Triton kernels with torch references, importable as workbench.kernels.

Public API (stable; see /work/notes/kernels-api.md):

    from workbench.kernels import token_stats, ngram_hashes

- ``token_stats(logits, targets, *, ignore_index=-100, backend=None)`` -> ``TokenStats``
  ``(logprob, rank, mean, var)`` plus ``.margin``: per-token log-probability, rank, Min-K%++ mean and
  variance of log p over the vocabulary, and the top-1 margin, in one pass over the logits.
- ``ngram_hashes(token_ids, n, mask=None, *, backend=None)`` -> ``NgramHashes(hashes, valid)``:
  64-bit hashes of every n-gram, for exact-match lookup against a corpus index.

Each has a torch reference (``token_stats_torch``, ``ngram_hashes_torch``); ``backend="auto"``
uses the Triton kernel on CUDA tensors and the reference elsewhere.
"""

from ._backend import BACKENDS, resolve_backend, triton_available
from .ngram import NgramHashes, ngram_hash_int, ngram_hashes, ngram_hashes_torch
from .token_stats import IGNORE_INDEX, TokenStats, token_stats, token_stats_torch

__all__ = [
    "BACKENDS",
    "IGNORE_INDEX",
    "NgramHashes",
    "TokenStats",
    "ngram_hash_int",
    "ngram_hashes",
    "ngram_hashes_torch",
    "resolve_backend",
    "token_stats",
    "token_stats_torch",
    "triton_available",
]

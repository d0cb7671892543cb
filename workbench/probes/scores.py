"""Membership scores and the k-extractability verdict from per-token statistics (DESIGN.md, "Probe definitions").

With lp_t = log p(x_t | x_<t) over the T scored positions of a sample (every text token; with a BOS
token the first text token is scored too):

- loss = -mean(lp_t) (nats per token); perplexity = exp(loss)
- zlib ratio = loss / zlib_bits, where zlib_bits = 8 * len(zlib.compress(text.encode("utf-8"), 9))
  (loss in nats per token divided by the zlib-compressed size of the text in bits; lower = more
  likely member). Papers differ (Carlini et al. 2021 use log-perplexity over zlib entropy, MIMIR
  divides by compressed bytes): this is the form workbench writes.
- lowercase ratio = loss(text.lower()) / loss(text)
- Min-K% = mean of the ceil(K * T) lowest lp_t (at least one)
- Min-K%++ = mean of the ceil(K * T) lowest z_t, z_t = (lp_t - mu_t) / sigma_t with mu_t, sigma_t^2
  the mean and variance of log p over the whole vocabulary at position t
- reference ratio = loss(target model) / loss(reference model)
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np


def zlib_bits(text: str) -> int:
    return 8 * len(zlib.compress(text.encode("utf-8", "surrogatepass"), 9))


def _lowest_k_mean(values: np.ndarray, fraction: float) -> float:
    if values.size == 0:
        return math.nan
    k = max(1, math.ceil(fraction * values.size))
    return float(np.mean(np.sort(values)[:k]))


def loss(lp: np.ndarray) -> float:
    return float(-np.mean(lp)) if lp.size else math.nan


def min_k(lp: np.ndarray, fraction: float = 0.2) -> float:
    return _lowest_k_mean(np.asarray(lp, dtype=np.float64), fraction)


def min_k_pp(lp: np.ndarray, mean: np.ndarray | None, var: np.ndarray | None, fraction: float = 0.2) -> float:
    if mean is None or var is None or lp.size == 0:
        return math.nan
    sigma = np.sqrt(np.maximum(var, 1e-12))
    return _lowest_k_mean((lp - mean) / sigma, fraction)


@dataclass
class Extraction:
    prefix_len: int
    suffix_len: int
    extractable: bool
    matched_suffix_tokens: int  # leading suffix tokens that greedy decoding reproduces
    min_margin: float  # smallest top-1 margin (log p target - best other) over the suffix


def extraction_from_ranks(rank: np.ndarray, margin: np.ndarray, offset: int, prefix_len: int,
                          suffix_len: int) -> Extraction | None:
    """Verdict from one teacher-forced pass: extractable iff the target has rank 1 at every suffix position.

    `rank`/`margin` index predictions of tokens 1..; the text's own tokens start at `offset` (1 with
    BOS). Greedy decoding from the prefix reproduces exactly the leading suffix tokens of rank 1: until
    the first miss its context equals the teacher-forced one. None when the sample is too short.
    """
    start = offset + prefix_len - 1  # index of the prediction of the first suffix token
    if prefix_len < 1 or suffix_len < 1 or start + suffix_len > rank.size:
        return None
    r = rank[start : start + suffix_len]
    m = margin[start : start + suffix_len]
    miss = np.nonzero(r != 1)[0]
    matched = int(miss[0]) if miss.size else suffix_len
    return Extraction(prefix_len, suffix_len, matched == suffix_len, matched, float(np.min(m)))


def matched_prefix(generated: list[int], target: list[int]) -> int:
    n = 0
    for g, t in zip(generated, target):
        if g != t:
            break
        n += 1
    return n

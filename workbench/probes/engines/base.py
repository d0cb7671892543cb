"""The engine interface: what every probe needs from a language model.

An engine is a plain class (load the model in the constructor, call it on a batch). Both engines
tokenize with the model's own Hugging Face tokenizer (local path, offline), so the same text gives
the same token ids on both and their scores agree within float tolerance.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)


class EngineError(RuntimeError):
    """A model or engine that cannot be loaded or run (a user error: one clear line)."""


@dataclass
class SeqStats:
    """Teacher-forced statistics of one token sequence.

    Entry i describes the prediction of token ``token_ids[i + 1]`` from ``token_ids[: i + 1]``.
    `mean`/`var` are the full-vocabulary mean and variance of log p (Min-K%++); None when the engine
    could not produce them. `margin` is log p(target) - max over other tokens of log p (> 0 iff the
    target is the unique greedy choice); NaN where unknown.
    """

    token_ids: list[int]
    logprob: np.ndarray
    rank: np.ndarray
    margin: np.ndarray
    mean: np.ndarray | None = None
    var: np.ndarray | None = None


def offline_env() -> None:
    """Models load from local paths only: nothing is downloaded at probe time."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def load_tokenizer(path: str, trust_remote_code: bool = False):
    offline_env()
    from transformers import AutoTokenizer

    if not os.path.isdir(path):
        raise EngineError(f"model path {path!r} is not a local directory (models load offline from local paths)")
    try:
        return AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except Exception as e:  # noqa: BLE001 - one clear line for the user
        raise EngineError(f"cannot load the tokenizer of {path}: {type(e).__name__}: {str(e)[:200]}") from None


class Engine:
    """Shared tokenization; subclasses implement `token_stats` and `greedy`."""

    name = "base"

    def __init__(self, model: str, trust_remote_code: bool = False, add_bos: bool | None = None,
                 max_length: int | None = None):
        self.model_path = str(model)
        self.tokenizer = load_tokenizer(self.model_path, trust_remote_code)
        bos = self.tokenizer.bos_token_id
        self.bos_id = bos if (add_bos if add_bos is not None else bos is not None) else None
        self.max_length = max_length
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.eos_token_id if self.tokenizer.eos_token_id is not None else 0

    @property
    def offset(self) -> int:
        """Number of context tokens prepended before the text's own tokens (1 with BOS)."""
        return 1 if self.bos_id is not None else 0

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, BOS first when the tokenizer has one, cut at `max_length`."""
        if not texts:
            return []
        enc = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        out = [([self.bos_id] if self.bos_id is not None else []) + list(ids) for ids in enc]
        if self.max_length:
            out = [ids[: self.max_length] for ids in out]
        return out

    def token_stats(self, seqs: Sequence[Sequence[int]], full_vocab: bool = True) -> list[SeqStats]:
        raise NotImplementedError

    def greedy(self, prefixes: Sequence[Sequence[int]], max_new_tokens: int) -> list[list[int]]:
        """Greedy continuation of each prefix: exactly `max_new_tokens` tokens (EOS does not stop it)."""
        raise NotImplementedError

    def nll(self, texts: Sequence[str]) -> np.ndarray:
        """Total negative log-likelihood (log-perplexity, nats) of each text."""
        stats = self.token_stats(self.encode(texts), full_vocab=False)
        return np.array([-float(np.sum(s.logprob)) for s in stats], dtype=np.float64)

    def close(self) -> None:
        pass

"""Hugging Face transformers engine: the CPU fallback and the reference implementation.

One forward pass per batch (length-bucketed, batched by token count, right padding); the per-token
log-probability, rank, full-vocabulary mean/variance of log p and top-1 margin come from
`workbench.kernels.token_stats` (a fused Triton kernel on CUDA, its torch reference elsewhere).
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from workbench.probes.engines.base import Engine, EngineError, SeqStats, offline_env

log = logging.getLogger(__name__)


def _token_stats_fn():
    try:
        from workbench.kernels import token_stats

        return token_stats
    except ImportError:  # kernels not installed: the same definitions in plain torch
        import torch

        def token_stats(logits, targets, ignore_index=-100):
            z = logits.float()
            logp = torch.log_softmax(z, dim=-1)
            valid = targets != ignore_index
            t = targets.clamp(min=0)
            lp = logp.gather(-1, t.unsqueeze(-1)).squeeze(-1)
            p = logp.exp()
            mean = (p * logp).sum(-1)
            var = ((p * logp * logp).sum(-1) - mean * mean).clamp(min=0)
            rank = 1 + (z > z.gather(-1, t.unsqueeze(-1))).sum(-1)
            other = z.scatter(-1, t.unsqueeze(-1), float("-inf")).max(-1).values
            margin = z.gather(-1, t.unsqueeze(-1)).squeeze(-1) - other
            nan = torch.tensor(float("nan"))
            out = [torch.where(valid, x, nan) for x in (lp, mean, var, margin)]
            rank = torch.where(valid, rank, torch.zeros_like(rank))

            class _S(tuple):
                pass

            s = _S((out[0], rank, out[1], out[2]))
            s.margin = out[3]
            return s

        return token_stats


class HFEngine(Engine):
    name = "hf"

    def __init__(self, model: str, device: str | None = None, dtype: str = "float32",
                 trust_remote_code: bool = False, max_batch_tokens: int = 8192, max_batch_size: int = 64,
                 add_bos: bool | None = None, max_length: int | None = None, **_: object):
        offline_env()
        import torch
        from transformers import AutoModelForCausalLM

        super().__init__(model, trust_remote_code=trust_remote_code, add_bos=add_bos, max_length=max_length)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        try:
            torch_dtype = getattr(torch, dtype)
        except AttributeError:
            raise EngineError(f"unknown dtype {dtype!r} (use float32, bfloat16 or float16)") from None
        try:
            self.model = AutoModelForCausalLM.from_pretrained(
                self.model_path, dtype=torch_dtype, trust_remote_code=trust_remote_code
            ).to(self.device)
        except Exception as e:  # noqa: BLE001
            raise EngineError(f"cannot load model {self.model_path}: {type(e).__name__}: {str(e)[:200]}") from None
        self.model.eval()
        if self.max_length is None:
            self.max_length = getattr(self.model.config, "max_position_embeddings", None) or getattr(
                self.model.config, "n_positions", None)
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_size = max_batch_size
        self._stats = _token_stats_fn()

    def _batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Indices grouped by similar length, each group under the token and size budgets."""
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        batches, cur, width = [], [], 0
        for i in order:
            w = max(width, lengths[i])
            if cur and (w * (len(cur) + 1) > self.max_batch_tokens or len(cur) >= self.max_batch_size):
                batches.append(cur)
                cur, w = [], lengths[i]
            cur.append(i)
            width = w
        if cur:
            batches.append(cur)
        return batches

    def token_stats(self, seqs: Sequence[Sequence[int]], full_vocab: bool = True) -> list[SeqStats]:
        import torch

        out: list[SeqStats | None] = [None] * len(seqs)
        for idx in self._batches([len(s) for s in seqs]):
            width = max(len(seqs[i]) for i in idx)
            ids = torch.full((len(idx), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            targets = torch.full((len(idx), max(width - 1, 0)), -100, dtype=torch.long)
            for r, i in enumerate(idx):
                s = torch.tensor(list(seqs[i]), dtype=torch.long)
                ids[r, : len(s)] = s
                mask[r, : len(s)] = 1
                targets[r, : len(s) - 1] = s[1:]
            with torch.inference_mode():
                logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
                st = self._stats(logits[:, :-1], targets.to(self.device))
                lp, rank, mean, var = (x.float().cpu().numpy() if x.is_floating_point() else x.cpu().numpy()
                                       for x in st)
                margin = st.margin.float().cpu().numpy()
            for r, i in enumerate(idx):
                n = len(seqs[i]) - 1
                out[i] = SeqStats(list(seqs[i]), lp[r, :n].astype(np.float64), rank[r, :n].astype(np.int64),
                                  margin[r, :n].astype(np.float64), mean[r, :n].astype(np.float64),
                                  var[r, :n].astype(np.float64))
        return out  # type: ignore[return-value]

    def greedy(self, prefixes: Sequence[Sequence[int]], max_new_tokens: int, batch_size: int | None = None
               ) -> list[list[int]]:
        """`model.generate` greedy decoding (left-padded batches; batch_size=1 is the plain baseline)."""
        import copy

        import torch

        gc = copy.deepcopy(self.model.generation_config)
        gc.do_sample, gc.num_beams, gc.max_new_tokens, gc.min_new_tokens = False, 1, max_new_tokens, None
        gc.eos_token_id, gc.pad_token_id = None, self.pad_id
        gc.temperature = gc.top_p = gc.top_k = None
        bs = batch_size or self.max_batch_size
        out: list[list[int] | None] = [None] * len(prefixes)
        order = sorted(range(len(prefixes)), key=lambda i: len(prefixes[i]))
        for b in range(0, len(order), bs):
            idx = order[b : b + bs]
            width = max(len(prefixes[i]) for i in idx)
            ids = torch.full((len(idx), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for r, i in enumerate(idx):
                p = list(prefixes[i])
                ids[r, width - len(p):] = torch.tensor(p, dtype=torch.long)
                mask[r, width - len(p):] = 1
            with torch.inference_mode():
                gen = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                          generation_config=gc)
            for r, i in enumerate(idx):
                out[i] = gen[r, width:].tolist()
        return out  # type: ignore[return-value]

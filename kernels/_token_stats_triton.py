"""Fused Triton kernel for :func:`workbench.kernels.token_stats`.

One program per row. The row is read once, in tiles of ``BLOCK_V`` entries; the running state is
the row maximum ``m`` and, relative to it, ``S = sum e^(z-m)``, ``A = sum e^(z-m) (z-m)`` and
``B = sum e^(z-m) (z-m)^2`` (kept per lane and summed at the end). When the maximum grows from ``m`` to ``m'`` (``delta = m - m' <= 0``)
the state is rescaled exactly:  S <- e^delta S,  A <- e^delta (A + delta S),
B <- e^delta (B + 2 delta A + delta^2 S).  At the end, with ``L = log S``:
  logsumexp = m + L,  mean = A/S - L,  var = B/S - (A/S)^2.
The target logit is read first, so the rank count (entries strictly above it) and the best
non-target logit (for the margin) come out of the same pass. All arithmetic is float32.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ._backend import make_launchers


def _token_stats_kernel(
    z_ptr,
    t_ptr,
    lp_ptr,
    rank_ptr,
    mean_ptr,
    var_ptr,
    margin_ptr,
    V,
    inner,
    stride_outer,
    stride_row,
    ignore_index,
    BLOCK_V: tl.constexpr,
    PREFETCH: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    tgt = tl.load(t_ptr + row)
    if tgt == ignore_index:
        nan = float("nan")
        tl.store(lp_ptr + row, nan)
        tl.store(rank_ptr + row, 0)
        tl.store(mean_ptr + row, nan)
        tl.store(var_ptr + row, nan)
        tl.store(margin_ptr + row, nan)
    else:
        base = z_ptr + (row // inner) * stride_outer + (row % inner) * stride_row
        zt = tl.load(base + tgt).to(tl.float32)
        cols = tl.arange(0, BLOCK_V)
        neg_inf = float("-inf")
        # Per-lane accumulators (BLOCK_V wide) relative to one shared running max ``m``: the only
        # cross-lane reduction inside the loop is the tile max; the sums are reduced once at the end.
        m = tl.full((), neg_inf, tl.float32)
        s_acc = tl.zeros((BLOCK_V,), tl.float32)
        a_acc = tl.zeros((BLOCK_V,), tl.float32)
        b_acc = tl.zeros((BLOCK_V,), tl.float32)
        best_acc = tl.full((BLOCK_V,), neg_inf, tl.float32)
        above_acc = tl.zeros((BLOCK_V,), tl.int32)
        if PREFETCH:
            z_next = tl.load(base + cols, mask=cols < V, other=neg_inf)
        for start in range(0, V, BLOCK_V):
            idx = start + cols
            if PREFETCH:
                # issue the next tile's load before working on this one (manual double buffering)
                z = z_next.to(tl.float32)
                z_next = tl.load(base + BLOCK_V + idx, mask=BLOCK_V + idx < V, other=neg_inf)
            else:
                z = tl.load(base + idx, mask=idx < V, other=neg_inf).to(tl.float32)
            above_acc += (z > zt).to(tl.int32)
            best_acc = tl.maximum(best_acc, tl.where(idx == tgt, neg_inf, z))
            m_new = tl.maximum(m, tl.max(z, axis=0))
            # rescale the running sums to a new maximum; all sums are still 0 while m == -inf,
            # and the maximum stops moving after the first tiles, so this branch is rare
            if (m_new > m) & (m > neg_inf):
                delta = m - m_new
                scale = tl.exp(delta)
                b_acc = scale * (b_acc + (2.0 * delta) * a_acc + (delta * delta) * s_acc)
                a_acc = scale * (a_acc + delta * s_acc)
                s_acc = scale * s_acc
            live = z > neg_inf
            d = tl.where(live, z, 0.0) - tl.where(live, m_new, 0.0)
            e = tl.where(live, tl.exp(d), 0.0)
            ed = e * d
            s_acc += e
            a_acc += ed
            b_acc += ed * d
            m = m_new
        s = tl.sum(s_acc, axis=0)
        a = tl.sum(a_acc, axis=0)
        b = tl.sum(b_acc, axis=0)
        above = tl.sum(above_acc, axis=0)
        best_other = tl.max(best_acc, axis=0)
        log_s = tl.log(s)
        mean_d = a / s
        tl.store(lp_ptr + row, zt - m - log_s)
        tl.store(rank_ptr + row, (above + 1).to(tl.int64))
        tl.store(mean_ptr + row, mean_d - log_s)
        tl.store(var_ptr + row, tl.maximum(b / s - mean_d * mean_d, 0.0))
        tl.store(margin_ptr + row, zt - best_other)


_get_kernel = make_launchers(_token_stats_kernel)


def default_block_v(V: int, device: torch.device) -> int:
    if device.type != "cuda":
        # interpreter: each tile is one numpy step, so bigger tiles are faster; keep them moderate
        return min(1024, triton.next_power_of_2(V))
    return min(1024, max(128, triton.next_power_of_2(V)))


def default_num_warps(block_v: int) -> int:
    # 8 elements per thread. Registers on sm_90 (cuobjdump --dump-resource-usage of the compiled cubin,
    # no GPU needed): 1024 x 4 warps with prefetch 96, i.e. 5 CTAs = 10 tiles (20 KB of bf16) in flight
    # per SM; 2048 x 8 warps 100 (2 CTAs, 16 KB); 16 elements per thread needs ~180 and 1 CTA.
    # Unmeasured on a GPU yet: `bench_kernels.py --device cuda --sweep` times the alternatives.
    return max(1, min(16, block_v // 256))


def launch(
    z3: torch.Tensor,
    t: torch.Tensor,
    ignore_index: int,
    block_v: int | None,
    num_warps: int | None = None,
    prefetch: bool = True,
):
    """Run the kernel on ``[outer, inner, V]`` logits (last dim contiguous; see ``token_stats._as_3d``)
    and ``[outer * inner]`` int64 targets. A 2-D ``[N, V]`` tensor is taken as ``[1, N, V]``."""
    if z3.dim() == 2:
        z3 = z3.unsqueeze(0)
    Bo, Ti, V = z3.shape
    N = Bo * Ti
    if z3.stride(-1) != 1 and V > 1:
        z3 = z3.contiguous()
    t = t.contiguous()
    dev = z3.device
    lp = torch.empty(N, dtype=torch.float32, device=dev)
    rank = torch.empty(N, dtype=torch.int64, device=dev)
    mean = torch.empty(N, dtype=torch.float32, device=dev)
    var = torch.empty(N, dtype=torch.float32, device=dev)
    margin = torch.empty(N, dtype=torch.float32, device=dev)
    if N == 0:
        return lp, rank, mean, var, margin
    bv = block_v or default_block_v(V, dev)
    if bv & (bv - 1):
        raise ValueError(f"block_v must be a power of two, got {bv}")
    num_warps = num_warps or default_num_warps(bv)
    kernel = _get_kernel(dev)
    kernel[(N,)](
        z3, t, lp, rank, mean, var, margin, V, Ti, z3.stride(0), z3.stride(1), ignore_index,
        BLOCK_V=bv, PREFETCH=prefetch, num_warps=num_warps, enable_fp_fusion=True,
    )
    return lp, rank, mean, var, margin

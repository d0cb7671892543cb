"""Triton kernel for :func:`workbench.kernels.ngram_hashes` (the hash is specified in ``ngram.py``).

Grid: (sequence, tile of ``BLOCK`` start positions). Each program walks the ``n`` offsets of its
windows, so every output is the direct polynomial ``h = h * P + g(x)`` of its own window (bit-exact
with the torch reference; no subtraction of the leaving token is needed). Arithmetic is uint64.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ._backend import make_launchers


def _ngram_kernel(
    ids_ptr,
    mask_ptr,
    out_ptr,
    valid_ptr,
    W,
    n,
    stride_ids,
    stride_mask,
    stride_out,
    HAS_MASK: tl.constexpr,
    BLOCK: tl.constexpr,
):
    seq = tl.program_id(0).to(tl.int64)
    pos = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    inb = pos < W
    h = tl.zeros((BLOCK,), tl.uint64)
    ok = inb
    for j in range(0, n):
        x = tl.load(ids_ptr + seq * stride_ids + pos + j, mask=inb, other=0).to(tl.uint64, bitcast=True)
        # SplitMix64 of the token id
        x = x + 0x9E3779B97F4A7C15
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
        x = (x ^ (x >> 27)) * 0x94D049BB133111EB
        x = x ^ (x >> 31)
        h = h * 0xD6E8FEB86659FD93 + x
        if HAS_MASK:
            real = tl.load(mask_ptr + seq * stride_mask + pos + j, mask=inb, other=0)
            ok = ok & (real != 0)
    h = h + n  # promoted to uint64
    h = h + 0x9E3779B97F4A7C15
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9
    h = (h ^ (h >> 27)) * 0x94D049BB133111EB
    h = h ^ (h >> 31)
    h = tl.where(ok, h, 0)
    tl.store(out_ptr + seq * stride_out + pos, h.to(tl.int64, bitcast=True), mask=inb)
    tl.store(valid_ptr + seq * stride_out + pos, ok.to(tl.int8), mask=inb)


_get_kernel = make_launchers(_ngram_kernel)


def launch(ids: torch.Tensor, n: int, mask: torch.Tensor | None, block: int = 256):
    """``ids``: int64 [B, L]; ``mask``: bool [B, L] or None. Returns (hashes int64, valid bool) [B, W]."""
    B, L = ids.shape
    W = max(0, L - n + 1)
    dev = ids.device
    out = torch.empty((B, W), dtype=torch.int64, device=dev)
    valid = torch.empty((B, W), dtype=torch.int8, device=dev)
    if B == 0 or W == 0:
        return out, valid.bool()
    ids = ids.contiguous()
    m = mask.contiguous().to(torch.int8) if mask is not None else ids  # dummy pointer when no mask
    grid = (B, triton.cdiv(W, block))
    _get_kernel(dev)[grid](
        ids, m, out, valid, W, n, ids.stride(0), m.stride(0), out.stride(0),
        HAS_MASK=mask is not None, BLOCK=block, enable_fp_fusion=True,
    )
    return out, valid.bool()

"""64-bit hashes of every n-gram of a batch of token-id sequences, for exact-match lookup.

The hash (all arithmetic modulo 2**64 on unsigned 64-bit integers; ``>>`` is a logical shift):

    mix(z):  z = z + 0x9E3779B97F4A7C15
             z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
             z = (z ^ (z >> 27)) * 0x94D049BB133111EB
             return z ^ (z >> 31)                       # SplitMix64

    g(x)  = mix(x mod 2**64)                            # token id x (int64, two's complement)
    H(x_0 .. x_{n-1}) = sum_{j=0}^{n-1} g(x_j) * P**(n-1-j)   with P = 0xD6E8FEB86659FD93
                      (i.e. h = 0; for each token: h = h * P + g(x))
    hash = mix(H + n)

and the value is returned as int64 (the same 64 bits, two's complement). The n-gram starting at
position ``i`` of a sequence of length ``L`` covers positions ``i .. i+n-1``; there are
``L - n + 1`` of them (none when ``L < n``). An n-gram is *valid* when all of its positions are
real tokens (``mask`` True); invalid n-grams get hash 0 and ``valid = False``.

Build a corpus-side index with the same function (``ngram_hashes`` with ``backend="torch"`` on
CPU gives identical values to the Triton kernel) and join model generations on ``hash``; confirm
hits against the tokens themselves, since any 64-bit hash can collide.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ._backend import resolve_backend

MIX_ADD = 0x9E3779B97F4A7C15
MIX_MUL1 = 0xBF58476D1CE4E5B9
MIX_MUL2 = 0x94D049BB133111EB
BASE = 0xD6E8FEB86659FD93
_M64 = (1 << 64) - 1


def _s64(u: int) -> int:
    """Unsigned 64-bit value -> the int64 with the same bits."""
    u &= _M64
    return u - (1 << 64) if u >= 1 << 63 else u


class NgramHashes(NamedTuple):
    hashes: torch.Tensor  # int64 [B, L-n+1] (or [L-n+1] for a 1-D input); 0 where not valid
    valid: torch.Tensor  # bool, same shape: all n positions are real tokens


def _srl(x: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 bits."""
    return (x >> s) & ((1 << (64 - s)) - 1)


def _mix_torch(z: torch.Tensor) -> torch.Tensor:
    # int64 add/mul wrap modulo 2**64 (two's complement), which is the unsigned arithmetic we want.
    z = z + _s64(MIX_ADD)
    z = (z ^ _srl(z, 30)) * _s64(MIX_MUL1)
    z = (z ^ _srl(z, 27)) * _s64(MIX_MUL2)
    return z ^ _srl(z, 31)


def ngram_hash_int(tokens) -> int:
    """Hash of one n-gram (any sequence of ints, n = its length) in plain Python: the specification."""

    def mix(z: int) -> int:
        z = (z + MIX_ADD) & _M64
        z = ((z ^ (z >> 30)) * MIX_MUL1) & _M64
        z = ((z ^ (z >> 27)) * MIX_MUL2) & _M64
        return z ^ (z >> 31)

    h = 0
    for x in tokens:
        h = (h * BASE + mix(int(x) & _M64)) & _M64
    return _s64(mix((h + len(tokens)) & _M64))


def _check(token_ids: torch.Tensor, n: int, mask: torch.Tensor | None):
    if not isinstance(token_ids, torch.Tensor):
        raise TypeError("token_ids must be a torch tensor")
    if token_ids.dim() not in (1, 2):
        raise ValueError(f"token_ids must be [L] or [B, L], got shape {tuple(token_ids.shape)}")
    if token_ids.is_floating_point() or token_ids.is_complex() or token_ids.dtype == torch.bool:
        raise TypeError(f"token_ids must be integers, got {token_ids.dtype}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    squeeze = token_ids.dim() == 1
    ids = token_ids.reshape(1, -1) if squeeze else token_ids
    ids = ids.to(torch.int64)
    if mask is not None:
        if tuple(mask.shape) != tuple(token_ids.shape):
            raise ValueError(f"mask shape {tuple(mask.shape)} must equal token_ids shape {tuple(token_ids.shape)}")
        m = mask.reshape(ids.shape).to(device=ids.device, dtype=torch.bool)
    else:
        m = None
    return ids, m, squeeze


def _torch_impl(ids: torch.Tensor, n: int, m: torch.Tensor | None):
    B, L = ids.shape
    W = max(0, L - n + 1)
    if W == 0:
        return ids.new_zeros((B, 0)), torch.zeros((B, 0), dtype=torch.bool, device=ids.device)
    g = _mix_torch(ids)
    h = torch.zeros((B, W), dtype=torch.int64, device=ids.device)
    for j in range(n):
        h = h * _s64(BASE) + g[:, j : j + W]
    h = _mix_torch(h + n)
    if m is None:
        valid = torch.ones((B, W), dtype=torch.bool, device=ids.device)
    else:
        # valid iff no padding inside the window: count pads with a cumulative sum.
        pads = torch.nn.functional.pad((~m).to(torch.int32).cumsum(1), (1, 0))
        valid = (pads[:, n : n + W] - pads[:, :W]) == 0
    h = torch.where(valid, h, torch.zeros_like(h))
    return h, valid


def ngram_hashes_torch(token_ids: torch.Tensor, n: int, mask: torch.Tensor | None = None) -> NgramHashes:
    """Plain torch reference of :func:`ngram_hashes`."""
    ids, m, squeeze = _check(token_ids, n, mask)
    h, v = _torch_impl(ids, n, m)
    return NgramHashes(h[0], v[0]) if squeeze else NgramHashes(h, v)


def ngram_hashes(
    token_ids: torch.Tensor,
    n: int,
    mask: torch.Tensor | None = None,
    *,
    backend: str | None = None,
) -> NgramHashes:
    """Hash every n-gram of ``token_ids`` (``[L]`` or ``[B, L]``, integer token ids).

    Args:
        token_ids: token ids; any integer dtype (converted to int64).
        n: n-gram length (50 for the Nasr et al. 2023 extraction match).
        mask: optional bool tensor of the same shape, True for real tokens, False for padding.
        backend: ``"auto"`` | ``"torch"`` | ``"triton"`` (see ``workbench.kernels._backend``).

    Returns:
        ``NgramHashes(hashes, valid)``: int64 hashes (0 where invalid) and the validity flags,
        shape ``[B, max(0, L-n+1)]`` (``[max(0, L-n+1)]`` for 1-D input). See the module doc for
        the exact hash function.
    """
    ids, m, squeeze = _check(token_ids, n, mask)
    which = resolve_backend(backend, ids.device)
    if which == "triton":
        from ._ngram_triton import launch

        h, v = launch(ids, n, m)
    else:
        h, v = _torch_impl(ids, n, m)
    return NgramHashes(h[0], v[0]) if squeeze else NgramHashes(h, v)


__all__ = ["NgramHashes", "ngram_hashes", "ngram_hashes_torch", "ngram_hash_int", "BASE"]

"""workbench.kernels: Triton kernels vs torch references vs a naive float64 computation.

The Triton kernels run on this CPU in Triton's interpreter, which is only active when
TRITON_INTERPRET=1 is set before `triton` is imported (Triton 3.x decorates its standard library at
import time). So the `*_triton_*` tests are defined only in a process started with that variable;
in a normal pytest run, `test_triton_interpreter_subprocess` starts one such process running them
(and nothing else), leaving this process's Triton untouched for other tests.

Inputs are fresh random draws every run; the seed is in every failure message.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys

import pytest
import torch

from workbench.kernels import (
    IGNORE_INDEX,
    ngram_hash_int,
    ngram_hashes,
    ngram_hashes_torch,
    resolve_backend,
    token_stats,
    token_stats_torch,
)

INTERP = os.environ.get("TRITON_INTERPRET", "0") == "1"
HAS_CUDA = torch.cuda.is_available()


@pytest.fixture
def gen():
    seed = int.from_bytes(os.urandom(4), "little")
    g = torch.Generator().manual_seed(seed)
    return g


# ---------------------------------------------------------------------------------------------
# independent naive computation (float64 log_softmax over the whole vocabulary)


def naive_stats(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = IGNORE_INDEX):
    V = logits.shape[-1]
    z = logits.reshape(-1, V).double()
    t = targets.reshape(-1)
    out = {k: [] for k in ("logprob", "rank", "mean", "var", "margin")}
    for i in range(z.shape[0]):
        ti = int(t[i])
        if ti == ignore_index:
            for k in ("logprob", "mean", "var", "margin"):
                out[k].append(math.nan)
            out["rank"].append(0)
            continue
        lp = torch.log_softmax(z[i], dim=0)
        p = lp.exp()
        plp = torch.where(p > 0, p * lp, torch.zeros_like(p))
        plp2 = torch.where(p > 0, p * lp * lp, torch.zeros_like(p))
        mu = plp.sum().item()
        out["logprob"].append(lp[ti].item())
        out["mean"].append(mu)
        out["var"].append(plp2.sum().item() - mu * mu)
        out["rank"].append(1 + int((z[i] > z[i, ti]).sum()))
        others = torch.cat([z[i, :ti], z[i, ti + 1 :]])
        out["margin"].append(z[i, ti].item() - others.max().item() if others.numel() else math.inf)
    lead = tuple(logits.shape[:-1])
    res = {k: torch.tensor(v, dtype=torch.float64).reshape(lead) for k, v in out.items()}
    res["rank"] = res["rank"].long()
    return res


def assert_matches_naive(stats, logits, targets, msg, atol=2e-4, rtol=1e-4):
    ref = naive_stats(logits, targets)
    assert torch.equal(stats.rank, ref["rank"]), f"rank {msg}"
    for name in ("logprob", "mean", "var", "margin"):
        got = getattr(stats, name).double()
        torch.testing.assert_close(got, ref[name], atol=atol, rtol=rtol, equal_nan=True, msg=lambda m: f"{name} {msg}: {m}")


def assert_same_stats(a, b, msg, atol=1e-5, rtol=1e-5):
    assert torch.equal(a.rank, b.rank), f"rank {msg}"
    # the margin is one subtraction of the same two float32 values in both implementations
    torch.testing.assert_close(a.margin, b.margin, atol=0, rtol=0, equal_nan=True, msg=lambda m: f"margin {msg}: {m}")
    for name in ("logprob", "mean", "var"):
        torch.testing.assert_close(
            getattr(a, name), getattr(b, name), atol=atol, rtol=rtol, equal_nan=True, msg=lambda m: f"{name} {msg}: {m}"
        )


def make_case(kind: str, g: torch.Generator):
    """Awkward inputs: (logits, targets). Shapes and values per kind."""
    if kind == "fp32_odd_vocab":  # vocabulary not a multiple of any block size, padding rows
        z = torch.randn(9, 1000, generator=g) * 3
        t = torch.randint(0, 1000, (9,), generator=g)
        t[[0, 5]] = IGNORE_INDEX
    elif kind == "bf16_batch":  # [B, T, V], bf16, one padded position per sequence
        z = (torch.randn(2, 4, 1025, generator=g) * 4).to(torch.bfloat16)
        t = torch.randint(0, 1025, (2, 4), generator=g)
        t[:, -1] = IGNORE_INDEX
    elif kind == "fp16":
        z = (torch.randn(3, 513, generator=g) * 2).to(torch.float16)
        t = torch.randint(0, 513, (3,), generator=g)
    elif kind == "one_token_rows":  # sequences of a single token, and a one-row input
        z = torch.randn(3, 1, 77, generator=g)
        t = torch.randint(0, 77, (3, 1), generator=g)
    elif kind == "vocab_one":
        z = torch.randn(4, 1, generator=g)
        t = torch.zeros(4, dtype=torch.long)
    elif kind == "ties":  # small integer logits: many ties, including ties for the top
        z = torch.randint(-2, 3, (12, 37), generator=g).float()
        t = torch.randint(0, 37, (12,), generator=g)
        t[0] = int(z[0].argmax())  # target tied or alone at the top
    elif kind == "large_negative":  # huge offsets and masked (-inf) vocabulary entries
        z = torch.randn(6, 300, generator=g) * 5 - 1.0e4
        z[:, 100:150] = -math.inf
        t = torch.randint(150, 300, (6,), generator=g)
        z[1, :] = -math.inf
        z[1, 7] = -9000.0  # the only finite entry: p = 1
        t[1] = 7
        t[2] = 120  # target itself masked: logprob = -inf
    elif kind == "peaked":  # near one-hot distributions: tiny variances
        z = torch.randn(5, 2000, generator=g) * 40
        t = z.argmax(1)
        t[-1] = 3
    else:
        raise KeyError(kind)
    return z, t


CASES = ["fp32_odd_vocab", "bf16_batch", "fp16", "one_token_rows", "vocab_one", "ties", "large_negative", "peaked"]


def _naive_tol(kind):
    # bf16/fp16 inputs are exact in float32, so the float32 accumulation stays close to float64
    return {"peaked": dict(atol=1e-3, rtol=1e-4), "large_negative": dict(atol=5e-4, rtol=1e-4)}.get(kind, {})


# ---------------------------------------------------------------------------------------------
# torch reference (always runs in this process)


@pytest.mark.parametrize("kind", CASES)
def test_reference_matches_naive(kind, gen):
    z, t = make_case(kind, gen)
    s = token_stats_torch(z, t)
    assert s.logprob.shape == t.shape and s.rank.dtype == torch.int64 and s.var.dtype == torch.float32
    assert_matches_naive(s, z, t, f"[{kind} seed={gen.initial_seed()}]", **_naive_tol(kind))


def test_reference_chunking_is_invisible(gen):
    z = torch.randn(37, 301, generator=gen)
    t = torch.randint(0, 301, (37,), generator=gen)
    t[::5] = IGNORE_INDEX
    z_before = z.clone()
    whole = token_stats_torch(z, t, chunk_bytes=1 << 30)
    assert torch.equal(z, z_before)  # the reference shifts a copy, never the caller's logits
    tiny = token_stats_torch(z, t, chunk_bytes=1)  # one row per chunk
    mid = token_stats_torch(z, t, chunk_bytes=4 * 4 * 301 * 8)  # 8 rows per chunk, last chunk partial
    for other in (tiny, mid):
        for a, b in zip([*whole, whole.margin], [*other, other.margin]):
            assert torch.equal(a.isnan(), b.isnan())
            torch.testing.assert_close(a, b, equal_nan=True)


def test_shifted_model_output_is_read_in_place(gen):
    """The probes' call: logits[:, :-1] against input_ids[:, 1:]; a strided [B, T-1, V] view, not a copy."""
    from workbench.kernels.token_stats import _as_3d

    out = torch.randn(3, 9, 40, generator=gen)
    ids = torch.randint(0, 40, (3, 9), generator=gen)
    z, t = out[:, :-1], ids[:, 1:]
    assert _as_3d(z).data_ptr() == out.data_ptr() and tuple(_as_3d(z).shape) == (3, 8, 40)
    s = token_stats(z, t, backend="torch", chunk_bytes=4 * 3 * 40 * 3)  # chunks of 3 rows inside each sequence
    assert s.logprob.shape == (3, 8)
    assert_matches_naive(s, z.contiguous(), t, f"seed={gen.initial_seed()}")


def test_padding_convention(gen):
    z = torch.randn(4, 50, generator=gen)
    t = torch.tensor([IGNORE_INDEX, 3, IGNORE_INDEX, 49])
    s = token_stats(z, t, backend="torch")
    assert s.rank.tolist()[0] == 0 and s.rank.tolist()[2] == 0
    assert all(v >= 1 for v in s.rank.tolist()[1::2])
    for x in (s.logprob, s.mean, s.var, s.margin):
        assert x[0].isnan() and x[2].isnan() and not x[1].isnan() and not x[3].isnan()
    # a custom ignore index
    t2 = torch.tensor([-1, 3, -1, 49])
    s2 = token_stats(z, t2, ignore_index=-1, backend="torch")
    assert torch.equal(s2.rank, s.rank)


def test_margin_and_rank_semantics():
    z = torch.tensor([[1.0, 3.0, 3.0, 0.0], [1.0, 3.0, 2.0, 0.0], [1.0, 3.0, 2.0, 0.0]])
    t = torch.tensor([1, 1, 2])
    s = token_stats(z, t, backend="torch")
    assert s.rank.tolist() == [1, 1, 2]  # tie for the top keeps rank 1
    assert s.margin.tolist() == [0.0, 1.0, -1.0]
    lp, rank, mu, var = s  # a 4-tuple
    assert torch.equal(rank, s.rank) and set(s._asdict()) == {"logprob", "rank", "mean", "var", "margin"}
    import pickle

    back = pickle.loads(pickle.dumps(s))  # Ray ships results by pickling
    assert len(back) == 4 and torch.equal(back.margin, s.margin) and torch.equal(back.rank, s.rank)


def test_input_validation():
    z = torch.randn(3, 10)
    with pytest.raises(ValueError):
        token_stats(z, torch.tensor([0, 1]))
    with pytest.raises(ValueError):
        token_stats(z, torch.tensor([0, 10, 1]))
    with pytest.raises(ValueError):
        token_stats(z, torch.tensor([0, -5, 1]))
    with pytest.raises(TypeError):
        token_stats(z, torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError):
        token_stats(z, torch.tensor([0, 1, 2]), backend="cuda-please")
    empty = token_stats(torch.randn(0, 10), torch.zeros(0, dtype=torch.long))
    assert empty.logprob.shape == (0,)
    one_token_seqs = token_stats(torch.randn(3, 1, 10)[:, :-1], torch.zeros(3, 0, dtype=torch.long))
    assert one_token_seqs.rank.shape == (3, 0) and one_token_seqs.margin.shape == (3, 0)


def test_backend_resolution(monkeypatch):
    monkeypatch.delenv("WORKBENCH_KERNELS_BACKEND", raising=False)
    assert resolve_backend(None, torch.device("cpu")) == "torch"
    assert resolve_backend("torch", torch.device("cuda")) == "torch"
    monkeypatch.setenv("WORKBENCH_KERNELS_BACKEND", "torch")
    assert resolve_backend(None, torch.device("cuda")) == "torch"
    monkeypatch.setenv("WORKBENCH_KERNELS_BACKEND", "bogus")
    with pytest.raises(ValueError):
        resolve_backend(None, torch.device("cpu"))


# n-gram hashes ---------------------------------------------------------------------------------


def naive_valid(mask: torch.Tensor, n: int) -> torch.Tensor:
    B, L = mask.shape
    W = max(0, L - n + 1)
    return torch.tensor([[bool(mask[b, i : i + n].all()) for i in range(W)] for b in range(B)], dtype=torch.bool).reshape(B, W)


def test_ngram_reference_matches_python_spec(gen):
    B, L, n = 3, 40, 7
    ids = torch.randint(0, 152_064, (B, L), generator=gen)
    ids[0, 3] = 2**63 - 1  # extreme ids still follow the unsigned-64 spec
    ids[1, 5] = -100
    mask = torch.rand(B, L, generator=gen) > 0.1
    h, v = ngram_hashes_torch(ids, n, mask)
    assert h.shape == (B, L - n + 1) and h.dtype == torch.int64
    assert torch.equal(v, naive_valid(mask, n)), f"seed={gen.initial_seed()}"
    for b in range(B):
        for i in range(L - n + 1):
            want = ngram_hash_int(ids[b, i : i + n].tolist()) if v[b, i] else 0
            assert h[b, i].item() == want, f"b={b} i={i} seed={gen.initial_seed()}"


def test_ngram_shapes_and_edges(gen):
    ids = torch.randint(0, 1000, (25,), generator=gen)
    h, v = ngram_hashes(ids, 5, backend="torch")  # 1-D in, 1-D out, no mask: all valid
    assert h.shape == (21,) and bool(v.all())
    h1, _ = ngram_hashes(ids, 1, backend="torch")
    assert [x.item() for x in h1] == [ngram_hash_int([int(x)]) for x in ids]
    hs, vs = ngram_hashes(ids[:4], 5, backend="torch")  # shorter than n: no n-grams
    assert hs.shape == (0,) and vs.shape == (0,)
    # int32 input hashes like int64 input
    assert torch.equal(ngram_hashes(ids.to(torch.int32), 5, backend="torch").hashes, h)
    with pytest.raises(ValueError):
        ngram_hashes(ids, 0)
    with pytest.raises(TypeError):
        ngram_hashes(ids.float(), 3)
    with pytest.raises(ValueError):
        ngram_hashes(ids, 3, mask=torch.ones(24, dtype=torch.bool))


def test_ngram_exact_match_lookup(gen):
    """The Nasr et al. use: a generation that copies 50 corpus tokens hits the corpus index."""
    n = 50
    corpus = torch.randint(0, 50_000, (4, 300), generator=gen)
    index = set(ngram_hashes(corpus, n).hashes.flatten().tolist())
    copied = torch.cat([torch.randint(0, 50_000, (20,), generator=gen), corpus[2, 100:160], torch.randint(0, 50_000, (20,), generator=gen)])
    gen_h, gen_v = ngram_hashes(copied[None], n, mask=torch.ones(1, 100, dtype=torch.bool))
    hits = [i for i, x in enumerate(gen_h[0].tolist()) if gen_v[0, i] and x in index]
    assert hits == list(range(20, 31)), f"seed={gen.initial_seed()}"  # the 11 windows inside the copied 60 tokens
    fresh = torch.randint(0, 50_000, (1, 120), generator=gen)
    assert not (set(ngram_hashes(fresh, n).hashes.flatten().tolist()) & index)


# ---------------------------------------------------------------------------------------------
# Triton kernels in the interpreter (only in a TRITON_INTERPRET=1 process; see module docstring)

if INTERP:

    @pytest.mark.parametrize("kind", CASES)
    def test_triton_token_stats_matches_reference_and_naive(kind, gen):
        z, t = make_case(kind, gen)
        k = token_stats(z, t, backend="triton")
        r = token_stats(z, t, backend="torch")
        assert_same_stats(k, r, f"[{kind} seed={gen.initial_seed()}]")
        assert_matches_naive(k, z, t, f"[{kind} seed={gen.initial_seed()}]", **_naive_tol(kind))

    @pytest.mark.parametrize("block_v,prefetch", [(16, True), (64, False), (128, True)])
    def test_triton_token_stats_small_tiles(block_v, prefetch, gen):
        # many tiles, the last one partial, and the running max changing between tiles
        from workbench.kernels._token_stats_triton import launch

        V = 300 + int(torch.randint(0, 50, (1,), generator=gen))
        z = torch.randn(5, V, generator=gen) * 4 + torch.linspace(-20, 20, V)
        z[3] = z[3].flip(0)  # and a row whose maximum comes first
        t = torch.randint(0, V, (5,), generator=gen)
        t[2] = IGNORE_INDEX
        k = type(token_stats(z[:1], t[:1]))(*launch(z, t, IGNORE_INDEX, block_v, prefetch=prefetch))
        assert_same_stats(k, token_stats(z, t, backend="torch"), f"[V={V} block={block_v} seed={gen.initial_seed()}]")

    def test_triton_token_stats_shifted_3d_view(gen):
        out = torch.randn(3, 7, 130, generator=gen).to(torch.bfloat16)
        ids = torch.randint(0, 130, (3, 7), generator=gen)
        ids[2, 5:] = IGNORE_INDEX
        z, t = out[:, :-1], ids[:, 1:]
        k = token_stats(z, t, backend="triton", block_v=64)
        assert k.rank.shape == (3, 6)
        assert_same_stats(k, token_stats(z, t, backend="torch"), f"seed={gen.initial_seed()}")
        assert_matches_naive(k, z.contiguous(), t, f"seed={gen.initial_seed()}")

    def test_triton_token_stats_non_contiguous_rows(gen):
        big = torch.randn(6, 2, 130, generator=gen)
        z = big[:, 1, :]  # row stride 260, contiguous last dim
        t = torch.randint(0, 130, (6,), generator=gen)
        assert_same_stats(token_stats(z, t, backend="triton"), token_stats(z, t, backend="torch"), f"seed={gen.initial_seed()}")

    @pytest.mark.parametrize("shape,n,pad", [((3, 130), 50, 0.03), ((2, 9), 3, 0.2), ((1, 5), 1, 0.0), ((2, 4), 5, 0.0), ((2, 600), 50, 0.0)])
    def test_triton_ngram_matches_reference(shape, n, pad, gen):
        ids = torch.randint(0, 152_064, shape, generator=gen)
        ids[0, 0] = 2**62 + 12345
        mask = (torch.rand(shape, generator=gen) >= pad) if pad else None
        k = ngram_hashes(ids, n, mask, backend="triton")
        r = ngram_hashes(ids, n, mask, backend="torch")
        assert torch.equal(k.valid, r.valid) and torch.equal(k.hashes, r.hashes), f"seed={gen.initial_seed()}"
        if k.hashes.shape[1]:
            assert k.hashes[0, 0].item() == (ngram_hash_int(ids[0, :n].tolist()) if k.valid[0, 0] else 0)

else:

    def test_triton_interpreter_subprocess():
        """Run this file's Triton tests in a fresh process with TRITON_INTERPRET=1."""
        env = dict(os.environ, TRITON_INTERPRET="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k", "triton"]
        # cwd = tests/: `python -m` puts the cwd first on sys.path, and the repo root's workbench/ folder
        # (which has no kernels/ in it) must not shadow the installed package
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=os.path.dirname(os.path.abspath(__file__)))
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-6000:]
        m = re.search(r"(\d+) passed", out)
        assert m and int(m.group(1)) >= 18, out[-3000:]
        assert "skipped" not in out and "failed" not in out, out[-3000:]

    @pytest.mark.parametrize("logits_dtype", ["*bf16", "*fp32"])
    def test_kernels_compile_for_sm90(logits_dtype):
        """The interpreter accepts things the compiler rejects: compile both kernels ahead of time for an
        H100 (sm_90) with Triton's bundled toolchain; no GPU is needed for that."""
        import triton
        from triton.backends.compiler import GPUTarget
        from triton.compiler import ASTSource
        from triton.runtime.jit import JITFunction

        from workbench.kernels import _ngram_triton, _token_stats_triton

        target = GPUTarget("cuda", 90, 32)
        sig = {"z_ptr": logits_dtype, "t_ptr": "*i64", "lp_ptr": "*fp32", "rank_ptr": "*i64", "mean_ptr": "*fp32",
               "var_ptr": "*fp32", "margin_ptr": "*fp32", "V": "i32", "inner": "i32", "stride_outer": "i64", "stride_row": "i64", "ignore_index": "i32",
               "BLOCK_V": "constexpr", "PREFETCH": "constexpr"}
        for prefetch in (True, False):
            src = ASTSource(JITFunction(_token_stats_triton._token_stats_kernel), sig,
                            constexprs={"BLOCK_V": 2048, "PREFETCH": prefetch})
            k = triton.compile(src, target=target, options={"num_warps": 8, "enable_fp_fusion": True})
            assert k.asm["cubin"] and "ex2.approx" in k.asm["ptx"]
        sig = {"ids_ptr": "*i64", "mask_ptr": "*i8", "out_ptr": "*i64", "valid_ptr": "*i8", "W": "i32", "n": "i32",
               "stride_ids": "i32", "stride_mask": "i32", "stride_out": "i32", "HAS_MASK": "constexpr", "BLOCK": "constexpr"}
        src = ASTSource(JITFunction(_ngram_triton._ngram_kernel), sig, constexprs={"HAS_MASK": logits_dtype == "*bf16", "BLOCK": 256})
        assert triton.compile(src, target=target, options={"enable_fp_fusion": True}).asm["cubin"]

    def test_triton_on_cpu_without_interpreter_says_how():
        import triton.language as tl
        from triton.runtime.interpreter import InterpretedFunction

        if isinstance(tl.zeros, InterpretedFunction):  # pragma: no cover - another test set TRITON_INTERPRET
            pytest.fail("triton was imported in interpreter mode in a process without TRITON_INTERPRET=1")
        with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
            token_stats(torch.randn(2, 5), torch.tensor([0, 1]), backend="triton")


# ---------------------------------------------------------------------------------------------
# compiled kernels on a GPU (run by the GPU script; skipped without CUDA)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("V,dtype", [(50_257, torch.bfloat16), (151_936, torch.bfloat16), (32_001, torch.float32)])
def test_gpu_token_stats_matches_reference(V, dtype, gen):
    z = (torch.randn(64, V, generator=gen) * 3).to(dtype).cuda()
    t = torch.randint(0, V, (64,), generator=gen).cuda()
    t[::7] = IGNORE_INDEX
    k = token_stats(z, t, backend="triton")
    r = token_stats(z, t, backend="torch")
    assert_same_stats(k, r, f"[V={V} seed={gen.initial_seed()}]", atol=1e-4, rtol=1e-4)
    sub = token_stats(z[:8], t[:8], backend="triton")
    sub_cpu = type(sub)(*(x.cpu() for x in sub), sub.margin.cpu())
    assert_matches_naive(sub_cpu, z[:8].cpu(), t[:8].cpu(), f"[V={V} seed={gen.initial_seed()}]", atol=5e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
def test_gpu_ngram_matches_reference(gen):
    ids = torch.randint(0, 152_064, (8, 2048), generator=gen)
    mask = torch.rand(8, 2048, generator=gen) > 0.001
    k = ngram_hashes(ids.cuda(), 50, mask.cuda(), backend="triton")
    r = ngram_hashes(ids, 50, mask, backend="torch")
    assert torch.equal(k.hashes.cpu(), r.hashes) and torch.equal(k.valid.cpu(), r.valid)

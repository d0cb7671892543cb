"""Benchmark workbench.kernels: time and peak memory of the fused kernels vs their baselines.

token_stats variants (same inputs, same outputs: log-prob, rank, Min-K%++ mean/var, margin):
  naive    full float32 log_softmax over [N, V] plus the derived [N, V] tensors (the baseline)
  torch    workbench.kernels.token_stats_torch (row chunks of at most --chunk-mb float32)
  triton   the fused Triton kernel (CUDA only; one pass over the logits)
ngram_hashes: torch reference vs Triton kernel (CUDA only).

On CUDA the script also measures the card's device-to-device copy bandwidth and reports each
token_stats variant's achieved read bandwidth (logit bytes / time) as a fraction of it.
On CPU (no CUDA) it compares torch vs naive only (Triton's CPU interpreter is far too slow to time).

Examples:
  python benchmarks/bench_kernels.py                         # CPU: N=512 rows, V = 50257 and 151936
  python benchmarks/bench_kernels.py --device cuda --rows 16384 --dtype bf16 --json out.json
  python benchmarks/bench_kernels.py --device cuda --sweep   # also sweep the kernel's tile size
  TRITON_INTERPRET=1 python benchmarks/bench_kernels.py --interpreter-check 4 --dtype bf16   # CPU correctness
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time

import torch

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


# ------------------------------------------------------------------------------------------------
# the baseline: what a probe would write without the kernels


def naive_token_stats(logits: torch.Tensor, targets: torch.Tensor):
    z = logits.float()
    logp = torch.log_softmax(z, dim=-1)  # [N, V] float32
    p = logp.exp()
    mu = (p * logp).sum(-1)
    var = (p * logp * logp).sum(-1) - mu * mu
    t = targets.clamp(min=0)
    lp = logp.gather(-1, t[:, None]).squeeze(-1)
    zt = z.gather(-1, t[:, None])
    rank = (z > zt).sum(-1) + 1
    other = z.scatter(-1, t[:, None], -math.inf)
    margin = zt.squeeze(-1) - other.max(-1).values
    return lp, rank, mu, var, margin


def make_inputs(n: int, v: int, dtype: torch.dtype, device: str, seed: int = 0):
    g = torch.Generator(device=device).manual_seed(seed)
    logits = (torch.randn(n, v, generator=g, device=device, dtype=torch.float32) * 3).to(dtype)
    targets = torch.randint(0, v, (n,), generator=g, device=device)
    return logits, targets


def variant_fn(name: str, chunk_mb: int, block_v: int | None = None, num_warps: int | None = None, prefetch: bool = True):
    from workbench.kernels import token_stats, token_stats_torch

    if name == "naive":
        return naive_token_stats
    if name == "torch":
        return lambda z, t: token_stats_torch(z, t, chunk_bytes=chunk_mb * 2**20)
    if name == "triton":
        if num_warps is None:
            return lambda z, t: token_stats(z, t, backend="triton", block_v=block_v)
        from workbench.kernels._token_stats_triton import launch

        return lambda z, t: launch(z, t, -100, block_v, num_warps, prefetch)
    raise KeyError(name)


# ------------------------------------------------------------------------------------------------
# CPU: each variant in a fresh process so that peak RSS is its own


def _proc_status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return -1


def _reset_peak_rss() -> int:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS and return that RSS in bytes."""
    with open("/proc/self/clear_refs", "w") as f:  # "5" resets the peak resident set size (Linux >= 4.0)
        f.write("5")
    return _proc_status_bytes("VmRSS")


def _cpu_worker(q, name, n, v, dtype_name, chunk_mb, reps, threads):
    torch.set_num_threads(threads)
    logits, targets = make_inputs(n, v, DTYPES[dtype_name], "cpu")
    fn = variant_fn(name, chunk_mb)
    fn(logits[:2], targets[:2])  # warm up code paths on a tiny slice
    times = []
    peaks = []
    out = None
    for _ in range(reps):
        out = None
        rss0 = _reset_peak_rss()
        t0 = time.perf_counter()
        out = fn(logits, targets)
        times.append(time.perf_counter() - t0)
        peaks.append(_proc_status_bytes("VmHWM") - rss0)
    peak = max(peaks)
    q.put({"times": times, "peak_extra_bytes": peak, "lp": out[0][:64].tolist(), "var": out[3][:64].tolist()})


def bench_cpu(args) -> list[dict]:
    ctx = mp.get_context("spawn")
    rows = []
    for v in args.vocab:
        ref = None
        for name in ("naive", "torch"):
            q = ctx.Queue()
            p = ctx.Process(target=_cpu_worker, args=(q, name, args.rows, v, args.dtype, args.chunk_mb, args.reps, args.threads))
            p.start()
            res = q.get()
            p.join()
            med = statistics.median(res["times"])
            row = {
                "op": "token_stats", "variant": name, "device": "cpu", "rows": args.rows, "vocab": v,
                "dtype": args.dtype, "median_s": med, "min_s": min(res["times"]),
                "peak_extra_MiB": res["peak_extra_bytes"] / 2**20,
                "tokens_per_s": args.rows / med,
            }
            if ref is None:
                ref = res
            else:
                row["max_abs_diff_vs_naive_logprob"] = max(abs(a - b) for a, b in zip(res["lp"], ref["lp"]))
                row["max_abs_diff_vs_naive_var"] = max(abs(a - b) for a, b in zip(res["var"], ref["var"]))
            rows.append(row)
    # n-gram hashes (torch reference; the Triton kernel needs CUDA to be worth timing)
    from workbench.kernels import ngram_hashes

    torch.set_num_threads(args.threads)
    ids = torch.randint(0, 152_064, (args.ngram_batch, args.ngram_len))
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[:, -17:] = False
    times = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        ngram_hashes(ids, 50, mask, backend="torch")
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    rows.append({"op": "ngram_hashes", "variant": "torch", "device": "cpu", "rows": args.ngram_batch,
                 "seq_len": args.ngram_len, "n": 50, "median_s": med, "tokens_per_s": ids.numel() / med})
    return rows


# ------------------------------------------------------------------------------------------------
# CUDA


def cuda_time(fn, reps: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        out.append(a.elapsed_time(b) / 1e3)
    return out


def copy_bandwidth(nbytes: int = 2 * 2**30, reps: int = 10) -> float:
    """Device-to-device copy bandwidth in bytes/s (read + write counted)."""
    src = torch.empty(nbytes // 4, dtype=torch.float32, device="cuda").uniform_()
    dst = torch.empty_like(src)
    t = statistics.median(cuda_time(lambda: dst.copy_(src), reps))
    del src, dst
    torch.cuda.empty_cache()
    return 2 * nbytes / t


def bench_cuda(args) -> tuple[list[dict], dict]:
    from workbench.kernels import ngram_hashes

    dev = torch.cuda.get_device_name()
    bw = copy_bandwidth()
    info = {"gpu": dev, "copy_bandwidth_GBps": bw / 1e9}
    rows = []
    configs = [("triton", None, None, True), ("torch", None, None, True), ("naive", None, None, True)]
    if args.sweep:
        configs += [("triton", bv, nw, pf) for bv, nw in [(1024, 4), (2048, 4), (2048, 8), (4096, 8), (4096, 16), (8192, 16)]
                    for pf in (True, False)]
    for v in args.vocab:
        logits, targets = make_inputs(args.rows, v, DTYPES[args.dtype], "cuda")
        logit_bytes = logits.numel() * logits.element_size()
        ref = variant_fn("torch", args.chunk_mb)(logits, targets)
        for name, bv, nw, pf in configs:
            fn = variant_fn(name, args.chunk_mb, bv, nw, pf)
            torch.cuda.empty_cache()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            try:
                times = cuda_time(lambda: fn(logits, targets), args.reps)
                out = fn(logits, targets)
            except torch.OutOfMemoryError:
                rows.append({"op": "token_stats", "variant": name, "vocab": v, "rows": args.rows, "dtype": args.dtype, "result": "OOM"})
                continue
            peak = torch.cuda.max_memory_allocated() - base
            med = statistics.median(times)
            row = {
                "op": "token_stats", "variant": name if bv is None else f"triton[block_v={bv},warps={nw},prefetch={int(pf)}]",
                "device": dev, "rows": args.rows, "vocab": v, "dtype": args.dtype, "median_s": med,
                "peak_extra_MiB": peak / 2**20, "tokens_per_s": args.rows / med,
                "read_GBps": logit_bytes / med / 1e9, "fraction_of_copy_bw": logit_bytes / med / bw,
                "max_abs_diff_vs_torch_logprob": (out[0] - ref[0]).abs().max().item(),
                "max_abs_diff_vs_torch_var": (out[3] - ref[3]).abs().max().item(),
                "rank_equal_vs_torch": bool(torch.equal(out[1], ref[1])),
            }
            rows.append(row)
            del out
        del logits, targets, ref
        torch.cuda.empty_cache()
    # n-gram hashes: B x L tokens, n = 50
    ids = torch.randint(0, 152_064, (args.ngram_batch, args.ngram_len), device="cuda")
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[:, -17:] = False
    r = ngram_hashes(ids, 50, mask, backend="torch")
    for name in ("triton", "torch"):
        times = cuda_time(lambda: ngram_hashes(ids, 50, mask, backend=name), args.reps)
        k = ngram_hashes(ids, 50, mask, backend=name)
        med = statistics.median(times)
        rows.append({
            "op": "ngram_hashes", "variant": name, "device": dev, "rows": args.ngram_batch, "seq_len": args.ngram_len,
            "n": 50, "median_s": med, "tokens_per_s": ids.numel() / med,
            "identical_to_torch": bool(torch.equal(k.hashes, r.hashes) and torch.equal(k.valid, r.valid)),
        })
    return rows, info


def interpreter_check(args) -> list[dict]:
    """CPU: run the Triton kernel in Triton's interpreter on a few rows of the full vocabulary and
    report its largest errors against a float64 log_softmax, next to the torch reference's."""
    from workbench.kernels import token_stats

    rows = []
    for v in args.vocab:
        logits, targets = make_inputs(args.interpreter_check, v, DTYPES[args.dtype], "cpu")
        targets[0] = -100
        t0 = time.perf_counter()
        k = token_stats(logits, targets, backend="triton")
        dt = time.perf_counter() - t0
        r = token_stats(logits, targets, backend="torch")
        lp = torch.log_softmax(logits.double(), -1)
        p = lp.exp()
        mu = (p * lp).sum(-1)
        var = (p * (lp - mu[:, None]) ** 2).sum(-1)
        tl_ = lp.gather(-1, targets.clamp(min=0)[:, None]).squeeze(-1)
        ok = targets != -100
        row = {"op": "token_stats", "variant": "triton-interpreter", "device": "cpu", "rows": len(targets), "vocab": v,
               "dtype": args.dtype, "median_s": dt, "rank_equal_vs_torch": bool(torch.equal(k.rank, r.rank)),
               "margin_equal_vs_torch": bool(torch.equal(k.margin[ok], r.margin[ok])),
               "padding_row_ok": bool(k.rank[0] == 0 and k.logprob[0].isnan())}
        for name, got in (("triton", k), ("torch", r)):
            row[f"max_abs_err_{name}_vs_fp64_logprob"] = (got.logprob[ok].double() - tl_[ok]).abs().max().item()
            row[f"max_abs_err_{name}_vs_fp64_mean"] = (got.mean[ok].double() - mu[ok]).abs().max().item()
            row[f"max_abs_err_{name}_vs_fp64_var"] = (got.var[ok].double() - var[ok]).abs().max().item()
        rows.append(row)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--vocab", type=int, nargs="+", default=[50_257, 151_936])
    ap.add_argument("--rows", type=int, default=None, help="token positions (default: 512 on CPU, 16384 = 8 x 2048 on CUDA)")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default=None, help="logits dtype (default fp32 on CPU, bf16 on CUDA)")
    ap.add_argument("--chunk-mb", type=int, default=256, help="working set of the torch reference per row chunk")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (the dev machine is shared)")
    ap.add_argument("--sweep", action="store_true", help="CUDA: also time other tile sizes / warp counts")
    ap.add_argument("--ngram-batch", type=int, default=8)
    ap.add_argument("--ngram-len", type=int, default=2048)
    ap.add_argument("--interpreter-check", type=int, default=0, metavar="ROWS",
                    help="CPU, with TRITON_INTERPRET=1: check the Triton kernel on ROWS rows of each vocabulary")
    ap.add_argument("--json", help="write the results here as JSON")
    args = ap.parse_args(argv)
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but torch sees no CUDA device", file=sys.stderr)
        return 2
    args.rows = args.rows or (16_384 if use_cuda else 512)
    args.dtype = args.dtype or ("bf16" if use_cuda else "fp32")
    args.reps = args.reps or (10 if use_cuda else 3)
    info = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "python": platform.python_version(),
        "torch": torch.__version__, "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
    }
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError:
        info["triton"] = None
    if args.interpreter_check:
        if os.environ.get("TRITON_INTERPRET") != "1":
            print("error: --interpreter-check needs TRITON_INTERPRET=1 in the environment", file=sys.stderr)
            return 2
        rows = interpreter_check(args)
    elif use_cuda:
        rows, extra = bench_cuda(args)
        info.update(extra)
    else:
        rows = bench_cpu(args)
    print(json.dumps(info))
    keys = ["op", "variant", "vocab", "rows", "dtype", "median_s", "peak_extra_MiB", "tokens_per_s", "fraction_of_copy_bw"]
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        cells = []
        for k in keys:
            x = r.get(k, "")
            cells.append(f"{x:.4g}" if isinstance(x, float) else str(x))
        print("| " + " | ".join(cells) + " |")
    for r in rows:
        extra = {k: v for k, v in r.items() if k.startswith(("max_abs", "rank_equal", "margin_equal", "padding", "identical", "result"))}
        if extra:
            print(r["op"], r["variant"], r.get("vocab", ""), extra)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

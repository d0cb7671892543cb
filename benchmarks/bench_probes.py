"""Probe pipeline vs the simplest Hugging Face baseline, on the same samples, in one run.

- extraction: the one-pass teacher-forced verdict (batched HF engine, `workbench.kernels.token_stats`)
  vs per-sample `model.generate` (batch 1, greedy) from each prefix, compared with the suffix.
  The verdicts must be identical; the speed-up is the ratio of the two wall times.
- scores: the batched engine (loss, zlib, lowercase, Min-K%, Min-K%++) vs a batch-1 forward per
  sample (plus its lowercase pass) with a plain torch log-softmax.

Default model: the synthetic memorizing GPT-2 of workbench.probes.synthetic, built in --workdir
(size set by --n-layer/--n-embd); or any local causal LM with --model and --samples (JSONL).
No Ray, no vLLM needed (add --engine vllm to time the vLLM pipeline where it is installed).

    python benchmarks/bench_probes.py                         # CPU, tiny model
    python benchmarks/bench_probes.py --n-layer 12 --n-embd 768 --repeat 20 --device cuda
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def baseline_extraction(model, seqs, offset, k, m, device):
    import torch

    import copy

    gc = copy.deepcopy(model.generation_config)
    gc.do_sample, gc.eos_token_id, gc.temperature, gc.top_p, gc.top_k = False, None, None, None, None
    gc.max_new_tokens, gc.min_new_tokens, gc.num_beams = m, None, 1
    verdicts, matched = [], []
    for s in seqs:
        prefix = torch.tensor([s[: offset + k]], device=device)
        with torch.inference_mode():
            out = model.generate(input_ids=prefix, attention_mask=torch.ones_like(prefix), generation_config=gc)
        gen = out[0, prefix.shape[1]:].tolist()
        target = s[offset + k : offset + k + m]
        n = 0
        for g, t in zip(gen, target):
            if g != t:
                break
            n += 1
        verdicts.append(n == m)
        matched.append(n)
    return verdicts, matched


def baseline_scores(model, seqs_text, seqs_lower, frac, device):
    import torch

    out = []
    for s, sl in zip(seqs_text, seqs_lower):
        res = []
        for seq in (s, sl):
            ids = torch.tensor([seq], device=device)
            with torch.inference_mode():
                logits = model(input_ids=ids).logits[0, :-1].float()
            logp = torch.log_softmax(logits, -1)
            lp = logp.gather(-1, ids[0, 1:, None])[:, 0]
            p = logp.exp()
            mu = (p * logp).sum(-1)
            sd = ((p * logp * logp).sum(-1) - mu * mu).clamp(min=1e-12).sqrt()
            kk = max(1, math.ceil(frac * lp.numel()))
            res.append((float(-lp.mean()), float(lp.sort().values[:kk].mean()),
                        float(((lp - mu) / sd).sort().values[:kk].mean())))
        out.append({"loss": res[0][0], "min_k": res[0][1], "min_k_pp": res[0][2], "lower_loss": res[1][0]})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="local causal LM (default: build the synthetic one)")
    ap.add_argument("--samples", help="JSONL samples (default: the synthetic fixture's)")
    ap.add_argument("--workdir", help="where to build the synthetic fixture (default: a temp dir)")
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=None, help="training learning rate (default 3e-3; ~3e-4 for 12x768)")
    ap.add_argument("--repeat", type=int, default=1, help="use every sample this many times")
    ap.add_argument("--limit", type=int, default=0, help="at most this many samples (0: all)")
    ap.add_argument("--prefix-len", type=int, default=8)
    ap.add_argument("--suffix-len", type=int, default=8)
    ap.add_argument("--device", default=None)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--engine", default="hf", choices=["hf", "vllm"])
    ap.add_argument("--threads", type=int, default=0, help="torch threads on CPU (0: leave as is)")
    ap.add_argument("--json", help="also write the numbers to this JSON file")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from workbench.probes import ProbeRunner, ProbeSettings, make_engine, read_samples
    from workbench.probes.synthetic import build_fixture

    t_build = None
    if args.model:
        model_path, samples_path = args.model, args.samples
        if not samples_path:
            ap.error("--samples is required with --model")
    else:
        work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-probes-"))
        t0 = time.perf_counter()
        train_dev = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        fx = build_fixture(work, epochs=args.epochs, n_layer=args.n_layer, n_embd=args.n_embd, max_seconds=None,
                           device=train_dev, lr=args.lr)
        t_build = time.perf_counter() - t0
        model_path, samples_path = str(fx.trained), str(fx.samples)

    samples = read_samples(samples_path) * args.repeat
    if args.limit:
        samples = samples[: args.limit]
    k, m = args.prefix_len, args.suffix_len
    opts = {"dtype": args.dtype}
    if args.engine == "hf":
        opts["device"] = args.device
    engine = make_engine(args.engine, model_path, **opts)
    hf = engine if args.engine == "hf" else make_engine("hf", model_path, dtype=args.dtype, device=args.device)
    device = hf.device
    texts = [s.text for s in samples]
    seqs = hf.encode(texts)
    long_idx = [i for i, s in enumerate(seqs) if len(s) - hf.offset >= k + m]
    ext_samples = [samples[i] for i in long_idx]

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    # warm-up both paths on a few samples
    ProbeRunner(engine, ProbeSettings(probes=["scores", "extraction"], prefix_len=k, suffix_len=m)).rows(samples[:8])
    baseline_extraction(hf.model, [seqs[i] for i in long_idx[:2]], hf.offset, k, m, device)
    sync()

    # --- extraction: one pass vs per-sample generate
    runner_x = ProbeRunner(engine, ProbeSettings(probes=["extraction"], prefix_len=k, suffix_len=m))
    t0 = time.perf_counter()
    rows_x = runner_x.rows(ext_samples)
    sync()
    t_pipe_x = time.perf_counter() - t0
    t0 = time.perf_counter()
    verdicts, matched = baseline_extraction(hf.model, [seqs[i] for i in long_idx], hf.offset, k, m, device)
    sync()
    t_base_x = time.perf_counter() - t0
    same = sum(r["extractable"] == v and r["matched_suffix_tokens"] == n for r, v, n in zip(rows_x, verdicts, matched))

    # --- scores: batched engine vs batch-1 forward
    runner_s = ProbeRunner(engine, ProbeSettings(probes=["scores"]))
    t0 = time.perf_counter()
    rows_s = runner_s.rows(samples)
    sync()
    t_pipe_s = time.perf_counter() - t0
    lower = hf.encode([t.lower() for t in texts])
    t0 = time.perf_counter()
    base_s = baseline_scores(hf.model, seqs, lower, 0.2, device)
    sync()
    t_base_s = time.perf_counter() - t0
    max_diff = max(max(abs(r["loss"] - b["loss"]), abs(r["min_k"] - b["min_k"]),
                       abs((r["min_k_pp"] or 0) - (b["min_k_pp"] if r["min_k_pp"] is not None else 0)))
                   for r, b in zip(rows_s, base_s))

    n_tok = sum(len(s) for s in seqs)
    res = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "machine": f"{platform.node()} ({os.cpu_count()} CPUs, {platform.machine()})",
        "device": str(device) + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else ""),
        "engine": args.engine, "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "model": model_path, "n_params": sum(p.numel() for p in hf.model.parameters()),
        "n_samples": len(samples), "n_tokens": n_tok, "prefix_len": k, "suffix_len": m,
        "fixture_build_s": t_build,
        "extraction": {"n": len(ext_samples), "extractable": sum(verdicts), "pipeline_s": t_pipe_x,
                       "generate_baseline_s": t_base_x, "speedup": t_base_x / t_pipe_x,
                       "identical_verdicts": f"{same}/{len(ext_samples)}"},
        "scores": {"n": len(samples), "pipeline_s": t_pipe_s, "batch1_baseline_s": t_base_s,
                   "speedup": t_base_s / t_pipe_s, "max_abs_diff": max_diff},
    }
    print(json.dumps(res, indent=1))
    print(f"extraction: one-pass {t_pipe_x:.2f}s vs per-sample generate {t_base_x:.2f}s -> "
          f"{t_base_x / t_pipe_x:.1f}x, identical verdicts {same}/{len(ext_samples)}")
    print(f"scores: batched {t_pipe_s:.2f}s vs batch-1 forward {t_base_s:.2f}s -> {t_base_s / t_pipe_s:.1f}x "
          f"(max |diff| {max_diff:.2e})")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0 if same == len(ext_samples) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark the `ner` detector against `transformers.pipeline("token-classification")`.

Both run the SAME model on the SAME texts in one process, one after the other (after a warm-up),
and both return entities with character offsets (pipeline: aggregation_strategy="first", the
detector's default aggregation). Reported: tokens/s (non-special tokens of the texts as the
model's tokenizer counts them), MB/s (UTF-8 bytes of the texts), GB of text per hour, the ratio
detector / pipeline, and how far the two agree on the entities found.

The model is built locally (nothing is downloaded): a randomly initialised BERT-shaped token
classifier (`--shape`: base = 12 layers x 768, ~86M parameters without embeddings; small, mini,
tiny) with a WordPiece tokenizer trained on the texts, and its O label biased so that most
tokens are O, as with a real model. `--model DIR` benchmarks an existing local model instead.

Texts: the presidio-research PII benchmark texts (../shared/benchmarks/pii/*.json, about 84
characters each) when present, else synthetic sentences; `--concat K` joins K texts into one
document (longer texts: more windows), `--repeat R` repeats the corpus.

Examples:
  python benchmarks/bench_ner.py                                   # CPU, mini model, 2 threads
  python benchmarks/bench_ner.py --shape base --limit 400          # CPU, BERT-base shape (slow)
  python benchmarks/bench_ner.py --device cuda --shape base --repeat 40 --concat 8 \\
      --pipeline-batch-sizes 1,64 --json ner-gpu.json              # one GPU
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = [REPO.parent / "shared" / "benchmarks" / "pii", REPO / "shared" / "benchmarks" / "pii"]


def load_texts(args) -> tuple[list[str], str]:
    texts: list[str] = []
    src = "synthetic (workbench.detectors.tiny.ner_examples)"
    for d in DATA:
        files = sorted(d.glob("*.json")) if d.is_dir() else []
        if files:
            for f in files:
                texts += [r["full_text"] for r in json.loads(f.read_text())]
            src = ", ".join(str(f) for f in files)
            break
    if not texts:
        from workbench.detectors.tiny import ner_examples

        texts = [t for t, _ in ner_examples(3600, seed=1, split="train")]
    if args.concat > 1:
        texts = ["\n".join(texts[i:i + args.concat]) for i in range(0, len(texts), args.concat)]
    texts = texts * args.repeat
    if args.limit:
        texts = texts[: args.limit]
    return texts, src


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_detector(det, texts, batch_records: int) -> tuple[float, float, list]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = []
    for res in det.stream(texts[i:i + batch_records] for i in range(0, len(texts), batch_records)):
        out.extend(res)
    sync(str(det.device))
    return time.perf_counter() - t0, time.process_time() - c0, out


def run_pipeline(pipe, texts, batch_size: int, device: str) -> tuple[float, float, list]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = list(pipe(texts, batch_size=batch_size))
    sync(device)
    return time.perf_counter() - t0, time.process_time() - c0, out


def agreement(texts, det_out, pipe_out, label_of) -> float:
    """Jaccard overlap of the (start, end, type) sets of detector and pipeline over all texts."""
    a, b = set(), set()
    for i, (d, p) in enumerate(zip(det_out, pipe_out)):
        a |= {(i, s.start, s.end, s.entity_type) for s in d}
        for e in p:
            s, t = int(e["start"]), int(e["end"])
            while s < t and texts[i][s].isspace():
                s += 1
            while t > s and texts[i][t - 1].isspace():
                t -= 1
            et = label_of(e["entity_group"])
            if et is not None:
                b.add((i, s, t, et))
    return len(a & b) / max(1, len(a | b))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda")
    ap.add_argument("--shape", default=None, help="base, small, mini, tiny (default: base on CUDA, mini on CPU)")
    ap.add_argument("--model", default=None, help="benchmark this local token-classification model instead")
    ap.add_argument("--dtype", default="auto", help="auto (bf16 on CUDA, fp32 on CPU), float32, bfloat16, float16")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 on a shared machine: more threads wait on each other)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N texts (after concat/repeat)")
    ap.add_argument("--concat", type=int, default=1, help="join K texts into one document")
    ap.add_argument("--repeat", type=int, default=1, help="repeat the corpus R times")
    ap.add_argument("--max-tokens", type=int, default=None, help="detector token budget per batch")
    ap.add_argument("--batch-records", type=int, default=None,
                    help="texts per detector call, like execution.batch_records in a scan (default 4096 on CUDA, 512 on CPU)")
    ap.add_argument("--pipeline-batch-sizes", default="1", help="comma list; 1 is the pipeline's default")
    ap.add_argument("--pipeline-limit", type=int, default=0,
                    help="time the pipeline on the first N texts only (rates are per token either way)")
    ap.add_argument("--skip-pipeline", action="store_true")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = ap.parse_args()

    import torch
    import transformers

    torch.set_num_threads(args.threads)
    from workbench.detectors.batching import dtype_kwarg
    from workbench.detectors.ner import NerConfig, NerDetector
    from workbench.detectors.tiny import SHAPES, random_token_classifier

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    shape = args.shape or ("base" if device.startswith("cuda") else "mini")
    if args.batch_records is None:
        args.batch_records = 4096 if device.startswith("cuda") else 512
    texts, src = load_texts(args)
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    tmp = tempfile.TemporaryDirectory()
    if args.model:
        model_dir, model_desc = args.model, f"local model {args.model}"
    else:
        t0 = time.perf_counter()
        model_dir = str(random_token_classifier(Path(tmp.name) / "model", texts[:5000], shape=shape))
        h, layers, heads, inter = SHAPES[shape]
        model_desc = f"random BERT-{shape} ({layers} layers, hidden {h}, {heads} heads, ffn {inter}), built in {time.perf_counter() - t0:.1f}s"

    det = NerDetector(NerConfig(model=model_dir, device=device, dtype=args.dtype, threshold=0.0,
                                max_tokens=args.max_tokens))
    n_params = sum(p.numel() for p in det.model.parameters())
    n_emb = sum(p.numel() for n, p in det.model.named_parameters() if "embeddings" in n)
    n_tokens = sum(len(e) for e in det.adapter.encode(texts))
    print(f"texts: {len(texts)} from {src} (concat {args.concat}, repeat {args.repeat}); "
          f"{n_bytes / 1e6:.2f} MB, {n_tokens} tokens", flush=True)
    print(f"model: {model_desc}; {n_params / 1e6:.1f}M parameters ({(n_params - n_emb) / 1e6:.1f}M without embeddings); "
          f"device {device}, dtype {det.model.dtype}; torch {torch.__version__}, transformers {transformers.__version__}",
          flush=True)

    warm = texts[: min(len(texts), 256)]
    det(warm)
    tok_counts = [len(e) for e in det.adapter.encode(texts)]
    dt_det, cpu_det, det_out = run_detector(det, texts, args.batch_records)
    rows = [{"what": f"ner detector (token budget {det.runner.max_tokens}, stream of {args.batch_records}-text batches)",
             "seconds": dt_det, "cpu_seconds": cpu_det, "texts": len(texts), "tokens": n_tokens, "bytes": n_bytes}]
    results = {"machine": platform.node(), "cpu": platform.processor() or platform.machine(), "device": device,
               "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None,
               "threads": args.threads, "texts": len(texts), "mb": n_bytes / 1e6, "tokens": n_tokens,
               "model": model_desc, "params": n_params, "dtype": str(det.model.dtype), "rows": rows,
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "argv": sys.argv[1:]}

    if not args.skip_pipeline:
        dev_arg = 0 if device.startswith("cuda") else -1
        pipe = transformers.pipeline("token-classification", model=model_dir, tokenizer=model_dir, device=dev_arg,
                                     aggregation_strategy="first", **{dtype_kwarg(): det.model.dtype})
        list(pipe(warm[:32], batch_size=8))
        sub = texts[: args.pipeline_limit] if args.pipeline_limit else texts
        for bs in [int(x) for x in args.pipeline_batch_sizes.split(",") if x]:
            dt, cpu, pipe_out = run_pipeline(pipe, sub, bs, device)
            agree = agreement(sub, det_out[: len(sub)], pipe_out, det.entity_type)
            rows.append({"what": f"transformers.pipeline token-classification, batch_size={bs}"
                                 + (f" ({len(sub)} texts)" if len(sub) < len(texts) else ""),
                         "seconds": dt, "cpu_seconds": cpu, "texts": len(sub), "tokens": sum(tok_counts[: len(sub)]),
                         "bytes": sum(len(t.encode("utf-8")) for t in sub), "agreement_with_detector": agree})

    print("\n| what | texts | wall s | CPU s | tokens/s (wall) | MB/s (wall) | GB/hour (wall) | detector speed-up, wall | "
          "detector speed-up, CPU time | entity agreement |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    det_rate, det_cpu_rate = n_tokens / dt_det, n_tokens / max(cpu_det, 1e-9)
    for r in rows:
        r["tokens_per_s"] = r["tokens"] / r["seconds"]
        r["tokens_per_cpu_s"] = r["tokens"] / max(r["cpu_seconds"], 1e-9)
        r["mb_per_s"] = r["bytes"] / 1e6 / r["seconds"]
        r["gb_per_hour"] = r["mb_per_s"] * 3.6
        r["speedup_of_detector"] = det_rate / r["tokens_per_s"]
        r["speedup_of_detector_cpu_time"] = det_cpu_rate / r["tokens_per_cpu_s"]
        ag = r.get("agreement_with_detector")
        print(f"| {r['what']} | {r['texts']} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | {r['tokens_per_s']:,.0f} | "
              f"{r['mb_per_s']:.3f} | {r['gb_per_hour']:.3f} | {r['speedup_of_detector']:.2f}x | "
              f"{r['speedup_of_detector_cpu_time']:.2f}x | {'' if ag is None else f'{ag:.3f}'} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    tmp.cleanup()


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    main()

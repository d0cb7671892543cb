"""Pattern stage: stock Presidio vs the workbench fast engine, KB of text per CPU-second.

One command:

    python benchmarks/bench_patterns.py                 # 50 MB corpus, Presidio on a 400 KB sample
    python benchmarks/bench_patterns.py --mb 5 --no-ray # quick look
    python benchmarks/bench_patterns.py --stages 2000   # where the fast engine's time goes (2 MB sample)

What it does, in one run:
1. builds (or reads, cached under .bench/) a mixed corpus of at least --mb MB (prose with planted
   PII of every entity type, logs, JSON, code, numeric tables: benchmarks/pii_corpus.py);
2. runs stock Presidio (`patterns` detector with `engine: presidio`: pattern recognizers only,
   offline, threshold 0.4) on an evenly spread sample of the records, and the fast engine on
   the same sample (findings compared: differences are counted and printed);
3. runs the fast engine on the WHOLE corpus in a fresh process that streams it in the batches
   `workbench scan` makes by default (execution.batch_records, at most 2048 records, and
   execution.batch_mb, ending at 4 million characters; so its peak RSS is the scan's own),
   timing it with time.process_time, in --steps consecutive parts; before each part stock
   Presidio scans the next slice of the sample, and the ratio uses these interleaved times (a
   shared VM's speed drifts by 10-30% within minutes: both engines are timed under the same
   drift);
4. with Ray (unless --no-ray): the whole corpus in 1 Ray task, then in 2 Ray tasks over halves,
   wall-clock and the tasks' CPU time.

Throughput is KB (1000 characters) per CPU-second of the process that scanned.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

def _pipeline_batch() -> tuple[int, int]:
    """The batches `workbench scan` hands the detectors by default (execution.batch_records and
    execution.batch_mb): at most this many records, ending once they hold this many characters."""
    from workbench.config import Execution

    ex = Execution()
    return ex.batch_records, int(ex.batch_mb * 1_000_000)


BATCH, BATCH_CHARS = _pipeline_batch()


def corpus_path(mb: int, seed: int) -> Path:
    return ROOT / ".bench" / f"patterns_corpus_{mb}mb_seed{seed}.jsonl"


def build_corpus(mb: int, seed: int) -> Path:
    import pii_corpus

    path = corpus_path(mb, seed)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        for rec in pii_corpus.generate(mb * 1_000_000, seed=seed):
            f.write(json.dumps(rec) + "\n")
    tmp.rename(path)
    return path


def read_records(path: Path, start: int = 0, stop: int | None = None):
    with open(path) as f:
        for i, line in enumerate(f):
            if i < start:
                continue
            if stop is not None and i >= stop:
                return
            yield json.loads(line)


def batches(it, n=BATCH, chars=BATCH_CHARS):
    """Lists of texts as the scan pipeline batches records (`workbench.corpus.records.read_batches`)."""
    buf, size = [], 0
    for x in it:
        buf.append(x)
        size += len(x)
        if len(buf) == n or size >= chars:
            yield buf
            buf, size = [], 0
    if buf:
        yield buf


def make_detector(engine: str):
    from workbench.detectors.registry import build_detectors

    return build_detectors({"patterns": {"engine": engine, "threshold": 0.4, "entities": "all"}})[0]


def scan_records(det, path: str, start: int, stop: int | None) -> dict:
    """`det` over records [start, stop) of the corpus, streamed in the pipeline's batches; CPU
    time, wall time and counts."""
    chars = findings = records = 0
    c0, w0 = time.process_time(), time.perf_counter()
    for batch in batches(read_records(Path(path), start, stop)):
        out = det(batch)
        records += len(batch)
        chars += sum(len(t) for t in batch)
        findings += sum(len(x) for x in out)
    return {
        "records": records,
        "chars": chars,
        "findings": findings,
        "cpu_s": time.process_time() - c0,
        "wall_s": time.perf_counter() - w0,
    }


def scan_range(path: str, start: int, stop: int | None) -> dict:
    """Fast engine over records [start, stop) of the corpus, streamed; CPU time and counts."""
    t0 = time.process_time()
    det = make_detector("fast")
    build_cpu = time.process_time() - t0
    row = scan_records(det, path, start, stop)
    row["build_cpu_s"] = build_cpu
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def scan_steps(path: str, steps: int) -> None:
    """Fast engine over the corpus in `steps` consecutive parts, one part per line read from
    stdin (the parent runs stock Presidio between parts, so that both engines are timed under
    the same drift of the machine's speed); after each part a JSON line with its counts and CPU
    time, after the last one also the build time and peak RSS."""
    n_records = sum(1 for _ in open(path))
    t0 = time.process_time()
    det = make_detector("fast")
    build_cpu = time.process_time() - t0
    print("ready", flush=True)  # (the parent times Presidio only once this process is idle)
    for k in range(steps):
        sys.stdin.readline()
        row = scan_records(det, path, n_records * k // steps, n_records * (k + 1) // steps)
        if k == steps - 1:
            row["build_cpu_s"] = build_cpu
            row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(row), flush=True)


def interleaved(path: Path, stock, texts: list[str], steps: int) -> tuple[dict, float]:
    """The fast engine on the whole corpus in a fresh process, in `steps` parts, and stock
    Presidio on the sample in as many slices, alternating: (the fast engine's totals, Presidio's
    CPU time for the whole sample)."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--scan-steps", str(path), str(steps)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    total = {"chars": 0, "findings": 0, "cpu_s": 0.0}
    cpu_stock = 0.0
    try:
        line = child.stdout.readline()
        while line and line.strip() != "ready":
            line = child.stdout.readline()
        for k in range(steps):
            _, c = timed(stock, texts[len(texts) * k // steps : len(texts) * (k + 1) // steps])
            cpu_stock += c
            child.stdin.write("go\n")
            child.stdin.flush()
            line = child.stdout.readline()
            while line and not line.startswith("{"):  # (anything a library printed)
                line = child.stdout.readline()
            if not line:
                raise RuntimeError("the fast engine's scan process ended early (its error is above)")
            row = json.loads(line)
            for key in ("chars", "findings", "cpu_s"):
                total[key] += row[key]
            total.update({key: row[key] for key in ("build_cpu_s", "peak_rss_mb") if key in row})
    finally:
        try:
            child.stdin.close()
        except OSError:
            pass
        rc = child.wait()
    if rc != 0:
        raise RuntimeError(f"the fast engine's scan process failed (exit {rc})")
    return total, cpu_stock


def sample(path: Path, kb: int) -> list[str]:
    step = max(1, int(path.stat().st_size / (kb * 1000)))
    return [r for i, r in enumerate(read_records(path)) if i % step == 0]


def compare(a, b) -> list[tuple]:
    diffs = []
    for i, (x, y) in enumerate(zip(a, b)):
        kx = {(s.entity_type, s.start, s.end): s.score for s in x}
        ky = {(s.entity_type, s.start, s.end): s.score for s in y}
        for k in set(kx) | set(ky):
            if k not in kx or k not in ky or abs(kx[k] - ky[k]) > 0.01:
                diffs.append((i, k, kx.get(k), ky.get(k)))
    return diffs


def timed(det, texts) -> tuple[list, float]:
    out = []
    c0 = time.process_time()
    for batch in batches(texts):
        out.extend(det(batch))
    return out, time.process_time() - c0


def stages(path: Path, kb: int) -> None:
    """Where the fast engine's CPU time goes, on an evenly spread sample of about `kb` KB: the
    engine's stage methods wrapped with process-time timers (nested stages are subtracted)."""
    texts = sample(path, kb)
    det = make_detector("fast")
    eng = det.engine
    acc: dict[str, float] = {}

    def wrap(name: str) -> None:
        f = getattr(eng, name)

        def timed_stage(*a, **k):
            c0 = time.process_time()
            try:
                return f(*a, **k)
            finally:
                acc[name] = acc.get(name, 0.0) + time.process_time() - c0

        setattr(eng, name, timed_stage)

    for name in ("_scan_chunk", "_plain_runs", "_direct_phone", "_finish_runs", "_windowed", "_phone_window",
                 "_enhance"):
        wrap(name)
    # warm up on three times as many other records (one-off costs: digit automata for the number
    # lengths seen, spaCy vocabulary), not on these
    step = max(4, int(path.stat().st_size / (kb * 1000)))
    others = (step // 4, step // 2, 3 * step // 4)
    for batch in batches(r for i, r in enumerate(read_records(path)) if i % step in others):
        det(batch)
    counts = {"digit runs": 0, "plain runs": 0, "phone windows": 0}
    plain_runs, phone_window = eng._plain_runs, eng._phone_window

    def counted_plain(*a):
        ok, cstart = plain_runs(*a)
        counts["digit runs"] += len(ok)
        counts["plain runs"] += int(ok.sum())
        return ok, cstart

    def counted_window(*a):
        counts["phone windows"] += 1
        return phone_window(*a)

    eng._plain_runs, eng._phone_window = counted_plain, counted_window
    acc.clear()
    c0 = time.process_time()
    for batch in batches(texts):
        det(batch)
    total = time.process_time() - c0
    k = sum(map(len, texts)) / 1000
    nested = acc.get("_plain_runs", 0) + acc.get("_direct_phone", 0)  # (inside _scan_chunk)
    plain = nested + acc.get("_finish_runs", 0)  # (the batch's digit verdicts, after the chunks)
    rows = {
        "phone numbers, plain digit runs (numpy checks, fastphone plans, batch validity)": plain,
        "phone numbers, other runs (libphonenumber's candidate pattern on windows + verdicts)": acc.get(
            "_phone_window", 0
        ),
        "windows for phone numbers and IBAN (+ IBAN's own analyze)": acc.get("_windowed", 0) - acc.get("_phone_window", 0),
        "context words": acc.get("_enhance", 0),
        "Hyperscan scan, digit runs, regions": acc.get("_scan_chunk", 0) - nested,
    }
    rows["the rest (confirmation regexes, validators, de-duplication, spans)"] = total - sum(rows.values())
    print(f"stages on {k:.0f} KB ({len(texts)} records): {total:.2f} CPU-s, {k / total:.0f} KB/CPU-s")
    for name, v in rows.items():
        print(f"  {v / total:4.0%}  {v:6.2f} s  {name}")
    print("  " + ", ".join(f"{k}: {v:,}" for k, v in counts.items()))


def ray_runs(path: Path, n_records: int) -> list[dict]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1)(scan_range)
        ray.get(task.remote(str(path), 0, 1))  # warm the workers' imports and Hyperscan cache
        rows = []
        for workers in (1, 2):
            bounds = [(n_records * k // workers, n_records * (k + 1) // workers) for k in range(workers)]
            w0 = time.perf_counter()
            res = ray.get([task.remote(str(path), a, b) for a, b in bounds])
            wall = time.perf_counter() - w0
            chars = sum(r["chars"] for r in res)
            rows.append(
                {
                    "workers": workers,
                    "wall_s": wall,
                    "chars": chars,
                    "kb_per_wall_s": chars / 1000 / wall,
                    "cpu_s": sum(r["cpu_s"] for r in res),
                    "kb_per_cpu_s": chars / 1000 / sum(r["cpu_s"] for r in res),
                    "peak_rss_mb": max(r["peak_rss_mb"] for r in res),
                }
            )
        return rows
    finally:
        ray.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=50, help="corpus size in MB of text (default 50)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--presidio-kb", type=int, default=400, help="size of the sample stock Presidio scans")
    ap.add_argument("--no-ray", action="store_true", help="skip the 1- and 2-worker Ray runs")
    ap.add_argument("--stages", type=int, metavar="KB", default=0,
                    help="only print where the fast engine's time goes, on a sample of about KB kilobytes")
    ap.add_argument("--steps", type=int, default=10,
                    help="parts of the full scan, with a slice of stock Presidio's sample between them (default 10)")
    ap.add_argument("--scan-only", nargs=3, metavar=("PATH", "START", "STOP"), help=argparse.SUPPRESS)
    ap.add_argument("--scan-steps", nargs=2, metavar=("PATH", "STEPS"), help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.scan_steps:
        scan_steps(args.scan_steps[0], int(args.scan_steps[1]))
        return

    if args.scan_only:
        p, a, b = args.scan_only
        print(json.dumps(scan_range(p, int(a), None if b == "-" else int(b))))
        return

    if args.stages:
        stages(build_corpus(args.mb, args.seed), args.stages)
        return

    t0 = time.perf_counter()
    path = build_corpus(args.mb, args.seed)
    n_records = sum(1 for _ in open(path))
    print(f"corpus: {path} ({path.stat().st_size / 1e6:.1f} MB JSONL, {n_records} records, ready in {time.perf_counter() - t0:.1f}s)")
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")

    texts = sample(path, args.presidio_kb)
    kb = sum(map(len, texts)) / 1000
    stock = make_detector("presidio")
    fast = make_detector("fast")
    a, cpu_stock = timed(stock, texts)
    b, cpu_fast_sample = timed(fast, texts)
    diffs = compare(a, b)
    print(f"sample: {len(texts)} records, {kb:.0f} KB, findings presidio={sum(map(len, a))} fast={sum(map(len, b))}, differences={len(diffs)}")
    for d in diffs[:10]:
        print("  diff", d)
    print(f"presidio (sample):  {kb / cpu_stock:10.1f} KB/CPU-s  ({cpu_stock:.1f} CPU-s)")
    print(f"fast     (sample):  {kb / cpu_fast_sample:10.1f} KB/CPU-s  ({cpu_fast_sample:.2f} CPU-s)  ratio {cpu_stock / cpu_fast_sample:.1f}x")
    del fast, a, b

    # the whole corpus with the fast engine, in a fresh process, alternating with stock Presidio
    # on slices of the sample: this VM's speed drifts by 10-30% within minutes, and a baseline
    # measured before or after the long scan moves the ratio with it
    full, cpu_stock = interleaved(path, stock, texts, args.steps)
    del stock
    rate = full["chars"] / 1000 / full["cpu_s"]
    print(f"presidio (sample, in {args.steps} slices between the parts of the full scan): "
          f"{kb / cpu_stock:.1f} KB/CPU-s ({cpu_stock:.1f} CPU-s)")
    print(
        f"fast     (full):    {rate:10.1f} KB/CPU-s  ({full['chars'] / 1e6:.1f} MB in {full['cpu_s']:.1f} CPU-s, "
        f"{full['findings']} findings, build {full['build_cpu_s']:.1f} CPU-s, peak RSS {full['peak_rss_mb']:.0f} MB)"
    )
    print(f"RATIO fast (full corpus) / presidio (sample, interleaved), per CPU-second: {rate / (kb / cpu_stock):.1f}x")

    if not args.no_ray:
        for row in ray_runs(path, n_records):
            print(
                f"ray {row['workers']} worker(s): {row['kb_per_wall_s']:.1f} KB/s wall ({row['wall_s']:.1f} s), "
                f"{row['kb_per_cpu_s']:.1f} KB/CPU-s, peak RSS/worker {row['peak_rss_mb']:.0f} MB"
            )
    print(f"total {time.perf_counter() - t0:.0f}s")


if __name__ == "__main__":
    main()

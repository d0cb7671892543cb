"""Benchmark of the `secrets` detector: throughput (MB/s on one core), false positives per 10 MB
of clean text, and recall per rule on the labelled set.

    python benchmarks/bench_secrets.py                 # 10 MB clean corpus (default)
    python benchmarks/bench_secrets.py --mb 20 --json benchmarks/secrets.json

Everything runs in this one process, on one thread; times are CPU seconds of the process
(time.process_time), so MB/s are per core even on a shared machine. Baselines measured in the
same run:
- `re-all-rules`: every rule's Python regex over every text, same confirmation logic, no
  hyperscan prefilter (what the detector would cost without the multi-pattern pass);
- `hyperscan-only`: the single prefilter pass alone (an upper bound for the detector);
- with --fastpatterns-mb: the `patterns` detector's fast engine (Presidio's recognizers on one
  hyperscan pass), the project's reference for a fast pattern engine.

Corpora are synthetic (tests/data/secrets/synth.py, seeded): a clean mixed corpus (prose, code,
logs, JSON, base64 blobs, hashes and UUIDs, minified JS) and the same corpus with one synthetic
secret planted in every 20th record.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "data" / "secrets"))

import synth  # noqa: E402

from workbench.detectors.secrets import SecretsDetector  # noqa: E402


def _mb(texts: list[str]) -> float:
    return sum(len(t.encode("utf-8")) for t in texts) / 1e6


def _time(fn, *args, repeat: int = 1):
    """Best CPU seconds of this process (one thread: MB per CPU-second is MB/s per core; on a shared
    machine wall time also counts other people's work) over `repeat` runs, and the result."""
    best = float("inf")
    out = None
    for _ in range(repeat):
        t0 = time.process_time()
        out = fn(*args)
        best = min(best, time.process_time() - t0)
    return max(best, 1e-9), out


def re_all_rules(det: SecretsDetector, texts: list[str]) -> int:
    rs = det.ruleset
    n = 0
    for t in texts:
        for r in rs.rules:
            for _ in r.candidates(t, rs.allowlist):
                n += 1
    return n


def hyperscan_only(det: SecretsDetector, texts: list[str]) -> int:
    rs = det.ruleset
    return sum(len(rs.candidate_rules(t)) for t in texts)


def planted(rng: random.Random, corpus: list[str], every: int = 20) -> tuple[list[str], list[tuple[int, str, int, int]]]:
    rules = list(synth.POSITIVES)
    texts, truth = [], []
    for i, t in enumerate(corpus):
        if i % every == 0:
            case = synth.positive(rng, rules[(i // every) % len(rules)])
            cut = t.rfind("\n", 0, len(t) // 2) + 1
            prefix = t[:cut] + ("\n" if cut == 0 and t else "")
            text = prefix + case["text"] + "\n" + t[cut:]
            texts.append(text)
            truth.append((i, case["rule"], len(prefix) + case["start"], len(prefix) + case["end"]))
        else:
            texts.append(t)
    return texts, truth


def scan_real(det: SecretsDetector, root: Path, mb: float, seed: int) -> dict:
    """Scan a seeded sample of real text files: throughput and findings (unlabelled: some may be
    true positives, e.g. test keys in library test suites)."""
    files = sorted(p for ext in ("py", "md", "json", "txt") for p in root.rglob(f"*.{ext}") if p.is_file())
    random.Random(seed).shuffle(files)
    texts, total = [], 0
    for p in files:
        try:
            t = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        texts.append(t)
        total += len(t.encode())
        if total >= mb * 1e6:
            break
    by_rule: Counter[str] = Counter()
    slowest = (0.0, 0)
    t0 = time.process_time()
    for t in texts:
        a = time.process_time()
        for s in det([t])[0]:
            by_rule[s.rule] += 1
        dt = time.process_time() - a
        if dt > slowest[0]:
            slowest = (dt, len(t.encode()))
    secs = time.process_time() - t0
    n = sum(by_rule.values())
    return {
        "dir": str(root), "files": len(texts), "mb": round(total / 1e6, 1), "mb_per_s": round(total / 1e6 / secs, 1),
        "findings": n, "per_10mb": round(n / (total / 1e6) * 10, 2), "by_rule": dict(by_rule.most_common()),
        "slowest_s": round(slowest[0], 3), "slowest_mb": round(slowest[1] / 1e6, 2),
    }


def bench_redact(texts: list[str]) -> dict:
    """`redact()` end to end on a JSONL copy of `texts` (CPU seconds of this process)."""
    import shutil
    import tempfile

    from workbench.config import load_profile
    from workbench.corpus.formats import iter_rows
    from workbench.corpus.plan import expand, plan
    from workbench.redact import redact

    tmp = Path(tempfile.mkdtemp(prefix="bench-redact-"))
    try:
        src = tmp / "in" / "corpus.jsonl"
        src.parent.mkdir()
        with src.open("w", encoding="utf-8") as f:
            for i, t in enumerate(texts):
                f.write(json.dumps({"id": i, "text": t, "meta": {"n": i}}) + "\n")
        mb = src.stat().st_size / 1e6
        prof = load_profile("secrets")

        def read_only():
            return sum(1 for sh in plan(expand([str(src)]), 1 << 62) for _ in iter_rows(sh, 1 << 62))

        # warm up: imports (presidio-anonymizer) and the compiled rules are one-time costs
        redact([str(src)], tmp / "warm", prof, force=True, verify=False)
        s_read, _ = _time(read_only)
        s_red, rep = _time(lambda: redact([str(src)], tmp / "out", prof, force=True))
        s_nov, _ = _time(lambda: redact([str(src)], tmp / "out2", prof, force=True, verify=False))
        return {
            "mb": round(mb, 1), "mb_per_s": round(mb / s_red, 1), "mb_per_s_no_verify": round(mb / s_nov, 1),
            "read_only_mb_per_s": round(mb / s_read, 1),
            "replaced": sum(sum(v.values()) for v in rep.counts.values()),
            "remaining": {k: v for k, v in (rep.remaining or {}).items() if v},
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def results_section(d: dict) -> str:
    """The `## Secrets` section of benchmarks/RESULTS.md, from this run's numbers."""
    lab, real, red, fastp = d["labelled"], d.get("real"), d.get("redact"), d.get("fastpatterns")
    rows = []
    for r, v in lab.items():
        if r.startswith("any:"):
            continue
        real_n = real["by_rule"].get(r, 0) if real else "-"
        rows.append(f"| `{r}` | {v['found']}/{v['positives']} ({v['recall'] * 100:.0f}%) | "
                    f"{v['negatives_with_finding']}/{v['negatives']} | {v['fp_clean']} | {real_n} |")
    anyrows = [f"{r[4:]} {v['negatives_with_finding']}/{v['negatives']}" for r, v in lab.items() if r.startswith("any:")]
    t = [
        "## Secrets",
        "",
        f"Machine: vm, {d['machine']} (CPU shared with other engineers' jobs), hyperscan Python binding, no GPU.",
        f"Date: {d['date']}.",
        f"Command: `{d['command']}`",
        "",
        "Throughputs are MB of UTF-8 text per CPU-second of the single benchmark process (`time.process_time`),",
        "i.e. MB/s per core; wall-clock time on this shared machine also counts other people's work. Run-to-run",
        "noise here is about +-30%, so rows within that of each other are the same speed.",
        "",
        "| what (one core) | MB/s |",
        "|---|---|",
        f"| `secrets` detector ({d['rules']} rules), synthetic clean mixed corpus ({d['clean_mb']} MB, {d['clean_records']} records) | {d['clean_mb_per_s']} |",
        f"| `secrets` detector, same corpus with a synthetic secret planted in every 20th record | {d['planted_mb_per_s']} |",
        f"| baseline: the hyperscan prefilter pass alone | {d['hyperscan_only_mb_per_s']} |",
        f"| baseline: every rule's Python `re` on every text, no prefilter ({d['baseline_mb']} MB subset) | {d['re_all_rules_mb_per_s']} |",
        f"| `secrets` detector on that same subset | {d['detector_mb_per_s_on_baseline_subset']} (x{d['speedup_vs_re_all_rules']} vs re-all-rules) |",
    ]
    if fastp:
        t += [
            f"| reference: `patterns` detector, fast engine (Presidio recognizers on hyperscan), {fastp['mb']} MB of the clean corpus | {fastp['fastpatterns_mb_per_s']} |",
            f"| `secrets` detector on those same texts | {fastp['secrets_mb_per_s']} |",
        ]
    if real:
        t.append(f"| `secrets` detector, {real['mb']} MB of real files ({real['files']} .py/.md/.json/.txt files under `{real['dir']}`) | {real['mb_per_s']} |")
    if red:
        t += [
            f"| `workbench redact` end to end (library call, JSONL {red['mb']} MB = the planted corpus, secrets profile), with the re-scan | {red['mb_per_s']} |",
            f"| same, without the re-scan (`--no-verify`) | {red['mb_per_s_no_verify']} |",
            f"| baseline: reading the same JSONL with `workbench.corpus` only | {red['read_only_mb_per_s']} |",
        ]
    t += [
        "",
        f"Planted secrets: {d['planted_found']}/{d['planted_secrets']} found at the exact offsets, {d['planted_extra_findings']} other findings.",
    ]
    if red:
        t.append(f"Redaction replaced {red['replaced']} spans; the re-scan of the output found {sum(red['remaining'].values())} remaining.")
    t += [
        "",
        "False positives:",
        f"- synthetic clean mixed corpus (prose, code, logs, JSON with hashes/UUIDs, base64 blobs, hash lists, minified JS;",
        f"  `tests/data/secrets/synth.py`, seeded): **{d['fp_total']} findings in {d['clean_mb']} MB = {d['fp_per_10mb']} per 10 MB**.",
        "  This corpus was written by the same author as the rules: a floor, not an estimate of real-world precision.",
    ]
    if real:
        t += [
            f"- real files: **{real['findings']} findings in {real['mb']} MB = {real['per_10mb']} per 10 MB** "
            f"({', '.join(f'{k} {v}' for k, v in real['by_rule'].items()) or 'none'}), not labelled; see the notes below.",
        ]
    t += [
        "",
        "Labelled set (`tests/data/secrets/cases.jsonl`: 40 synthetic positives per rule in varied contexts, and negatives",
        "per rule: documentation keys, placeholders, templated values, truncated or over-long look-alikes, public keys and",
        "certificates, tokenizer names; every key generated with the right format and a random body). Test floor",
        "(`tests/test_secrets.py`): each rule finds >= 95% of its positives at the exact offsets; no negative gives a finding.",
        "",
        "| rule | positives found | negatives with a finding | FP, synthetic clean corpus | findings, real files (unlabelled) |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"Generic look-alike negatives (no rule may fire): {', '.join(anyrows)}.",
        "",
    ]
    return "\n".join(t)


def write_results(section: str, path: Path, notes: str = "") -> None:
    """Replace (or append) the `## Secrets` section of RESULTS.md, keeping every other section."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start = text.find("\n## Secrets\n")
    body = section + (notes or "")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + body
    else:
        nxt = text.find("\n## ", start + 1)
        text = text[: start + 1] + body + ("\n" + text[nxt + 1 :] if nxt >= 0 else "")
    path.write_text(text.rstrip("\n") + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=10.0, help="size of the clean corpus in MB (default 10)")
    ap.add_argument("--baseline-mb", type=float, default=2.0, help="MB of it used for the slow re-all-rules baseline")
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    ap.add_argument("--write", action="store_true", help="replace the `## Secrets` section of benchmarks/RESULTS.md")
    ap.add_argument("--real", type=Path, help="also scan real files under this directory (.py, .md, .json, .txt)")
    ap.add_argument("--real-mb", type=float, default=100.0, help="MB of --real files to scan (a seeded sample)")
    ap.add_argument("--fastpatterns-mb", type=float, default=0.0,
                    help="also time the `patterns` detector's fast engine (Presidio recognizers on hyperscan) on this "
                         "many MB of the clean corpus: the 'fast pattern engine' reference (0: skip)")
    ap.add_argument("--redact", action="store_true",
                    help="also time `workbench redact` (secrets profile) on the planted corpus written as JSONL")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    corpus = synth.clean_corpus(rng, int(args.mb * 1e6))
    kinds = [k for k, _ in corpus]
    clean = [t for _, t in corpus]
    gen_s = time.perf_counter() - t0
    det = SecretsDetector()
    det(["warm up"])
    mb_clean = _mb(clean)

    # 1. clean corpus: throughput and false positives
    s_clean, res_clean = _time(det, clean, repeat=2)
    fp: Counter[str] = Counter()
    fp_kind: Counter[str] = Counter()
    for k, spans in zip(kinds, res_clean):
        for s in spans:
            fp[s.rule] += 1
            fp_kind[k] += 1
    fp_total = sum(fp.values())
    fp_per_10mb = fp_total / mb_clean * 10

    # 2. baselines on the same texts
    sub, acc = [], 0.0
    for t in clean:
        sub.append(t)
        acc += len(t.encode()) / 1e6
        if acc >= args.baseline_mb:
            break
    mb_sub = _mb(sub)
    s_sub, _ = _time(det, sub, repeat=2)
    s_naive, _ = _time(re_all_rules, det, sub)
    s_hs, _ = _time(hyperscan_only, det, clean, repeat=2)

    # 3. planted secrets: throughput and recall
    texts, truth = planted(random.Random(args.seed + 1), clean)
    mb_planted = _mb(texts)
    s_planted, res_planted = _time(det, texts, repeat=2)
    found = 0
    for i, rule, start, end in truth:
        found += any(s.rule == rule and (s.start, s.end) == (start, end) for s in res_planted[i])
    extra = sum(len(r) for r in res_planted) - found

    # 4. labelled set: recall per rule, negatives
    cases = [json.loads(x) for x in (ROOT / "tests/data/secrets/cases.jsonl").read_text().splitlines()]
    res_cases = det([c["text"] for c in cases])
    tp, n_pos, neg_hits, n_neg = defaultdict(int), defaultdict(int), defaultdict(int), defaultdict(int)
    for c, spans in zip(cases, res_cases):
        if c["label"] == "positive":
            n_pos[c["rule"]] += 1
            tp[c["rule"]] += any(s.rule == c["rule"] and (s.start, s.end) == (c["start"], c["end"]) for s in spans)
        else:
            n_neg[c["rule"]] += 1
            neg_hits[c["rule"]] += bool(spans)

    fastp = None
    if args.fastpatterns_mb > 0:
        from workbench.detectors.fastpatterns import FastPatternsDetector

        fsub, acc = [], 0.0
        for t in clean:
            fsub.append(t)
            acc += len(t.encode()) / 1e6
            if acc >= args.fastpatterns_mb:
                break
        fdet = FastPatternsDetector()
        fdet(["warm up 555-0100"])
        s_f, _ = _time(fdet, fsub)
        s_fs, _ = _time(det, fsub, repeat=2)
        fastp = {"mb": round(_mb(fsub), 2), "fastpatterns_mb_per_s": round(_mb(fsub) / s_f, 1),
                 "secrets_mb_per_s": round(_mb(fsub) / s_fs, 1)}
    red = bench_redact(texts) if args.redact else None
    real = None
    if args.real:
        real = scan_real(det, args.real, args.real_mb, args.seed)

    out = {
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus, {platform.python_version()}".strip(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python benchmarks/bench_secrets.py " + " ".join(sys.argv[1:]),
        "rules": len(det.rules),
        "clean_mb": round(mb_clean, 2),
        "clean_records": len(clean),
        "clean_mb_per_s": round(mb_clean / s_clean, 1),
        "fp_total": fp_total,
        "fp_per_10mb": round(fp_per_10mb, 2),
        "fp_by_rule": dict(fp),
        "fp_by_kind": dict(fp_kind),
        "baseline_mb": round(mb_sub, 2),
        "detector_mb_per_s_on_baseline_subset": round(mb_sub / s_sub, 1),
        "re_all_rules_mb_per_s": round(mb_sub / s_naive, 2),
        "speedup_vs_re_all_rules": round(s_naive / s_sub, 1),
        "hyperscan_only_mb_per_s": round(mb_clean / s_hs, 1),
        "planted_mb_per_s": round(mb_planted / s_planted, 1),
        "planted_secrets": len(truth),
        "planted_found": found,
        "planted_extra_findings": extra,
        "labelled": {
            r: {"positives": n_pos[r], "found": tp[r], "recall": round(tp[r] / n_pos[r], 4) if n_pos[r] else None,
                "negatives": n_neg[r], "negatives_with_finding": neg_hits[r], "fp_clean": fp.get(r, 0)}
            for r in sorted(set(n_pos) | set(n_neg))
        },
        "corpus_generation_s": round(gen_s, 1),
        "real": real,
        "redact": red,
        "fastpatterns": fastp,
    }
    print(f"machine: {out['machine']}  date: {out['date']}")
    print(f"rules: {out['rules']}; clean corpus: {out['clean_mb']} MB in {out['clean_records']} records")
    print(f"secrets detector, clean corpus:      {out['clean_mb_per_s']:8.1f} MB/s per core (CPU time)")
    print(f"secrets detector, planted corpus:    {out['planted_mb_per_s']:8.1f} MB/s; {found}/{len(truth)} planted found, {extra} other findings")
    print(f"baseline hyperscan-only pass:        {out['hyperscan_only_mb_per_s']:8.1f} MB/s")
    print(f"baseline re-all-rules ({out['baseline_mb']} MB):     {out['re_all_rules_mb_per_s']:8.2f} MB/s "
          f"(detector on the same texts: {out['detector_mb_per_s_on_baseline_subset']} MB/s, x{out['speedup_vs_re_all_rules']})")
    print(f"false positives on clean text:       {fp_total} ({out['fp_per_10mb']} per 10 MB) {dict(fp)}")
    print()
    print("| rule | positives found | negatives with a finding | FP on clean corpus |")
    print("|---|---|---|---|")
    for r, v in out["labelled"].items():
        pos = f"{v['found']}/{v['positives']}" if v["positives"] else "-"
        print(f"| {r} | {pos} | {v['negatives_with_finding']}/{v['negatives']} | {v['fp_clean'] if v['positives'] else '-'} |")
    if fastp:
        print(f"reference: patterns detector, fast engine ({fastp['mb']} MB): {fastp['fastpatterns_mb_per_s']} MB/s; "
              f"secrets detector on the same texts: {fastp['secrets_mb_per_s']} MB/s")
    if red:
        print()
        print(f"redact (JSONL, {red['mb']} MB, secrets profile): {red['mb_per_s']} MB/s per core with the re-scan, "
              f"{red['mb_per_s_no_verify']} MB/s without; baseline read-only pass over the same file: "
              f"{red['read_only_mb_per_s']} MB/s; replaced {red['replaced']}, remaining after re-scan {red['remaining']}")
    if real:
        print()
        print(f"real files under {real['dir']}: {real['mb']} MB in {real['files']} files, {real['mb_per_s']} MB/s; "
              f"{real['findings']} findings ({real['per_10mb']} per 10 MB, not labelled): {real['by_rule']}")
        print(f"slowest file: {real['slowest_s']} s for {real['slowest_mb']} MB")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    if args.write:
        notes_file = ROOT / "benchmarks" / "secrets_notes.md"
        write_results(results_section(out), ROOT / "benchmarks" / "RESULTS.md",
                      notes_file.read_text() if notes_file.exists() else "")


if __name__ == "__main__":
    main()

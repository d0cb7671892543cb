"""Accuracy of a scan profile on the presidio-research PII benchmark, per entity type.

Scores any profile (pii-default, pii-full, your own YAML) on both files of
../shared/benchmarks/pii/ (presidio_synth_v2.json and presidio_generated_large.json): the
profile's detectors run exactly as in a scan (built from the profile, overlaps resolved when
there are several), and `workbench.eval` matches predictions to gold spans (same mapped entity
type, character IoU >= 0.5, one-to-one) and gives precision / recall per entity type.

Label maps (printed with every run, so numbers are comparable):
- gold -> evaluated type: `workbench.eval.LABEL_MAP` (GPE, STREET_ADDRESS, ADDRESS -> LOCATION;
  DOMAIN_NAME -> URL; TITLE, AGE, ZIP_CODE, PREFIX not scored);
- NER model label -> entity type: the `ner` detector's label map (built-in defaults plus the
  profile's `label_map`), also applied the same way in a scan;
- detector type -> evaluated type: `PRED_MAP` below (only what the two maps above leave apart).

Published reference on presidio_synth_v2.json (presidio-research notebooks; F2 weights recall):
stock Presidio with spaCy en_core_web_lg, threshold 0.4: P 0.685 / R 0.603 / F2 0.618;
tuned with a transformer NER (stanford-deidentifier-base) and deny-lists, threshold 0.3:
P 0.870 / R 0.839 / F2 0.845. Their matching is token-level, ours span-level (IoU >= 0.5):
close, not identical.

Examples:
  python benchmarks/eval_pii.py --profile pii-default
  WORKBENCH_NER_MODEL=/models/bert-base-NER python benchmarks/eval_pii.py --profile pii-full
  python benchmarks/eval_pii.py --profile pii-full --tiny-ner     # harness check with a tiny local model
  python benchmarks/eval_pii.py --profile my.yaml --limit 300 --json out.json --markdown out.md
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA_DIRS = [REPO.parent / "shared" / "benchmarks" / "pii", REPO / "shared" / "benchmarks" / "pii"]
FILES = ["presidio_synth_v2.json", "presidio_generated_large.json"]
REFERENCE = {
    "presidio_synth_v2.json": [
        ("stock Presidio + spaCy en_core_web_lg (threshold 0.4)", 0.685, 0.603),
        ("Presidio tuned + transformer NER stanford-deidentifier-base (threshold 0.3)", 0.870, 0.839),
    ]
}
# detector entity type -> evaluated type, for types the gold data names differently
PRED_MAP: dict[str, str | None] = {"STREET_ADDRESS": "LOCATION", "GPE": "LOCATION", "ORG": "ORGANIZATION"}


def find_data(names: list[str]) -> list[Path]:
    out = []
    for n in names:
        p = Path(n)
        if p.is_file():
            out.append(p)
            continue
        for d in DATA_DIRS:
            if (d / n).is_file():
                out.append(d / n)
                break
        else:
            raise SystemExit(f"data file not found: {n} (looked in {', '.join(map(str, DATA_DIRS))})")
    return out


def f_beta(p: float, r: float, beta: float = 2.0) -> float:
    b2 = beta * beta
    return (1 + b2) * p * r / (b2 * p + r) if (p == p and r == r and (b2 * p + r)) else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="pii-full", help="profile name or YAML path")
    ap.add_argument("--data", action="append", default=None, help=f"data file(s) (default: {', '.join(FILES)})")
    ap.add_argument("--limit", type=int, default=0, help="first N records of each file only")
    ap.add_argument("--batch", type=int, default=256, help="texts per detector call")
    ap.add_argument("--min-iou", type=float, default=0.5)
    ap.add_argument("--no-resolve", action="store_true", help="do not resolve overlaps between detectors")
    ap.add_argument("--priority", default=None,
                    help="detectors that win overlaps before scores are compared, highest first, e.g. secrets,patterns "
                         "(default: the profile's overlap_priority; '' = score only)")
    ap.add_argument("--tiny-ner", action="store_true",
                    help="train the tiny test NER model (seconds) and use it as WORKBENCH_NER_MODEL: checks the "
                         "harness end to end; its numbers say nothing about a real model")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--json", default=None, help="write the results as JSON here")
    ap.add_argument("--markdown", default=None, help="write the tables as Markdown here")
    args = ap.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from workbench import eval as ev
    from workbench.config import ConfigError, load_profile
    from workbench.detectors.registry import build_detectors
    from workbench.pipeline.worker import detect

    tmp = None
    if args.tiny_ner:
        import torch

        from workbench.detectors.tiny import train_tiny_ner

        torch.set_num_threads(args.threads)
        tmp = tempfile.TemporaryDirectory()
        os.environ["WORKBENCH_NER_MODEL"] = str(train_tiny_ner(Path(tmp.name) / "tiny-ner"))
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    try:
        profile = load_profile(args.profile)
        t0 = time.perf_counter()
        detectors = build_detectors(profile.detectors)
    except ConfigError as e:
        raise SystemExit(f"error: {e}") from None
    load_s = time.perf_counter() - t0
    resolve = not args.no_resolve and profile.resolve_overlaps
    names = list(profile.overlap_priority) if args.priority is None else [n for n in args.priority.split(",") if n]
    priority = {n: len(names) - i for i, n in enumerate(names)}
    args.priority = ",".join(names)

    def run(texts: list[str]):
        return detect(detectors, texts, resolve, names)

    md = [f"## eval_pii: profile `{profile.name}` ({profile.source})", "",
          f"detectors: {', '.join(profile.detectors)}; overlap resolution: {'on' if resolve and len(detectors) > 1 else 'off'}"
          f"{f' (priority {args.priority})' if priority and resolve else ''}; "
          f"matching: same type, character IoU >= {args.min_iou}", "",
          "gold label -> evaluated type: " + ", ".join(f"{k}->{v}" for k, v in ev.LABEL_MAP.items()), "",
          "detector type -> evaluated type: " + ", ".join(f"{k}->{v}" for k, v in PRED_MAP.items())]
    ner = next((d for d in detectors if getattr(d, "name", "") == "ner"), None)
    if ner is not None:
        labels = sorted({b for _, b in ner.labels if b != "O"})
        md += ["", f"NER model `{ner.model_name}` labels -> entity types: "
               + ", ".join(f"{b}->{ner.entity_type(b)}" for b in labels)]
    results = {"profile": profile.name, "source": profile.source, "detectors": list(profile.detectors),
               "label_map": ev.LABEL_MAP, "pred_map": PRED_MAP, "min_iou": args.min_iou, "files": {},
               "load_seconds": load_s}
    for path in find_data(args.data or FILES):
        data = ev.load_presidio_research(path)
        if args.limit:
            data = data[: args.limit]
        t0 = time.perf_counter()
        preds = ev.predict_with(lambda texts: run(list(texts)), data, batch=args.batch)
        secs = time.perf_counter() - t0
        preds = [[(PRED_MAP.get(t, t), s, e) for t, s, e in p if PRED_MAP.get(t, t) is not None] for p in preds]
        report = ev.evaluate(data, preds, min_iou=args.min_iou)
        m = report.micro
        md += ["", ev.format_table(report, f"{path.name}: {len(data)} records, {secs:.1f}s"),
               "", f"micro: P {m.precision:.3f} / R {m.recall:.3f} / F2 {f_beta(m.precision, m.recall):.3f}"]
        if report.unscored:
            md.append("predicted types the data never labels (not scored): "
                      + ", ".join(f"{k} {v}" for k, v in sorted(report.unscored.items())))
        for name, p, r in REFERENCE.get(path.name, []):
            md.append(f"reference ({name}): P {p:.3f} / R {r:.3f} / F2 {f_beta(p, r):.3f}")
        results["files"][path.name] = {
            "records": len(data), "seconds": secs, "rows": report.rows(), "unscored": report.unscored,
            "micro": {"precision": m.precision, "recall": m.recall, "f2": f_beta(m.precision, m.recall),
                      "tp": m.tp, "predicted": m.n_pred, "gold": m.n_gold},
        }
    text = "\n".join(md)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()

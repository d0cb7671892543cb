"""FastPhone.digit_validity against the scalar loop it replaces.

Digit strings: the unique runs of 4+ ASCII digits in every 23rd record of the 50 MB pattern
corpus (.bench/patterns_corpus_50mb_seed0.jsonl, about 2.2 MB of text). Times, best of 3, each
on a fresh FastPhone so that the verdict memos are cold:
  scalar               `ri in _regions_for(n, d) and valid(ri, d, False)` per string and region
  batch_cold           first call: compiles the automata too (once per FastPhone)
  batch_warm_automata  automata already compiled, memos cold (the steady state)
  batch_repeat         the same strings again (scalar fallback memoised)
and the share of (string, region) pairs the automata answer (the rest go to the scalar path).

    PYTHONPATH=. python benchmarks/bench_digit_validity.py [corpus.jsonl]
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import numpy as np
from phonenumbers import phonenumbermatcher as pm
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from workbench.detectors.fastphone import FastPhone

ROOT = Path(__file__).resolve().parent.parent


def sample(path: Path, every: int = 23) -> tuple[int, list[str]]:
    ds, chars = set(), 0
    with open(path) as fh:
        for i, line in enumerate(fh):
            if i % every == 0:
                text = json.loads(line)
                chars += len(text)
                ds.update(re.findall(r"[0-9]{4,}", text))
    return chars, sorted(ds)


def scalar(f: FastPhone, ds) -> np.ndarray:
    out = np.zeros((len(ds), len(f.regions)), dtype=bool)
    lo = max(f.min_any, 2)
    for i, d in enumerate(ds):
        n = len(d)
        if n >= lo:
            for ri in f._regions_for(n, d):
                out[i, ri] = f.valid(ri, d, False)
    return out


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".bench" / "patterns_corpus_50mb_seed0.jsonl"
    chars, ds = sample(path)
    regions = PhoneRecognizer().supported_regions
    print(f"{chars} characters, {len(ds)} unique digit strings, regions {regions}")
    best: dict[str, float] = {}
    for _ in range(3):
        f = FastPhone(regions, pm.Leniency.VALID)
        t = time.perf_counter()
        want = scalar(f, ds)
        times = {"scalar": time.perf_counter() - t}
        f = FastPhone(regions, pm.Leniency.VALID)
        t = time.perf_counter()
        got = f.digit_validity(ds)
        times["batch_cold"] = time.perf_counter() - t
        g = FastPhone(regions, pm.Leniency.VALID)  # the compiled automata, fresh memos
        g._dfas, g._sets, g._np_alts, g._format_plans, g._widths = f._dfas, f._sets, f._np_alts, f._format_plans, f._widths
        t = time.perf_counter()
        got2 = g.digit_validity(ds)
        times["batch_warm_automata"] = time.perf_counter() - t
        t = time.perf_counter()
        got3 = g.digit_validity(ds)
        times["batch_repeat"] = time.perf_counter() - t
        assert (got == want).all() and (got2 == want).all() and (got3 == want).all()
        for k, v in times.items():
            best[k] = min(best.get(k, v), v)
    print(", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in best.items()))
    st = f.batch_stats
    print(f"valid pairs {int(want.sum())}; pairs answered by the automata {1 - st['scalar_cells'] / st['cells']:.4f}, "
          f"strings with no pair left to the scalar path {1 - st['scalar_rows'] / st['rows']:.4f}")


if __name__ == "__main__":
    main()

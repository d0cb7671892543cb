"""Write the labelled set of the secrets detector: `python tests/data/secrets/make_cases.py`.

cases.jsonl: one case a line, {"rule", "entity", "label": "positive"|"negative", "text",
"start", "end"} (positives carry the secret's offsets; negatives must produce no finding).
Deterministic (seeded), so the committed file is reproducible.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import synth  # noqa: E402

POSITIVES_PER_RULE = 40


def cases(seed: int = 20261128) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for rule in synth.POSITIVES:
        for _ in range(POSITIVES_PER_RULE):
            out.append(synth.positive(rng, rule))
        for text in synth.negatives_for(rng, rule):
            out.append({"rule": rule, "entity": synth.POSITIVES[rule][0], "label": "negative", "text": text})
    for category, text in synth.generic_negatives(rng):
        out.append({"rule": f"any:{category}", "entity": "", "label": "negative", "text": text})
    return out


def main() -> None:
    path = HERE / "cases.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for c in cases():
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

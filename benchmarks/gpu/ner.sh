#!/usr/bin/env bash
# GPU checks and benchmark for the `ner` / `classify` detectors (workbench/detectors/), no Ray needed.
# Run from the repository root on a machine with one CUDA GPU and torch + transformers installed
# (the lent GPU machines have no Ray and no internet; nothing here downloads anything):
#
#   OUT=/tmp/gpu-ner bash benchmarks/gpu/ner.sh          # or copy it into the tree and run it there
#
# Steps (each bounded by `timeout`; total about 6-8 minutes on one H100):
#   0. environment report (GPU, torch, transformers; the detectors also need numpy, pydantic, pyyaml)
#   1. the gpu-marked tests (CUDA fp32 == CPU spans; batch size 1 vs many within 1e-4; bf16 agreement)
#   2. bench_ner.py: BERT-base-shaped random model (~86M params without embeddings), bf16, the detector
#      vs transformers.pipeline (batch_size 1 = the plain pipeline, and 64) on the same texts;
#      targets: >= 20 GB of text per GPU-hour and >= 5x the plain pipeline
#   3. the same on longer documents (8 texts joined: more windows per text)
#   4. a token-budget sweep for the detector only
# Results: $OUT/*.json and $OUT/*.log; copy the tables into benchmarks/RESULTS.md (## NER and classifiers).
set -uo pipefail
OUT=${OUT:-/tmp/gpu-ner}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=true
PY=${PY:-python}

echo "== 0. environment" | tee "$OUT/env.log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee -a "$OUT/env.log"
$PY - <<'EOF' 2>&1 | tee -a "$OUT/env.log"
import importlib
for m in ("torch", "transformers", "tokenizers", "numpy", "pydantic", "yaml", "pytest", "ray"):
    try:
        mod = importlib.import_module(m)
        print(f"{m} {getattr(mod, '__version__', '?')}")
    except Exception as e:  # noqa: BLE001
        print(f"{m} MISSING ({type(e).__name__})")
import torch
print("cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
EOF

echo "== 1. gpu tests" | tee "$OUT/tests.log"
if $PY -c "import pytest" 2>/dev/null; then
  timeout 240 $PY -m pytest -q -p no:cacheprovider -m gpu tests/test_ner.py tests/test_classify.py 2>&1 | tail -15 | tee -a "$OUT/tests.log"
else
  echo "pytest missing: skipped" | tee -a "$OUT/tests.log"
fi

echo "== 2. bench: short texts (presidio-research texts if ../shared/benchmarks/pii exists, else synthetic)"
timeout 300 $PY benchmarks/bench_ner.py --device cuda --shape base --repeat 30 \
  --pipeline-batch-sizes 1,64 --pipeline-limit 4000 --json "$OUT/bench-base-short.json" 2>&1 \
  | grep -v "Loading weights\|Writing model" | tee "$OUT/bench-base-short.log"

echo "== 3. bench: documents of 8 joined texts"
timeout 240 $PY benchmarks/bench_ner.py --device cuda --shape base --repeat 60 --concat 8 \
  --pipeline-batch-sizes 1,64 --pipeline-limit 1000 --json "$OUT/bench-base-docs.json" 2>&1 \
  | grep -v "Loading weights\|Writing model" | tee "$OUT/bench-base-docs.log"

echo "== 4. token budget sweep (detector only)"
for mt in 16384 65536 131072; do
  timeout 120 $PY benchmarks/bench_ner.py --device cuda --shape base --repeat 30 --skip-pipeline \
    --max-tokens $mt --json "$OUT/bench-base-mt$mt.json" 2>&1 | tail -1 | tee -a "$OUT/sweep.log"
done
echo "done: $OUT"

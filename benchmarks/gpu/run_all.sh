#!/usr/bin/env bash
# One device call for every GPU check and benchmark (device budget: 15 minutes per session, at most
# 10 minutes per call): `bash benchmarks/gpu/prepare.sh` here first, then through the device tool
#   run(command="OUT=$OUT bash benchmarks/gpu/run_all.sh", carry=[".whl"], timeout_s=560)
# Each part is bounded; the parts' own scripts (kernels.sh, probes.sh, ner.sh) hold the full versions.
set -uo pipefail
cd "$(git rev-parse --show-toplevel 2>/dev/null || pwd)"
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "import torch, triton, transformers; print(torch.__version__, triton.__version__, transformers.__version__)" | tee -a "$OUT/gpu.txt"
# 1. kernels (~3 min): compiled Triton vs torch reference, bandwidth vs device copy
(cd tests && timeout 150 python3 -m pytest -q -p no:cacheprovider -m gpu test_kernels.py) 2>&1 | tail -3 | tee "$OUT/kernels-tests.log"
timeout 150 python3 benchmarks/bench_kernels.py --device cuda --rows 16384 --dtype bf16 \
  --json "$OUT/bench_kernels_bf16.json" 2>&1 | tee "$OUT/bench_kernels_bf16.log" | tail -12
# 2. probes (~2.5 min): one-pass extraction vs per-sample generate, batched scores vs batch-1
timeout 150 python3 benchmarks/bench_probes.py --device cuda --workdir /tmp/bp-tiny --repeat 3 \
  --json "$OUT/bench_probes.json" 2>&1 | grep -E "^(extraction|scores):" | tee "$OUT/bench_probes.log"
# 3. NER (~3 min): detector vs transformers.pipeline, BERT-base shape, bf16
timeout 180 python3 benchmarks/bench_ner.py --device cuda --shape base --repeat 20 --pipeline-batch-sizes 1,64 \
  --pipeline-limit 3000 --json "$OUT/bench_ner.json" 2>&1 | grep -v "Loading weights\|Writing model" | tail -15 \
  | tee "$OUT/bench_ner.log"
ls -l "$OUT"

#!/usr/bin/env bash
# GPU checks + benchmark of the memorization probes' HF engine (workbench.probes.engines.hf.HFEngine).
# No Ray and no vLLM are needed on the GPU machine (its image has torch, transformers, tokenizers,
# pyarrow, pyyaml, scipy, pytest, but NOT pydantic: carry its wheels, see step 0).
#
# Step 0 — HERE, on the CPU box, in /work/main (once per session):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 -d .whl \
#     pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
#   (nothing to copy: the script is in the tree)
# Step 1 — the device call (one call, carry [".whl"], timeout_s ~540):
#   bash benchmarks/gpu/probes.sh
# It writes $OUT/bench_tiny.json, $OUT/bench_base.json, $OUT/gpu_tests.log. Copy the numbers into
# benchmarks/RESULTS.md (## Probes), with the device line the reply gives.
set -uo pipefail
cd "$(git rev-parse --show-toplevel 2>/dev/null || pwd)"
OUT=${OUT:-/tmp/gpu-probes-out}; mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:${PYTHONPATH:-} || exit 1
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
python3 - <<'PY' || exit 1
import torch, transformers, pydantic, pyarrow, scipy, yaml, tokenizers
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else "")
print("transformers", transformers.__version__)
import workbench.kernels as k; print("kernels triton available:", k.triton_available())
PY
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"

# 1. Correctness on CUDA: engine on cuda (Triton token_stats) == engine on cpu; one-pass == generate.
timeout 200 python3 -m pytest -q -p no:cacheprovider tests/test_probes_gpu.py tests/test_probes_units.py \
  -k "not cli" 2>&1 | tee "$OUT/gpu_tests.log" | tail -5

# 2. Benchmark, tiny synthetic GPT-2 (the CPU run's model), extraction 8/8 tokens: pipeline vs per-sample generate.
timeout 150 python3 benchmarks/bench_probes.py --device cuda --workdir /tmp/bp-tiny --repeat 3 \
  --json "$OUT/bench_tiny.json" 2>&1 | grep -E "^(extraction|scores):"

# 3. Benchmark, GPT-2-small-shaped model (12 layers, 768 wide, trained on the synthetic corpus), 16/16 tokens.
timeout 240 python3 benchmarks/bench_probes.py --device cuda --workdir /tmp/bp-base --n-layer 12 --n-embd 768 \
  --epochs 20 --lr 3e-4 --repeat 3 --prefix-len 16 --suffix-len 16 --json "$OUT/bench_base.json" 2>&1 \
  | grep -E "^(extraction|scores):"
ls -l "$OUT"

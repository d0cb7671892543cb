#!/usr/bin/env bash
# GPU check for workbench.kernels: correctness of the compiled Triton kernels + benchmark.
# Run from the repo root on a CUDA machine (lent H100/H200: plain `python3` has torch + triton).
# Budget: about 3-5 minutes (first Triton compiles ~30 s; naive baseline at V=152k needs ~55 GB).
# Results: $OUT/kernels-tests.log, $OUT/bench_kernels_{bf16,fp32}.{log,json}
set -uo pipefail
PY=${PY:-python3}
OUT=${OUT:-/tmp/kernels-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 TRITON_DEFAULT_FP_FUSION=1
# workbench.kernels without installing the project (its full dependency set is not on the GPU image):
# a shim package holding workbench/__init__.py and kernels/ as workbench/kernels.
SHIM=$(mktemp -d)
mkdir -p "$SHIM/workbench" && cp workbench/__init__.py "$SHIM/workbench/" && cp -r kernels "$SHIM/workbench/kernels"
export PYTHONPATH="$SHIM${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
$PY -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"
# 1. tests: compiled kernels vs torch reference vs naive (test_gpu_*), plus the CPU/interpreter tests.
#    Run from tests/ so that the repo's workbench/ folder does not shadow the shim.
(cd tests && timeout 300 $PY -m pytest -q -p no:cacheprovider -rs test_kernels.py) 2>&1 | tee "$OUT/kernels-tests.log"
# 2. benchmark: 8 x 2048 = 16384 token positions, V = 50257 and 151936; kernel vs torch reference vs naive
#    log_softmax, achieved read bandwidth as a fraction of the measured device-to-device copy bandwidth,
#    plus a sweep of tile size / warps (pick the best and set it in kernels/_token_stats_triton.py).
timeout 300 $PY benchmarks/bench_kernels.py --device cuda --rows 16384 --dtype bf16 --sweep \
    --json "$OUT/bench_kernels_bf16.json" 2>&1 | tee "$OUT/bench_kernels_bf16.log"
timeout 200 $PY benchmarks/bench_kernels.py --device cuda --rows 16384 --dtype fp32 \
    --json "$OUT/bench_kernels_fp32.json" 2>&1 | tee "$OUT/bench_kernels_fp32.log"
rm -rf "$SHIM"

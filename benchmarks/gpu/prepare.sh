#!/usr/bin/env bash
# Run HERE (the CPU machine) before the one GPU call: the lent GPU image has torch, transformers,
# accelerate, triton and pyarrow but not pydantic, which the detectors' and probes' configs need.
# Downloads its wheels into .whl/ (git-ignored via .git/info/exclude), to be carried with the call.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 -d .whl \
  pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
ls -l .whl

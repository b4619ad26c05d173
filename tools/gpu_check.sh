#!/usr/bin/env bash
# The checks only a GPU machine can make, in one short run (under 10 minutes): the CUDA-only
# tests (a training step in fp32 and bf16, channels-last, fp16 with a GradScaler, FSDP on one
# GPU), then the training and sampling throughput benchmarks on the GPU. Prints a summary.
# Usage (from the repository root, in an environment with patchgen installed):
#   bash tools/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$(mktemp -d)}"
summary=()
run() {  # run NAME COMMAND...: log to $OUT/NAME.log, record pass/fail and seconds
  local name="$1" began=$SECONDS
  shift
  if "$@" > "$OUT/$name.log" 2>&1; then
    summary+=("PASS  $name  $((SECONDS - began)) s")
  else
    summary+=("FAIL  $name  $((SECONDS - began)) s  (log: $OUT/$name.log)")
  fi
}

python -c 'import torch; assert torch.cuda.is_available(), "no CUDA GPU"; print(torch.cuda.get_device_name())' \
  || { echo "gpu_check: no CUDA GPU here"; exit 2; }
run cuda_tests python -m pytest -q -rs tests/test_cuda.py tests/test_fast_path.py
run train_throughput python benchmarks/train_throughput.py --device cuda --resolutions 32 64 \
  --steps 10 --loss-steps 20 --json
run sampling_throughput python benchmarks/sampling_throughput.py --device cuda --json

echo "gpu check of $(git rev-parse --short HEAD) on $(python -c 'import torch; print(torch.cuda.get_device_name())'), logs in $OUT:"
printf '%s\n' "${summary[@]}"
tail -n 2 "$OUT/cuda_tests.log"
grep -E 'patch vs full|total time' "$OUT/train_throughput.log"
grep -E 'images/s|total' "$OUT/sampling_throughput.log" | head -n 5

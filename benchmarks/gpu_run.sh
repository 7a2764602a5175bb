#!/usr/bin/env bash
# The prepared GPU benchmark: one call does it (the device tool's `run`, from the repository root):
#   bash benchmarks/gpu_run.sh        # results under $OUT (the device tool's folder), else results/gpu
# 1. the machine: nvidia-smi, torch's CUDA build and device;
# 2. bench_train: scratch against torch-cpu, torch-cuda and torch-cuda under torch.compile (default and
#    reduce-overhead modes; every torch worker holds the dataset on its device), step, eval, epoch, peak;
# 3. the 10-epoch `scratchnet train --engine torch --device cuda --resident --compile reduce-overhead`.
# Data: $SCRATCH_DATA_DIR, else shared/data or ../shared/data when present, else scikit-learn's digits.
# Each step logs to its own file and a failed step does not stop the next.
set -uo pipefail
out=${OUT:-results/gpu}
mkdir -p "$out"
export PYTHONPATH=.
py=${PYTHON:-python3}
data=${SCRATCH_DATA_DIR:-}
for d in shared/data ../shared/data; do
    [[ -z "$data" && -d "$d/FashionMNIST" ]] && data=$d
done
if [[ -n "$data" ]]; then
    export SCRATCH_DATA_DIR=$data
    dataset=fashion-mnist
else
    dataset=digits
fi
echo "date: $(date -u +%FT%TZ); data: ${data:-none} ($dataset)" | tee "$out/gpu_run.log"

{ nvidia-smi; $py -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))"; } \
    > "$out/machine.txt" 2>&1 || echo "machine probe failed" | tee -a "$out/gpu_run.log"

timeout 420 $py -m benchmarks.bench_train --rounds 2 --torch-devices cpu,cuda --torch-compile default,reduce-overhead \
    --dataset "$dataset" --out "$out/bench_train_gpu.json" > "$out/bench_train_gpu.md" 2>&1 \
    || echo "bench_train failed (rc $?)" | tee -a "$out/gpu_run.log"

timeout 300 $py -c "import sys; from scratch.cli import main; sys.exit(main(sys.argv[1:]))" train --engine torch --device cuda --resident --compile reduce-overhead \
    --epochs 10 --dataset "$dataset" --no-progress --out "$out/train_cuda" > "$out/train_cuda.log" 2>&1 \
    || echo "scratchnet train failed (rc $?)" | tee -a "$out/gpu_run.log"

tail -n 40 "$out/bench_train_gpu.md" "$out/train_cuda.log"

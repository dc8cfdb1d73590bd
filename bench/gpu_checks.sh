#!/usr/bin/env bash
# Every benchmark's GPU figures in one call, for a lent GPU machine that has PyTorch and torchvision but
# no internet and no dd_tune install (the benchmarks import neither Ray, Optuna nor fvcore).
#
#   make gpu-data                        # here: MNIST's four .gz files into .gpu_data/ (git-ignored, 11 MB)
#   bash bench/gpu_checks.sh [.gpu_data] # there: carry .gpu_data; results in $OUT (or bench_gpu_out/)
#
# Knobs (environment): DEVICE (cuda; cpu for a dry run), PYTHON (python3), EPOCHS (evaluation epochs per
# run, 50), STEPS (timed steps per step benchmark, 10), STACKED (K models at once, 8; 0 skips), CIFAR (1:
# the CIFAR-10 step at the authors' settings; 0 skips), STUDY (1: a smoke study on the GPU where Ray and Optuna
# are installed, whose report must name the CUDA device every job ran on; 0 skips).
# CIFAR-10: the real batches when $src/cifar-10-batches-py holds them, else generated data in the same
# layout (tests/cifar_files.py): step and epoch times depend on shapes, not pixels, so they hold either way.
# Each benchmark writes its own file, so a run cut short by its time limit still returns what finished.
set -euo pipefail

src=${1:-.gpu_data}
out=${OUT:-bench_gpu_out}
device=${DEVICE:-cuda}
py=${PYTHON:-python3}
epochs=${EPOCHS:-50}
steps=${STEPS:-10}
stacked=${STACKED:-8}
cifar=${CIFAR:-1}

if ! ls "$src"/MNIST/raw/*.gz >/dev/null 2>&1; then
    echo "error: no MNIST .gz files in $src/MNIST/raw: run 'make gpu-data' where the data is, and carry .gpu_data" >&2
    exit 2
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT  # the unpacked copy is ours alone
mkdir -p "$root/MNIST/raw" "$out"
for f in "$src"/MNIST/raw/*.gz; do
    gunzip -c "$f" >"$root/MNIST/raw/$(basename "${f%.gz}")"
done
export DD_TUNE_DATA=$root PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}

{
    date -u
    git rev-parse --short HEAD 2>/dev/null || true
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
    "$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
} | tee "$out/machine.txt"

run() {  # name, command...: one benchmark, its output kept even when it fails
    local name=$1
    shift
    echo "== $name: $*"
    "$@" 2>&1 | tee "$out/$name.txt" || echo "!! $name failed (exit ${PIPESTATUS[0]})" | tee -a "$out/$name.txt"
}

run evaluate "$py" bench/evaluate.py --device "$device" --epochs "$epochs" --test-images 10000 --stacked "$stacked"
run dm_step "$py" bench/dm_step.py --device "$device" --steps "$steps"
run datadam_code "$py" bench/datadam_step.py --device "$device" --preset code --steps "$steps"
run datadam_paper "$py" bench/datadam_step.py --device "$device" --preset paper --steps "$steps"
run pad_step "$py" bench/pad_step.py --device "$device" --steps "$steps"

if [ "$cifar" = 1 ]; then  # CIFAR-10 at the studies' default settings (dm/datadam/pad_cifar10)
    if [ -d "$src/cifar-10-batches-py" ]; then
        cp -r "$src/cifar-10-batches-py" "$root/" && echo "CIFAR-10: the real batches" | tee -a "$out/machine.txt"
    else
        "$py" -c "import sys; sys.path.insert(0, 'tests'); from cifar_files import write_cifar; write_cifar('$root')"
        echo "CIFAR-10: generated in its layout (timings only)" | tee -a "$out/machine.txt"
    fi
    run cifar_dm_step "$py" bench/dm_step.py --dataset cifar10 --ipc 10 --device "$device" --steps "$steps"
    run cifar_datadam_step "$py" bench/datadam_step.py --dataset cifar10 --ipc 10 --batch-real 64 --preset code \
        --device "$device" --steps "$steps"
    run cifar_pad_step "$py" bench/pad_step.py --dataset cifar10 --ipc 10 --syn-steps 80 --device "$device" --steps "$steps"
    run cifar_pad_step_ipc50 "$py" bench/pad_step.py --dataset cifar10 --ipc 50 --syn-steps 80 --device "$device" --steps 2
    run cifar_expert_epoch "$py" bench/expert_epoch.py --dataset cifar10 --images 0 --device "$device"
fi

# The study path on a real GPU, where the machine has dd_tune's dependencies (Ray, Optuna): a smoke study
# whose trials, expert tasks and evaluation jobs must say "cuda:0 (<GPU>)" where they ran (STUDY=0 skips).
if [ "${STUDY:-1}" = 1 ] && "$py" -c "import ray, optuna, fvcore" 2>/dev/null; then
    run smoke_study_gpu "$py" -m dd_tune.study dm_mnist --profile smoke --storage "$root/runs" --data-root "$root"
    "$py" - "$root/runs/dm_mnist/report.json" <<'PY' 2>&1 | tee "$out/smoke_study_devices.txt"
import json, sys
report = json.load(open(sys.argv[1]))
for ipc, row in report["by_ipc"].items():
    print("IPC", ipc, "trials:", sorted({(t.get("device"), t.get("gpu_share")) for t in row["trials"]}))
    print("IPC", ipc, "evaluation jobs:", row.get("job_places"))
print("expert stage:", (report.get("expert_stage") or {}).get("places"))
PY
fi

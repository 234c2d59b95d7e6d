#!/bin/bash
# The GPU checks of one device session, in one script (run from the repo root on the GPU machine,
# with .whl built by ../shared/device/fetch-wheels.sh carried along). Writes every table to $OUT.
#   1. bench/gpu_check.py       energy: counter vs sampler, square waves, idle/settle, pair attribution, overhead
#   2. bench/subjects_gpu.py    the five reference subjects briefly on CUDA through the energy wrapper
#   3. a tiny study (bench/gpu_study.yaml) through Snakemake with --resources gpu=1
#   4. only with CPU_OVERHEAD_ARGS set: bench/overhead.py (the CPU wrapper overhead) on this host's CPUs
#   5. bench/marks_overhead.py --gpu-sum: per-epoch GPU energies (counter read at phase marks) vs the
#      counter total and the sampled-power integral (issue 12; skip with SKIP_PHASES, limit PHASES_S)
# Environment: GPU_CHECK_S / GPU_CHECK_ARGS, SKIP_SUBJECTS / SUBJECTS_S, SKIP_STUDY / STUDY_S,
# CPU_OVERHEAD_ARGS / CPU_OVERHEAD_S (time limits in seconds).
set -u
OUT=${OUT:-/tmp/greenhp-device-out}; mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH || exit 1
fi
export PYTHONPATH=$PWD/src:${PYTHONPATH:-} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,power.limit,persistence_mode --format=csv | tee "$OUT/gpu.txt"
echo "== gpu_check"; timeout -k 5 ${GPU_CHECK_S:-270} python3 bench/gpu_check.py --out "$OUT/gpu_check.md" ${GPU_CHECK_ARGS:-} 2>&1 | tee "$OUT/gpu_check.log"
[ -n "${SKIP_SUBJECTS:-}" ] || echo "== subjects_gpu"; [ -n "${SKIP_SUBJECTS:-}" ] || timeout -k 5 ${SUBJECTS_S:-150} python3 bench/subjects_gpu.py 2>&1 | tee "$OUT/subjects_gpu.md"
if [ -z "${SKIP_STUDY:-}" ]; then
  echo "== gpu study"; rm -rf /tmp/gs; mkdir -p /tmp/gs
  timeout -k 5 ${STUDY_S:-110} snakemake --snakefile "$PWD/Snakefile" --directory /tmp/gs --configfile "$PWD/bench/gpu_study.yaml" \
    --cores 4 --resources gpu=1 2>&1 | tail -25 | tee "$OUT/gpu_study.log"
  cp /tmp/gs/results/runs.tsv "$OUT/gpu_study_runs.tsv" 2>/dev/null
  f=$(ls /tmp/gs/results/runs/pair/*/*/rep1.json 2>/dev/null | head -1); [ -n "$f" ] && cp "$f" "$OUT/gpu_study_pair_record.json"
fi
if [ -n "${CPU_OVERHEAD_ARGS:-}" ]; then
  echo "== cpu overhead"; { grep -m1 "model name" /proc/cpuinfo; echo "cpus $(nproc)"; } | tee "$OUT/cpu.txt"
  # shellcheck disable=SC2086  # the arguments are meant to split
  timeout -k 5 ${CPU_OVERHEAD_S:-200} python3 bench/overhead.py $CPU_OVERHEAD_ARGS 2>&1 | tee "$OUT/cpu_overhead.md"
fi
if [ -z "${SKIP_PHASES:-}" ]; then
  echo "== phases gpu"; timeout -k 5 ${PHASES_S:-90} python3 bench/marks_overhead.py --gpu-sum --out "$OUT/phases_gpu.md" \
    --record "$OUT/phases_gpu_record.json" 2>&1 | tail -15
fi
echo "done"

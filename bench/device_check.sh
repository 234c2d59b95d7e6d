#!/bin/bash
# The GPU checks of one device session, in one command of at most 10 minutes (run from the repo root
# on the GPU machine). Before the call, here:  bash ../shared/device/fetch-wheels.sh  (snakemake)
# and  bash bench/fetch-peer-wheels.sh  (CodeCarbon, Zeus: optional, ~22 MB); carry .whl.
# The device tool's command is then:   bash bench/device_check.sh
# It writes every table to $OUT:
#   1. the GPU study (bench/gpu_study.yaml, 24 runs) through snakemake --cores 8 --resources gpu=1,
#      then snakemake --report, then bench/gpu_study_check.py: every record nvml_counter, training GPU
#      verdict match, pair shares = device total, report built, wall time <= 6 min, efficiency and
#      per-run fixed cost                                        -> gpu_study_check.md, gpu_study.log
#   2. bench/peers.py on CUDA: plain / greenhp measure / CodeCarbon / Zeus -> peers_gpu.md
#   3. bench/marks_overhead.py --gpu-sum: per-epoch GPU energies (counter read at phase marks) vs the
#      counter total and the sampled-power integral (issue 12)   -> phases_gpu.md (SKIP_PHASES=1 skips)
#   4. only when asked: bench/gpu_check.py (RUN_GPU_CHECK=1), bench/subjects_gpu.py (RUN_SUBJECTS=1),
#      bench/overhead.py on this host's CPUs (CPU_OVERHEAD_ARGS="...")
# Time limits (s): STUDY_S (420), PEERS_S (150; PEERS_ARGS, default "--seconds 10 --rounds 2"), PHASES_S (60),
# GPU_CHECK_S / GPU_CHECK_ARGS, SUBJECTS_S, CPU_OVERHEAD_S. SKIP_STUDY=1 / SKIP_PEERS=1 skip a part.
# STUDY_CONFIG and PEERS_DEVICE (cpu) exist to try the script's plumbing on a machine without a GPU.
# At most 8 files come back from $OUT: the default run writes 8.
set -u
OUT=${OUT:-/tmp/greenhp-device-out}; mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH || exit 1
fi
export PYTHONPATH=$PWD/src:${PYTHONPATH:-} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,power.limit,persistence_mode --format=csv | tee "$OUT/gpu.txt"
if [ -z "${SKIP_STUDY:-}" ]; then
  echo "== gpu study"; S=/tmp/gs; rm -rf "$S"; mkdir -p "$S"
  SMK=(snakemake --snakefile "$PWD/Snakefile" --directory "$S" --configfile "$PWD/${STUDY_CONFIG:-bench/gpu_study.yaml}" --cores 8)
  t0=$(date +%s.%N)
  timeout -k 5 "${STUDY_S:-420}" "${SMK[@]}" --resources gpu=1 > "$OUT/gpu_study.log" 2>&1; echo "snakemake rc $?"
  t1=$(date +%s.%N)
  timeout -k 5 60 "${SMK[@]}" --report "$S/results/report.html" >> "$OUT/gpu_study.log" 2>&1; echo "report rc $?"
  t2=$(date +%s.%N)
  tail -5 "$OUT/gpu_study.log"
  python3 bench/gpu_study_check.py "$S" --wall-s "$(python3 -c "print($t1 - $t0)")" --report-s "$(python3 -c "print($t2 - $t1)")" \
    --out "$OUT/gpu_study_check.md"; echo "study checks rc $?"
  cp "$S/results/runs.tsv" "$OUT/gpu_study_runs.tsv" 2>/dev/null
  f=$(ls "$S"/results/runs/pair/*/*/rep1.json 2>/dev/null | head -1); [ -n "$f" ] && cp "$f" "$OUT/gpu_study_pair_record.json"
  cp "$S/.greenhp/gpu_baselines.json" "$OUT/gpu_baselines.json" 2>/dev/null
fi
if [ -z "${SKIP_PEERS:-}" ]; then
  echo "== peers"
  # shellcheck disable=SC2086  # the arguments are meant to split
  timeout -k 5 "${PEERS_S:-150}" python3 bench/peers.py --device "${PEERS_DEVICE:-cuda}" ${PEERS_ARGS:---seconds 10 --rounds 2} \
    --out "$OUT/peers_gpu.md" 2>&1 | grep -v "amd_smi\|amdsmi" | tail -12
fi
if [ -n "${RUN_GPU_CHECK:-}" ]; then
  echo "== gpu_check"; timeout -k 5 "${GPU_CHECK_S:-270}" python3 bench/gpu_check.py --out "$OUT/gpu_check.md" ${GPU_CHECK_ARGS:-} 2>&1 | tee "$OUT/gpu_check.log"
fi
if [ -n "${RUN_SUBJECTS:-}" ]; then
  echo "== subjects_gpu"; timeout -k 5 "${SUBJECTS_S:-150}" python3 bench/subjects_gpu.py 2>&1 | tee "$OUT/subjects_gpu.md"
fi
if [ -n "${CPU_OVERHEAD_ARGS:-}" ]; then
  echo "== cpu overhead"; { grep -m1 "model name" /proc/cpuinfo; echo "cpus $(nproc)"; } | tee "$OUT/cpu.txt"
  # shellcheck disable=SC2086  # the arguments are meant to split
  timeout -k 5 "${CPU_OVERHEAD_S:-200}" python3 bench/overhead.py $CPU_OVERHEAD_ARGS 2>&1 | tee "$OUT/cpu_overhead.md"
fi
if [ -z "${SKIP_PHASES:-}" ]; then
  echo "== phases gpu"; timeout -k 5 "${PHASES_S:-60}" python3 bench/marks_overhead.py --gpu-sum --out "$OUT/phases_gpu.md" \
    --record /tmp/phases_gpu_record.json 2>&1 | tail -15
fi
echo "done"

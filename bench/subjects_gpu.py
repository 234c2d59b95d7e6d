"""GPU check of the five reference subjects: each trains briefly on stand-in data through the child.

    PYTHONPATH=src python bench/subjects_gpu.py [--subjects mnist_cnn,resnet20] [--out DIR]

Each subject runs as ``python -m greenhp.train`` (the same child the workflow starts), on CUDA, with
stand-in data (``data.source: standin``, full stand-in size) and a few epochs / capped steps (table
below), wrapped by ``greenhp.energy.measure_command`` when that package is importable (GPU joules from
NVML), else timed only. Prints one Markdown table: subject, device, seconds, status, metric, GPU J, and whether the
measured GPU's UUID is the one torch trained on.
Also checks that the hyperparameters the child reports as used equal the requested ones
(status ``mismatch`` otherwise). Exits 2 when there is no CUDA device; 1 when a run is not ok.
Budget: well under 3 minutes on one H100 (most of it is process start-up and CUDA init).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

# subject -> (hyperparameter overrides of the defaults, max_steps per epoch)
PLAN = {
    "mnist_cnn": ({"epochs": 2}, None),          # 6000 stand-in images: ~94 steps/epoch
    "mnist_ff": ({"epochs": 100}, None),         # 100 full-batch steps per layer on 6000 images
    "siamese": ({"epochs": 1}, 60),
    "resnet20": ({"epochs": 2}, None),           # 5000 stand-in images: ~40 steps/epoch
    "hrnet18_reid": ({"epochs": 2}, None),       # 384 stand-in crops, 256x128: 12 steps/epoch
}
PER_RUN_TIMEOUT_S = 90


def child_argv(req: Path, res: Path) -> list[str]:
    # coreutils timeout bounds each run, measured or not
    return ["timeout", str(PER_RUN_TIMEOUT_S), sys.executable, "-m", "greenhp.train", "--request", str(req), "--result", str(res)]


def run_one(name: str, workdir: Path) -> dict:
    from greenhp.subjects import get_subject

    overrides, max_steps = PLAN[name]
    hp = {**get_subject(name).defaults, **overrides}
    req, res, energy_out = workdir / f"{name}.request.json", workdir / f"{name}.result.json", workdir / f"{name}.energy.json"
    req.write_text(json.dumps({
        "subject": name, "hp": hp, "seed": 0, "device": "cuda", "threads": 0, "max_steps": max_steps,
        "data": {"root": str(workdir / "data"), "download": False, "source": "standin", "scale": "full"},
    }))
    argv = child_argv(req, res)
    gpu_j, measured_uuid = None, None
    start = time.perf_counter()
    try:
        from greenhp.energy import EnergyConfig, measure_command
    except ImportError:
        measure_command = None
    if measure_command is not None:
        code = measure_command(argv, energy_out, EnergyConfig(gpu_meter="auto", cpu_meter="auto"))
        try:
            energy = json.loads(energy_out.read_text())["energy"]
            gpu_j = energy["gpu"].get("energy_j")
            measured_uuid = (energy["environment"].get("gpu") or {}).get("uuid")
        except (OSError, KeyError, ValueError, TypeError):
            gpu_j = None
    else:
        # MEASURE HERE: greenhp.energy is not importable; plain timing only (no GPU joules).
        import subprocess

        code = subprocess.call(argv)
    seconds = time.perf_counter() - start
    try:
        result = json.loads(res.read_text())
    except (OSError, ValueError):
        result = {"status": "failed", "reason": f"exit code {code}, no result (timeout {PER_RUN_TIMEOUT_S}s?)"}
    status = result.get("status", "failed")
    if status == "ok":
        used = result.get("effective") or {}
        bad = [k for k, v in hp.items() if k not in used or not math.isclose(float(used[k]), float(v), rel_tol=1e-9)]
        if bad:
            status = "mismatch: " + ", ".join(bad)
    metric = result.get("metric_value")
    try:   # the runner's check: the measured NVML GPU is the CUDA device torch trained on
        from greenhp.energy.monitor import training_gpu_check
        same_gpu = training_gpu_check(measured_uuid, {"main": result.get("gpu_uuid")})["verdict"]
    except ImportError:
        same_gpu = "n/a"
    return {
        "subject": name, "device": result.get("device", "?"), "seconds": seconds, "status": status,
        "metric": f"{result.get('metric_name', '?')}={metric:.3f}" if isinstance(metric, (int, float)) else "-",
        "gpu_j": gpu_j, "reason": result.get("reason"), "same_gpu": same_gpu,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", default=",".join(PLAN), help="comma-separated subset of " + ", ".join(PLAN))
    parser.add_argument("--out", default=None, help="keep requests/results here (default: a temporary folder)")
    args = parser.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print("bench/subjects_gpu.py: no CUDA device visible to torch; run it on a GPU machine", file=sys.stderr)
        return 2
    names = [n.strip() for n in args.subjects.split(",") if n.strip()]
    unknown = [n for n in names if n not in PLAN]
    if unknown:
        parser.error(f"unknown subject(s) {', '.join(unknown)}; choose from {', '.join(PLAN)}")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.out or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        rows = [run_one(n, workdir) for n in names]
    print(f"\nGPU: {torch.cuda.get_device_name(0)}; stand-in data; plan: "
          + "; ".join(f"{n} {PLAN[n][0]} max_steps={PLAN[n][1]}" for n in names) + "\n")
    print("| subject | device | seconds | status | metric | GPU J | measured GPU = training GPU |")
    print("|---|---|---:|---|---|---:|---|")
    for r in rows:
        gpu = f"{r['gpu_j']:.0f}" if isinstance(r["gpu_j"], (int, float)) else "not measured"
        print(f"| {r['subject']} | {r['device']} | {r['seconds']:.1f} | {r['status']} | {r['metric']} | {gpu} | {r['same_gpu']} |")
    for r in rows:
        if r["reason"]:
            print(f"- {r['subject']}: {r['reason']}")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

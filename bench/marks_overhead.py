#!/usr/bin/env python
"""Phase marks: their overhead on training, and (on a GPU) per-epoch GPU energy against the counter.

    PYTHONPATH=src .venv/bin/python bench/marks_overhead.py [--repeats 6] [--epochs 60] [--device cpu]
    PYTHONPATH=src python bench/marks_overhead.py --gpu-sum [--out phases_gpu.md]     # GPU machine

Overhead: the same training (digits_mlp, ``--epochs`` epochs of batch 16, one torch thread) through
the run wrapper (greenhp.runner.execute) with phase marks on and off, alternating, side by side;
per pair the ratio of the training loop's seconds (the subject's own timer around its epochs, which
contains every mark the child writes) and of the child's CPU seconds, marks on / off. Target: median
ratio <= 1.01.

--gpu-sum (issue 12's device check): one subject on CUDA (mnist_cnn on stand-in data, 3 epochs) with
marks and a 20 Hz power timeline: (a) the phases' GPU energies (counter read at each mark) add up to
the whole-window counter total within 1 %; (b) the sum of the per-epoch GPU energies (counter) against
the sampled-power integral over the same epochs (an independent instrument; target <= 2 %, as the
counter-vs-integral check of bench/gpu_check.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from greenhp.mutation import Mutant  # noqa: E402
from greenhp.runner import RunSpec, execute  # noqa: E402
from greenhp.subjects import resolve  # noqa: E402


def spec_for(subject: str, hp: dict, device: str, marks: bool, energy: dict, data: dict | None = None) -> RunSpec:
    s = resolve(subject, {})
    m = Mutant(f"{subject}__original", subject, "none", "none", None, None, {**s.defaults, **hp})
    return RunSpec(mode="single", mutant=m, repetition=1, seed=1, device=device, threads=1,
                   energy=energy, marks=marks, data=data or {})


def run(spec: RunSpec, tmp: Path, tag: str) -> dict:
    out = tmp / f"{tag}.json"
    return execute(spec, out, {"main": str(tmp / f"{tag}.log")})


def per_mark_cost(n: int = 5000) -> tuple[float, float]:
    """Seconds per mark: (child side: MarkWriter.mark into the pipe; wrapper side: the listener's
    parse + EnergyMonitor.mark reading every meter, here the CPU-time estimate from /proc)."""
    import threading
    import time

    from greenhp.energy import EnergyConfig, EnergyMonitor
    from greenhp.marks import MarkGate, MarkListener, MarkWriter, open_channel

    mon = EnergyMonitor(EnergyConfig(gpu_meter="none", cpu_meter="estimate"))
    mon.begin()
    mon.track(os.getpid(), "main")
    done = threading.Event()
    spent = [0.0]

    def on_mark(label, name, **info):
        t = time.thread_time()
        mon.mark(label, name, **info)
        spent[0] += time.thread_time() - t

    r, w = open_channel()
    lst = MarkListener(r, "main", on_mark, MarkGate(cap=n))  # every mark accepted: each reads the meters
    lst.start()
    wr = MarkWriter(w)
    t0 = time.thread_time()
    for i in range(n):
        wr.mark("epoch", epoch=i + 1, epochs=n, metric_name="test_accuracy", metric=0.9, loss=0.1)
    child = (time.thread_time() - t0) / n
    os.close(w)
    lst.join()
    done.set()
    mon.end(cpu_seconds={"main": 1.0})
    assert lst.received == n
    return child, spent[0] / n


def check_cost(n: int = 20000) -> tuple[float, float]:
    """Seconds per line of the wrapper's check at entry (greenhp.marks.MarkGate): an accepted epoch
    mark, and one over the cap (counted, never read against the meters)."""
    import json
    import time

    from greenhp.marks import MarkGate

    lines = [json.dumps({"name": "epoch", "t": time.time(), "epoch": i + 1, "epochs": n, "metric_name": "test_accuracy",
                         "metric": 0.9, "loss": 0.1}).encode() for i in range(n)]
    out = []
    for cap in (n, 0):
        gate, t = MarkGate(n, cap=cap), time.thread_time()
        for line in lines:
            gate.admit(line)
        out.append((time.thread_time() - t) / n)
    return out[0], out[1]


def overhead(a) -> int:
    child_s, wrapper_s = per_mark_cost()
    accept_s, over_s = check_cost()
    print(f"per mark: child {1e6 * child_s:.1f} us CPU (json + one pipe write), wrapper "
          f"{1e6 * wrapper_s:.1f} us CPU (read every meter) + {1e6 * accept_s:.1f} us (the check at entry); "
          f"a mark over the cap: {1e6 * over_s:.1f} us (checked and counted only)\n")
    rows = []
    with tempfile.TemporaryDirectory(prefix="greenhp-marks-") as d:
        tmp = Path(d)
        hp = {"epochs": a.epochs, "batch_size": 16}
        energy = {"gpu_meter": "none", "cpu_meter": "estimate"}
        run(spec_for("digits_mlp", hp, a.device, True, energy), tmp, "warmup")
        for i in range(a.repeats):
            order = (True, False) if i % 2 == 0 else (False, True)
            got = {}
            for marks in order:
                rec = run(spec_for("digits_mlp", hp, a.device, marks, energy), tmp, f"r{i}-{marks}")
                assert rec["status"] == "ok", rec.get("reason")
                ph = (rec["energy"].get("phases") or {}).get("main") or {}
                got[marks] = (rec["timing"]["train_seconds"], rec["timing"]["cpu_seconds"]["main"],
                              len(ph.get("epochs") or []))
            (t_on, c_on, n_on), (t_off, c_off, n_off) = got[True], got[False]
            assert n_on == a.epochs and n_off == 0, (n_on, n_off)
            rows.append((i, t_off, t_on, t_on / t_off, c_off, c_on, c_on / c_off))
    print(f"marks overhead: digits_mlp, {a.epochs} epochs (batch 16, {a.epochs} epoch marks + 4 others), "
          f"device {a.device}, {a.repeats} pairs (order alternating)\n")
    print("| pair | train s off | train s on | ratio | child CPU s off | on | ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for i, t0, t1, r, c0, c1, rc in rows:
        print(f"| {i} | {t0:.3f} | {t1:.3f} | {r:.4f} | {c0:.2f} | {c1:.2f} | {rc:.4f} |")
    med_t = statistics.median(r[3] for r in rows)
    med_c = statistics.median(r[6] for r in rows)
    print(f"\nmedian ratio (marks on / off): training seconds {med_t:.4f}, child CPU seconds {med_c:.4f} "
          f"(target <= 1.01): {'PASS' if med_t <= 1.01 else 'ABOVE TARGET'}")
    n_marks = a.epochs + 4
    t_train = statistics.median(r[1] for r in rows)
    bound = n_marks * (child_s + wrapper_s) / t_train
    print(f"upper bound from the per-mark cost: {n_marks} marks x ({1e6 * child_s:.1f} + {1e6 * wrapper_s:.1f}) us "
          f"/ {t_train:.2f} s of training = {100 * bound:.3f} % (ratio {1 + bound:.5f}, even if the wrapper's "
          "share ran on the training's core)")
    return 0


def gpu_sum(a) -> int:
    try:
        import torch
        if not torch.cuda.is_available():
            raise RuntimeError("torch.cuda.is_available() is False")
    except Exception as e:
        print(f"no GPU: {e}")
        return 2
    from greenhp.energy.sampler import trapezoid_j

    lines = []
    with tempfile.TemporaryDirectory(prefix="greenhp-phases-gpu-") as d:
        tmp = Path(d)
        energy = {"gpu_meter": "nvml", "cpu_meter": "auto", "sample_hz": 20.0, "timeline": True}
        data = {"root": str(tmp / "data"), "source": "standin", "scale": "full"}
        spec = spec_for("mnist_cnn", {"epochs": a.gpu_epochs}, "cuda", True, energy, data)
        rec = run(spec, tmp, "mnist")
        g = rec["energy"]["gpu"]
        ph = rec["energy"]["phases"]["main"]
        total = g["energy_j"]
        s = sum(p["gpu_j"] for p in ph["phases"])
        tl = (tmp / "mnist.timeline.tsv").read_text().splitlines()[1:]
        samples = [(float(r.split("\t")[0]), float(r.split("\t")[1])) for r in tl if r.split("\t")[1]]
        tr = ph["training"]
        t0 = tr["start_s"]
        epochs_j = [e["gpu_j"] for e in ph["epochs"]]
        per_epoch = [b - a_ for a_, b in zip([0.0] + epochs_j, epochs_j)]
        integral = trapezoid_j(samples, t0, t0 + tr["duration_s"])
        dis = 100 * (integral - epochs_j[-1]) / epochs_j[-1]
        lines += [f"phases GPU check: mnist_cnn (stand-in data, {a.gpu_epochs} epochs) on "
                  f"{rec['environment'].get('gpu_model')}, status {rec['status']}", "",
                  "| check | result | target | pass |", "|---|---|---|---|",
                  f"| sum of phases' GPU J vs counter total | {s:.1f} J vs {total:.1f} J "
                  f"({100 * (s - total) / total:+.3f} %) | <= 1 % | {'yes' if abs(s - total) <= 0.01 * total else 'NO'} |",
                  f"| per-epoch GPU J (counter at marks) | {', '.join(f'{x:.1f}' for x in per_epoch)} | all > 0 | "
                  f"{'yes' if all(x > 0 for x in per_epoch) else 'NO'} |",
                  f"| sum of per-epoch GPU J vs sampled-power integral over the epochs | {epochs_j[-1]:.1f} J vs "
                  f"{integral:.1f} J ({dis:+.2f} %) | <= 2 % | {'yes' if abs(dis) <= 2 else 'NO'} |",
                  f"| training window / whole run (GPU) | {tr['gpu_j']:.1f} J / {total:.1f} J, "
                  f"{tr['duration_s']:.1f} s / {rec['timing']['duration_s']:.1f} s | | |"]
        if a.record:
            Path(a.record).write_text(json.dumps(rec, indent=1))
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        Path(a.out).write_text(text)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--gpu-sum", action="store_true", help="the per-epoch GPU energy check (needs CUDA)")
    ap.add_argument("--gpu-epochs", type=int, default=3)
    ap.add_argument("--out", default=None, help="write the --gpu-sum table here")
    ap.add_argument("--record", default=None, help="keep the --gpu-sum run record here")
    a = ap.parse_args(argv)
    os.environ.setdefault("PYTHONPATH", str(ROOT / "src"))
    return gpu_sum(a) if a.gpu_sum else overhead(a)


if __name__ == "__main__":
    sys.exit(main())

"""Run the default study from scratch and report its efficiency.

    .venv/bin/python bench/study_efficiency.py [--configfile config.yaml] [--cores 2] [--keep DIR]

Runs `snakemake --cores N` (the same as `make study` minus the report) in an empty temporary working
directory, samples the memory of Snakemake's whole process tree every 0.2 s, and prints:
the study's wall time, the sum of its runs' durations (from results/runs.tsv), their ratio
(1.0 would mean no time outside measured training windows), and the peak memory of the process
tree at its worst moment, as a sum of PSS (each physical page once) and as a sum of RSS.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pss_bytes(pid: int) -> int:
    """Proportional set size: shared pages divided among the processes sharing them."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_memory_bytes(root_pid: int) -> tuple[int, int]:
    """(sum of RSS, sum of PSS) of ``root_pid`` and all its descendants, from /proc.

    The RSS sum counts a shared library once per process that maps it (two training processes
    share ~400 MB of torch's libraries); the PSS sum counts each physical page once.
    """
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            ppid, pages = int(fields[1]), int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = pages * os.sysconf("SC_PAGE_SIZE")
    total_rss, total_pss, stack = 0, 0, [root_pid]
    while stack:
        pid = stack.pop()
        total_rss += rss.get(pid, 0)
        total_pss += pss_bytes(pid)
        stack.extend(children.get(pid, []))
    return total_rss, total_pss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", default=str(ROOT / "config.yaml"))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", help="run in this directory (kept) instead of a temporary one")
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="greenhp-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    snakemake = Path(sys.executable).parent / "snakemake"
    cmd = [str(snakemake), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
           "--configfile", str(Path(args.configfile).resolve()), "--cores", str(args.cores)]
    start = time.monotonic()
    with open(work / "snakemake.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        peak_rss = peak_pss = 0
        while proc.poll() is None:
            rss, pss = tree_memory_bytes(proc.pid)
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            time.sleep(0.2)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        print(f"study failed (exit {proc.returncode}); see {work / 'snakemake.log'}", file=sys.stderr)
        return 1
    with open(work / "results" / "runs.tsv") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    durations = sum(float(r["duration_s"]) for r in rows)
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs; --cores {args.cores}")
    print(f"runs: {len(rows)} ({sum(r['mode'] == 'single' for r in rows)} single, {sum(r['mode'] == 'pair' for r in rows)} pair)")
    print(f"study wall time:        {wall:8.1f} s")
    print(f"sum of run durations:   {durations:8.1f} s")
    print(f"ratio wall / runs:      {wall / durations:8.2f}")
    print(f"peak memory, PSS sum:   {peak_pss / 2**30:8.2f} GiB  (physical memory of the process tree)")
    print(f"peak memory, RSS sum:   {peak_rss / 2**30:8.2f} GiB  (counts shared libraries once per process)")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

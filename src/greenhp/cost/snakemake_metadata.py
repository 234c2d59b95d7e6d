"""Snakemake's own record of each output file's job (``.snakemake/metadata``): a private format of
Snakemake, read here and nowhere else. When Snakemake changes it, this is the one module to change.

What greenhp takes from it: per output path, the job's ``rule``, ``starttime`` and ``endtime`` (Unix
seconds), as :func:`snakemake_jobs` returns them; greenhp.cost.footprint reads only those keys.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

#: where Snakemake keeps its metadata, relative to the working directory of the workflow
METADATA_DIR = ".snakemake/metadata"


def snakemake_jobs(metadata_dir: str | Path = METADATA_DIR) -> dict[str, dict]:
    """Snakemake's record of each output file, by output path: ``{"rule", "starttime", "endtime"}``.

    Read from ``.snakemake/metadata`` (one JSON file per output, named by its URL-safe base64 path;
    long names split into folders whose names start with ``@``). Empty when there is none; a file
    that is not such a record (unreadable, not JSON, no start or end time) is left out."""
    root = Path(metadata_dir)
    out: dict[str, dict] = {}
    if not root.is_dir():
        return out
    for dirpath, _, files in os.walk(root):
        for name in files:
            full = Path(dirpath) / name
            rel = full.relative_to(root).parts
            try:
                b64 = "".join(p[1:] if p.startswith("@") else p for p in rel)
                key = base64.urlsafe_b64decode(b64.encode()).decode()
                rec = json.loads(full.read_text())
            except (ValueError, OSError, UnicodeDecodeError):
                continue
            if isinstance(rec, dict) and rec.get("starttime") is not None and rec.get("endtime") is not None:
                out[key] = {"rule": rec.get("rule"), "starttime": rec["starttime"], "endtime": rec["endtime"]}
    return out

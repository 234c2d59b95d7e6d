"""``greenhp plan --estimate``: calibrate here (or read a calibration file), then predict the study."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from greenhp.cost.calibration import calibrate
from greenhp.cost.calibration_file import load_calibration_file
from greenhp.cost.model import Calibration
from greenhp.cost.predict import Estimate, predict


def estimate_study(config: dict, study, *, cores: int, gpus: int | None = None, calibration: str | None = None,
                   repeats: int = 1, reuse: bool = True, runs_dir: str | Path = "results/runs",
                   calib_dir: str | Path = "results/estimate/calibration",
                   log: Callable[[str], None] = lambda s: None) -> tuple[Estimate, Calibration]:
    """Calibrate (or read a calibration file) and predict ``study``."""
    from greenhp.study import detect_gpus

    if calibration:
        cal = load_calibration_file(calibration, config)
    else:
        cal = calibrate(config, study, cores=cores, runs_dir=runs_dir, calib_dir=calib_dir, repeats=repeats,
                        reuse=reuse, log=log)
    if gpus is None:
        gpus = detect_gpus() if cal.device == "cuda" and not calibration else (1 if cal.device == "cuda" else 0)
    return predict(config, study, cal, cores=cores, gpus=gpus), cal

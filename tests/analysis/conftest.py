"""Synthetic runs tables following the runs.tsv contract."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from greenhp.analysis.tables import REQUIRED_COLUMNS

ORIGINAL_HPS = {"epochs": 10.0, "lr": 1.0, "gamma": 0.7}
MUTANT_VALUES = {"epochs": [5.0, 8.0, 13.0, 15.0], "lr": [0.1, 0.3, 3.0], "gamma": [0.3, 0.9]}


def default_energy(hps: dict, mode: str) -> float:
    """Total energy (J): proportional to epochs; in pair mode 1.5x and changes amplified."""
    ratio = hps["epochs"] / ORIGINAL_HPS["epochs"]
    if mode == "pair":
        return 1500.0 * (1.0 + 1.5 * (ratio - 1.0))
    return 1000.0 * ratio


def default_accuracy(hps: dict, mode: str) -> float:
    return 0.95 - 0.05 * abs(math.log10(hps["lr"]))


def make_runs(subjects=("digits_cnn",), modes=("single",), reps=5, seed=0, original=None,
              mutants=None, energy=default_energy, accuracy=default_accuracy, noise=0.01,
              acc_noise=0.002, metric_name="accuracy", estimated=False, statuses=None,
              partner="other__original") -> pd.DataFrame:
    """One row per run. ``statuses``: {(mutant_id, rep): status} to mark runs not ok."""
    original = dict(ORIGINAL_HPS if original is None else original)
    mutants = MUTANT_VALUES if mutants is None else mutants
    rng = np.random.default_rng(seed)
    statuses = statuses or {}
    rows = []
    for subject in subjects:
        configs = [(f"{subject}__original", "none", "none", np.nan, np.nan, dict(original))]
        for h, values in mutants.items():
            for v in values:
                hps = dict(original, **{h: v})
                configs.append((f"{subject}__{h}__x{v:g}", h, "mutate", original[h], v, hps))
        for mode in modes:
            for mutant_id, h, op, orig, val, hps in configs:
                for rep in range(reps):
                    status = statuses.get((mutant_id, rep), "ok")
                    total = energy(hps, mode) * (1 + noise * rng.standard_normal())
                    acc = accuracy(hps, mode) + acc_noise * rng.standard_normal()
                    if status != "ok":
                        total, acc = np.nan, np.nan
                    gpu, cpu, dram = 0.8 * total, 0.15 * total, 0.05 * total
                    row = dict(
                        run_id=f"{mode}-{mutant_id}-{rep}", mode=mode, subject=subject,
                        mutant_id=mutant_id, hyperparameter=h, operator=op, original=orig,
                        value=val, repetition=rep, seed=1000 + rep,
                        partner=partner if mode == "pair" else np.nan, status=status,
                        duration_s=total / 50.0, gpu_energy_j=gpu, cpu_energy_j=cpu,
                        dram_energy_j=dram, total_energy_j=total,
                        gpu_method="nvml_counter",
                        cpu_method="estimate_cpu_time" if estimated else "rapl",
                        dram_method="rapl", energy_estimated=estimated,
                        total_domains="gpu+cpu+dram", gpu_net_energy_j=np.nan,
                        cpu_net_energy_j=np.nan, total_net_energy_j=np.nan,
                        gpu_share_j=0.5 * gpu if mode == "pair" else np.nan,
                        cpu_share_j=0.5 * cpu if mode == "pair" else np.nan,
                        total_share_j=0.5 * total if mode == "pair" else np.nan,
                        metric_name=metric_name, metric_value=acc,
                        accuracy=acc if metric_name == "accuracy" else np.nan,
                        energy_kwh=total / 3.6e6, co2e_g=total / 3.6e6 * 400,
                        device="cuda:0", gpu_model="H100", cpu_model="Xeon",
                    )
                    row.update({f"hp_{k}": v for k, v in hps.items()})
                    rows.append(row)
    df = pd.DataFrame(rows)
    assert set(REQUIRED_COLUMNS) <= set(df.columns)
    return df


@pytest.fixture
def runs_factory():
    return make_runs


@pytest.fixture
def runs():
    """Two subjects, single and pair mode, one failed run."""
    return make_runs(subjects=("digits_cnn", "mlp"), modes=("single", "pair"),
                     statuses={("digits_cnn__lr__x3", 0): "diverged"})

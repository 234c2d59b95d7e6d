"""Each subject trains a few steps on stand-in data at smoke scale through the child's entry point."""

from __future__ import annotations

import math

import pytest

from greenhp import train as child
from greenhp.subjects import REGISTRY

STANDIN_SMOKE = {"root": "unused", "download": False, "source": "standin", "scale": "smoke"}

# Small requested values (epochs kept low so the test is quick); every hyperparameter is requested
# explicitly and must come back as used. The 2-core CPU is slow: heavy models take one step per epoch.
CASES = {
    "mnist_cnn": {"epochs": 2, "lr": 0.5, "gamma": 0.6, "batch_size": 16},
    "mnist_ff": {"epochs": 3, "lr": 0.02, "threshold": 3.0, "batch_size": 200},
    "siamese": {"epochs": 2, "lr": 0.8, "gamma": 0.5, "batch_size": 8},
    "resnet20": {"epochs": 2, "lr": 0.1, "weight_decay": 2e-4, "batch_size": 16},
    "hrnet18_reid": {"epochs": 1, "lr": 0.03, "weight_decay": 1e-4, "batch_size": 4},
}
MAX_STEPS = {"siamese": 1, "hrnet18_reid": 1}


def request(subject: str, hp: dict, data: dict | None = None, max_steps: int | None = 2) -> dict:
    return {"subject": subject, "hp": hp, "seed": 3, "device": "cpu", "threads": 2,
            "data": dict(data or STANDIN_SMOKE), "max_steps": max_steps}


@pytest.mark.parametrize("name", sorted(CASES))
def test_subject_trains_and_reports_effective(name):
    hp = CASES[name]
    assert set(hp) == set(REGISTRY[name].defaults), "the case must request every hyperparameter"
    out = child.train(request(name, hp, max_steps=MAX_STEPS.get(name, 2)))
    assert out["status"] == "ok", out
    assert out["metric_name"] == REGISTRY[name].metric_name
    assert 0.0 <= out["metric_value"] <= 1.0
    for key, want in hp.items():
        assert math.isclose(float(out["effective"][key]), float(want), rel_tol=1e-9), (key, out["effective"])
    assert out["epochs_run"] == hp["epochs"]

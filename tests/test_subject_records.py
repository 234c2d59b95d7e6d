"""Every registered subject trains a few steps on its stand-in data through the workflow's run wrapper
(the same code path as the train_single rule) and writes a valid run record."""

import pytest

from greenhp.mutation import Mutant
from greenhp.record import load, validate
from greenhp.runner import RunSpec, execute
from greenhp.subjects import REGISTRY

REFERENCE_SUBJECTS = ["mnist_cnn", "mnist_ff", "siamese", "resnet20", "hrnet18_reid"]


@pytest.mark.parametrize("name", REFERENCE_SUBJECTS)
def test_subject_writes_valid_record(tmp_path, name):
    subject = REGISTRY[name]
    hp = dict(subject.defaults, epochs=1)
    mutant = Mutant(f"{name}__epochs__1", name, "epochs", "values", subject.defaults["epochs"], 1, hp)
    spec = RunSpec(mode="single", mutant=mutant, repetition=1, seed=3, device="cpu", threads=1,
                   data={"source": "standin", "scale": "smoke", "root": str(tmp_path / "data"), "download": False},
                   max_steps=2, timeout_s=240)
    out = tmp_path / "rep1.json"
    execute(spec, out, {"main": str(tmp_path / "main.log")})
    rec = load(out)
    validate(rec)
    assert rec["status"] == "ok", (tmp_path / "main.log").read_text()[-2000:]
    assert rec["metric"]["name"] == subject.metric_name
    assert {k: rec["effective"][k] for k in hp} == hp
    assert rec["energy"]["cpu"]["method"] in ("estimate_cpu_time", "rapl")
    assert "epoch 1/1" in (tmp_path / "main.log").read_text()

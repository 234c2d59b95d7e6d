"""The wrapper checks that the GPU it measures is the GPU the training used (by UUID), and records
the GPU energy as unavailable, with the other GPU's reading kept apart, when it is not."""

import json
import time
from types import SimpleNamespace

import pytest

from greenhp.energy import EnergyConfig, EnergyMonitor
from greenhp.energy.monitor import training_gpu_check

NVML_UUID = "GPU-0b42632a-bc5c-f731-724b-6936a19c4b24"
TORCH_SAME = "0b42632a-bc5c-f731-724b-6936a19c4b24"          # torch prints it without the prefix
TORCH_OTHER = "7d1f0c2e-0000-4a4a-9b9b-123456789abc"


@pytest.mark.parametrize("measured, training, verdict", [
    (NVML_UUID, {"main": TORCH_SAME}, "match"),
    (NVML_UUID, {"main": TORCH_SAME.upper()}, "match"),
    (NVML_UUID, {"main": TORCH_SAME, "partner": TORCH_SAME}, "match"),
    (NVML_UUID, {"main": TORCH_OTHER}, "mismatch"),
    (NVML_UUID, {"main": TORCH_SAME, "partner": TORCH_OTHER}, "mismatch"),
    ("MIG-0b42632a-bc5c-f731-724b-6936a19c4b24", {"main": TORCH_SAME}, "match"),
    (NVML_UUID, {"main": None}, "unknown"),           # trained on CPU, or torch could not say
    (NVML_UUID, {}, "unknown"),
    ("GPU-fake-0000", {"main": TORCH_SAME}, "unknown"),  # not a UUID: no verdict rather than a wrong one
    (None, {"main": TORCH_SAME}, "unknown"),
    (NVML_UUID, {"main": "b'\\x0bB'"}, "unknown"),
])
def test_training_gpu_verdicts(measured, training, verdict):
    check = training_gpu_check(measured, training)
    assert check["verdict"] == verdict
    if verdict == "mismatch":
        assert check["not_on_measured_gpu"] == sorted(k for k, v in training.items() if v == TORCH_OTHER)


def _window(mon, training_gpus, labels=("main",)):
    mon.begin()
    for i, lab in enumerate(labels):
        mon.track(10_000 + i, lab)
    time.sleep(1.1)
    return mon.end(cpu_seconds={lab: 0.5 for lab in labels}, training_gpus=training_gpus)


def test_measured_gpu_matches_training_gpu(make_nvml):
    mon = EnergyMonitor(EnergyConfig(cpu_meter="estimate", sample_hz=50), nvml=make_nvml(power=lambda t: 200.0,
                                                                                           uuid=NVML_UUID))
    r = _window(mon, {"main": TORCH_SAME})
    g = r["gpu"]
    assert g["method"] == "nvml_counter" and g["energy_j"] > 0
    assert g["training_gpu"]["verdict"] == "match"
    assert r["total"]["domains"] == ["gpu", "cpu"]


def test_other_gpu_is_not_counted(make_nvml):
    mon = EnergyMonitor(EnergyConfig(cpu_meter="estimate", sample_hz=50), nvml=make_nvml(power=lambda t: 200.0,
                                                                                           uuid=NVML_UUID))
    r = _window(mon, {"main": TORCH_SAME, "partner": TORCH_OTHER}, labels=("main", "partner"))
    g = r["gpu"]
    assert g["energy_j"] is None and g["method"] == "unavailable"
    assert "partner trained on" in g["reason"] and TORCH_OTHER in g["reason"] and NVML_UUID in g["reason"]
    assert g["other_gpu_j"] == pytest.approx(200 * r["window"]["duration_s"], rel=0.15)
    assert g["other_gpu_method"] == "nvml_counter"
    assert g["training_gpu"]["verdict"] == "mismatch"
    # nothing downstream counts it: total, net and the pair shares leave the GPU out
    assert r["total"]["domains"] == ["cpu"]
    assert r["net"]["gpu_j"] is None
    assert all(v["gpu_j"] is None for v in r["attribution"].values())


def test_no_training_info_keeps_the_reading(make_nvml):
    mon = EnergyMonitor(EnergyConfig(cpu_meter="none", sample_hz=50), nvml=make_nvml(uuid=NVML_UUID))
    r = _window(mon, None)
    assert r["gpu"]["method"] == "nvml_counter" and "training_gpu" not in r["gpu"]


def test_train_reports_the_cuda_uuid(monkeypatch):
    import torch

    from greenhp import train
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: SimpleNamespace(uuid=_TorchUuid()))
    assert train.cuda_uuid() == TORCH_SAME


def test_train_uuid_is_none_when_torch_cannot_say(monkeypatch):
    import torch

    from greenhp import train

    def no_cuda():
        raise RuntimeError("no CUDA")
    monkeypatch.setattr(torch.cuda, "current_device", no_cuda)
    assert train.cuda_uuid() is None


class _TorchUuid:
    """Like torch's _CUuuid: str() gives the UUID without NVML's GPU- prefix."""
    def __str__(self):
        return TORCH_SAME


def test_runner_records_a_gpu_mismatch(tmp_path, monkeypatch, make_nvml):
    """Through the workflow's run wrapper: a CPU digits run whose result claims another GPU's UUID
    (as a mis-set CUDA_VISIBLE_DEVICES would produce) gets no GPU energy, and the record validates."""
    from greenhp import runner
    from greenhp.mutation import Mutant
    from greenhp.record import load, validate
    from greenhp.subjects import REGISTRY

    nv = make_nvml(power=lambda t: 150.0, uuid=NVML_UUID)
    monkeypatch.setattr(runner, "EnergyMonitor", lambda cfg, **kw: EnergyMonitor(cfg, nvml=nv, **kw))
    real_outcome = runner.child_outcome
    monkeypatch.setattr(runner, "child_outcome", lambda c, t: {**real_outcome(c, t), "gpu_uuid": TORCH_OTHER})
    monkeypatch.setattr(runner, "detect_gpus", lambda: 0)
    subject = REGISTRY["digits_mlp"]
    hp = dict(subject.defaults, epochs=1)
    mutant = Mutant("digits_mlp__epochs__1", "digits_mlp", "epochs", "values", subject.defaults["epochs"], 1, hp)
    spec = runner.RunSpec(mode="single", mutant=mutant, repetition=1, seed=1, device="cpu", threads=1,
                          max_steps=2, timeout_s=120, energy={"cpu_meter": "estimate"})
    out = tmp_path / "rep1.json"
    runner.execute(spec, out, {"main": str(tmp_path / "main.log")})
    rec = load(out)
    validate(rec)
    assert rec["status"] == "ok"
    g = rec["energy"]["gpu"]
    assert g["energy_j"] is None and "is not the GPU that main trained on" in g["reason"]
    assert g["other_gpu_j"] > 0 and json.dumps(rec)  # strict JSON
    assert rec["energy"]["total"]["domains"] == ["cpu"]
    # the runs table names the card (the record's full snapshot is kept once, under energy)
    from greenhp.record import to_row
    row = to_row(rec)
    assert row["gpu_model"] == "Fake H100" and row["cpu_model"] == rec["energy"]["environment"]["cpu_model"]
    assert rec["environment"]["gpu_uuid"] == NVML_UUID and "versions" not in rec["environment"]

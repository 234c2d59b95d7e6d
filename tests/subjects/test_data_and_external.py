"""Divergence, missing data, the Market-1501 folder loader, re-ID metrics, and user-defined subjects."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from greenhp import train as child
from greenhp.subjects import REGISTRY, get_subject, resolve
from greenhp.subjects.base import DataMissing, RunContext, Subject
from greenhp.subjects.external import SubjectImportError, load_subject

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "custom_subject" / "my_subject.py"
STANDIN_SMOKE = {"root": "unused", "download": False, "source": "standin", "scale": "smoke"}


def request(subject, hp, data=None, max_steps=2):
    return {"subject": subject, "hp": hp, "seed": 1, "device": "cpu", "threads": 2,
            "data": dict(data or STANDIN_SMOKE), "max_steps": max_steps}


# ------------------------------------------------------------------------------------------ divergence
@pytest.mark.parametrize("name, hp", [
    ("mnist_cnn", {"epochs": 2, "lr": 1e30, "gamma": 0.7, "batch_size": 16}),
    ("mnist_ff", {"epochs": 3, "lr": 1e30, "threshold": 2.0, "batch_size": 50000}),
    ("siamese", {"epochs": 2, "lr": 1e30, "gamma": 0.7, "batch_size": 8}),
])
def test_huge_lr_ends_as_diverged(name, hp):
    out = child.train(request(name, hp))
    assert out["status"] == "diverged", out
    assert out["metric_name"] == REGISTRY[name].metric_name


def test_nan_loss_ends_as_diverged(monkeypatch):
    import torch.nn.functional as F

    real = F.cross_entropy
    monkeypatch.setattr(F, "cross_entropy", lambda *a, **k: real(*a, **k) * float("nan"))
    out = child.train(request("resnet20", {"epochs": 1, "lr": 0.1, "weight_decay": 1e-4, "batch_size": 8}, max_steps=1))
    assert out["status"] == "diverged", out


# ---------------------------------------------------------------------------------------- missing data
@pytest.mark.parametrize("name, looked", [("mnist_cnn", "MNIST"), ("mnist_ff", "MNIST"), ("siamese", "MNIST"),
                                          ("resnet20", "cifar-10-batches-py"), ("hrnet18_reid", "Market-1501")])
def test_missing_real_data_names_path_and_setting(tmp_path, name, looked):
    data = {"root": str(tmp_path / "nodata"), "download": False, "source": "real", "scale": "smoke"}
    with pytest.raises(DataMissing) as err:
        child.train(request(name, dict(get_subject(name).defaults), data))
    msg = str(err.value)
    assert str(tmp_path / "nodata") in msg and looked in msg
    assert "data.root" in msg
    if name != "hrnet18_reid":
        assert "data.download: true" in msg


def test_missing_data_through_child_main_is_a_failed_result(tmp_path):
    import json

    req = request("mnist_cnn", dict(get_subject("mnist_cnn").defaults), {"root": str(tmp_path), "download": False})
    (tmp_path / "req.json").write_text(json.dumps(req))
    assert child.main(["--request", str(tmp_path / "req.json"), "--result", str(tmp_path / "res.json")]) == 0
    result = json.loads((tmp_path / "res.json").read_text())
    assert result["status"] == "failed" and "data missing" in result["reason"] and str(tmp_path) in result["reason"]


# ------------------------------------------------------------------------------------- Market-1501 folder
def test_market_folder_loader(tmp_path):
    from PIL import Image

    from greenhp.subjects import datasets

    base = tmp_path / "Market-1501-v15.09.15"
    files = {
        "bounding_box_train": ["0002_c1s1_000451_03.jpg", "0002_c2s1_000551_01.jpg", "0007_c3s1_000601_02.jpg",
                               "-1_c1s1_000001_00.jpg", "Thumbs.db"],
        "bounding_box_test": ["0003_c2s1_000100_01.jpg", "0003_c1s1_000101_01.jpg", "0000_c4s1_000002_00.jpg"],
        "query": ["0003_c1s1_000105_00.jpg"],
    }
    for folder, names in files.items():
        (base / folder).mkdir(parents=True)
        for n in names:
            if n.endswith(".jpg"):
                Image.new("RGB", (64, 128), (10, 20, 30)).save(base / folder / n)
            else:
                (base / folder / n).write_text("not an image")
    train, query, gallery, k = datasets.market1501({"root": str(tmp_path), "source": "real"})
    assert k == 2 and len(train) == 3 and sorted(set(train.pids)) == [0, 1]
    assert train.camids == [0, 1, 2]
    assert query.pids == [3] and sorted(gallery.pids) == [0, 3, 3]
    img, pid, cam = train[0]
    assert img.size == (64, 128) and pid == 0 and cam == 0


def test_rank1_map_follows_market_protocol():
    import torch

    from greenhp.subjects.hrnet18 import rank1_map

    qf = torch.tensor([[1.0, 0.0]])
    # the nearest gallery image is the same person on the same camera: ignored; next is a wrong id
    gf = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.5, 0.5]]), dim=1)
    rank1, mean_ap = rank1_map(qf, torch.tensor([5]), torch.tensor([0]), gf, torch.tensor([5, 6, 5]), torch.tensor([0, 1, 2]))
    assert rank1 == 0.0 and math.isclose(mean_ap, 0.5)


# ---------------------------------------------------------------------------------- user-defined subjects
def test_resolve_registered_and_file_subject():
    assert resolve("mnist_cnn", None) is REGISTRY["mnist_cnn"]
    assert resolve("resnet20", {"hyperparameters": ["lr"]}) is REGISTRY["resnet20"]
    subject = resolve("my_mlp", {"module": f"{EXAMPLE}:MY_SUBJECT"})
    assert isinstance(subject, Subject) and subject.name == "my_mlp"
    result = subject.run(dict(subject.defaults, epochs=2), RunContext(seed=0, max_steps=3, log=lambda s: None))
    assert result.effective["epochs"] == 2 and math.isclose(result.effective["lr"], subject.defaults["lr"])
    assert 0.0 <= result.metric_value <= 1.0


def test_resolve_module_form(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE.parent))
    assert load_subject("my_subject:MY_SUBJECT").name == "my_mlp"


@pytest.mark.parametrize("spec, words", [
    ("no/such/file.py:MY_SUBJECT", ["no/such/file.py", "does not exist"]),
    ("no_such_module_xyz:THING", ["no_such_module_xyz", "cannot import"]),
    (f"{EXAMPLE}:NOT_THERE", ["NOT_THERE", "no attribute"]),
    (f"{EXAMPLE}:run", ["run", "not a greenhp"]),
    ("missing_colon.py", ["expected 'some.module:ATTR'"]),
])
def test_bad_module_spec_fails_clearly(spec, words):
    with pytest.raises(SubjectImportError) as err:
        resolve("x", {"module": spec})
    for w in words:
        assert w in str(err.value)

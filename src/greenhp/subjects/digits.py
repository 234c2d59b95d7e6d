"""Two small subjects on scikit-learn's bundled 8x8 digits: a CNN and an MLP.

They make the default study runnable on a laptop CPU in minutes, with no download. The data file
ships inside scikit-learn; it is read directly so the training process need not import sklearn.
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

from greenhp.subjects.base import RunContext, Subject, TrainResult, Timer, optimizer_effective, seed_everything

SPLIT_SEED = 0  # the train/test split is fixed, whatever the run's seed
TEST_FRACTION = 0.2


def digits_file() -> Path:
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("scikit-learn is not installed: it carries the digits data (pip install scikit-learn)")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"


def load_digits():
    """Return (x_train, y_train, x_test, y_test) as tensors; x scaled to [0, 1], shape (N, 1, 8, 8)."""
    import numpy as np
    import torch

    with gzip.open(digits_file(), "rt") as fh:
        data = np.loadtxt(fh, delimiter=",", dtype=np.float32)
    x = torch.from_numpy(data[:, :-1] / 16.0).reshape(-1, 1, 8, 8)
    y = torch.from_numpy(data[:, -1].astype(np.int64))
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(SPLIT_SEED))
    n_test = int(len(y) * TEST_FRACTION)
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def _model(kind: str):
    from torch import nn

    if kind == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10),
        )
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))


def _train(kind: str, hp: dict, ctx: RunContext) -> TrainResult:
    import torch
    import torch.nn.functional as F
    from torch.optim.lr_scheduler import StepLR
    from torch.utils.data import DataLoader, TensorDataset

    seed_everything(ctx.seed)
    x_train, y_train, x_test, y_test = load_digits()
    ctx.data_ready()
    device = torch.device(ctx.device)
    model = _model(kind).to(device)
    loader = DataLoader(
        TensorDataset(x_train, y_train), batch_size=int(hp["batch_size"]), shuffle=True,
        generator=torch.Generator().manual_seed(ctx.seed),
    )
    if kind == "cnn":
        optimizer = torch.optim.SGD(model.parameters(), lr=hp["lr"], momentum=0.9, weight_decay=hp["weight_decay"])
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    scheduler = StepLR(optimizer, step_size=1, gamma=hp["gamma"])
    epochs = int(hp["epochs"])
    with Timer() as timer:
        for epoch in range(1, epochs + 1):
            model.train()
            total, count = 0.0, 0
            for step, (xb, yb) in enumerate(loader):
                if ctx.max_steps is not None and step >= ctx.max_steps:
                    break
                xb, yb = xb.to(device), yb.to(device)
                optimizer.zero_grad()
                loss = F.cross_entropy(model(xb), yb)
                loss.backward()
                optimizer.step()
                total += loss.item() * len(yb)
                count += len(yb)
            scheduler.step()
            accuracy = evaluate(model, x_test, y_test, device)
            ctx.epoch_done(epoch, epochs, total / max(count, 1), test_accuracy=accuracy)
    effective = {"epochs": epoch, "batch_size": loader.batch_size, **optimizer_effective(optimizer, scheduler)}
    return TrainResult("accuracy", accuracy, effective, epoch, timer.seconds)


def evaluate(model, x, y, device) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        pred = model(x.to(device)).argmax(dim=1)
    return float((pred.cpu() == y).float().mean())


DIGITS_CNN = Subject(
    name="digits_cnn",
    description="2-layer CNN on scikit-learn's 8x8 digits (SGD with momentum 0.9, StepLR)",
    metric_name="accuracy",
    metric_direction="maximize",
    defaults={"epochs": 8, "lr": 0.05, "weight_decay": 1e-4, "gamma": 0.8, "batch_size": 64},
    run=lambda hp, ctx: _train("cnn", hp, ctx),
    schedule_depends_on_epochs=False,
)

DIGITS_MLP = Subject(
    name="digits_mlp",
    description="3-layer MLP on scikit-learn's 8x8 digits (Adam, StepLR)",
    metric_name="accuracy",
    metric_direction="maximize",
    defaults={"epochs": 8, "lr": 0.003, "weight_decay": 1e-4, "gamma": 0.8, "batch_size": 64},
    run=lambda hp, ctx: _train("mlp", hp, ctx),
    schedule_depends_on_epochs=False,
)

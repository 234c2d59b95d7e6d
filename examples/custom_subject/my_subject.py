"""An example user-defined greenhp subject: a small MLP on random (but learnable) data.

Use it from a study config (the path is relative to where Snakemake runs):

    subjects:
      my_mlp:
        module: examples/custom_subject/my_subject.py:MY_SUBJECT
        hyperparameters: [epochs, lr, weight_decay]

It needs no data set. What a subject must provide is described in docs/subjects.md.
"""

from __future__ import annotations

from greenhp.subjects.base import RunContext, Subject, Timer, TrainResult, optimizer_effective, seed_everything


def run(hp: dict, ctx: RunContext) -> TrainResult:
    import torch
    import torch.nn.functional as F
    from torch import nn

    seed_everything(ctx.seed)
    device = torch.device(ctx.device)
    # Data: 2048 points in 20-d, labelled by a fixed random linear rule (same for every run).
    g = torch.Generator().manual_seed(1234)
    x = torch.randn(2048, 20, generator=g)
    y = (x @ torch.randn(20, 4, generator=g)).argmax(1)
    x_train, y_train, x_test, y_test = x[:1536], y[:1536], x[1536:], y[1536:]
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x_train, y_train), batch_size=int(hp["batch_size"]), shuffle=True,
        generator=torch.Generator().manual_seed(ctx.seed),
    )
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 4)).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=hp["lr"], momentum=0.9, weight_decay=hp["weight_decay"])
    epochs, epoch = int(hp["epochs"]), 0
    with Timer() as timer:
        for epoch in range(1, epochs + 1):
            model.train()
            total, count = 0.0, 0
            for step, (xb, yb) in enumerate(loader):
                if ctx.max_steps is not None and step >= ctx.max_steps:
                    break
                xb, yb = xb.to(device), yb.to(device)
                loss = F.cross_entropy(model(xb), yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total, count = total + loss.item() * len(yb), count + len(yb)
            model.eval()
            with torch.no_grad():
                accuracy = float((model(x_test.to(device)).argmax(1).cpu() == y_test).float().mean())
            ctx.epoch_done(epoch, epochs, total / max(count, 1), test_accuracy=accuracy)  # raises Diverged on NaN
    # Report what was really used, read back from the objects that used it.
    effective = {"epochs": epoch, "batch_size": loader.batch_size, **optimizer_effective(optimizer)}
    return TrainResult("accuracy", accuracy, effective, epoch, timer.seconds)


MY_SUBJECT = Subject(
    name="my_mlp",
    description="example user subject: 2-layer MLP on a random linear 4-class problem",
    metric_name="accuracy",
    metric_direction="maximize",
    defaults={"epochs": 5, "lr": 0.05, "weight_decay": 1e-4, "batch_size": 64},
    run=run,
)

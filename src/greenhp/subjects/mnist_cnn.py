"""MNIST CNN: the pytorch/examples ``mnist`` script as a subject.

Same network (2 conv + dropout + 2 fc, log-softmax, NLL loss), data transform (ToTensor, Normalize
0.1307/0.3081), optimiser (Adadelta lr 1.0), schedule (StepLR step_size=1, gamma 0.7), 14 epochs,
batch 64, test batch 1000, and test accuracy after every epoch, as in
https://github.com/pytorch/examples/blob/main/mnist/main.py.
"""

from __future__ import annotations

from greenhp.subjects import datasets
from greenhp.subjects.base import RunContext, Subject, Timer, TrainResult, optimizer_effective, seed_everything

TEST_BATCH_SIZE = 1000


def _net():
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.dropout1 = nn.Dropout(0.25)
            self.dropout2 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(9216, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = self.dropout2(x)
            return F.log_softmax(self.fc2(x), dim=1)

    return Net()


def loader_kwargs(device: str) -> dict:
    """The example's CUDA loader settings (one worker, pinned memory); none on the CPU."""
    return {"num_workers": 1, "pin_memory": True} if device == "cuda" else {}


def test(model, device, loader) -> tuple[float, float]:
    import torch
    import torch.nn.functional as F

    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for data, target in loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            loss += F.nll_loss(output, target, reduction="sum").item()
            correct += output.argmax(dim=1).eq(target).sum().item()
    n = len(loader.dataset)
    return loss / n, correct / n


def run(hp: dict, ctx: RunContext) -> TrainResult:
    import torch
    import torch.nn.functional as F
    from torch.optim.lr_scheduler import StepLR
    from torchvision import transforms

    seed_everything(ctx.seed)
    device = torch.device(ctx.device)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train_set = datasets.mnist(ctx.data, train=True, transform=transform)
    test_set = datasets.mnist(ctx.data, train=False, transform=transform)
    kwargs = loader_kwargs(ctx.device)
    train_loader = torch.utils.data.DataLoader(
        train_set, batch_size=int(hp["batch_size"]), shuffle=True,
        generator=torch.Generator().manual_seed(ctx.seed), **kwargs,
    )
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=TEST_BATCH_SIZE, **kwargs)

    model = _net().to(device)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=hp["lr"])
    scheduler = StepLR(optimizer, step_size=1, gamma=hp["gamma"])
    cap = datasets.steps_cap(ctx)
    epochs, epoch = int(hp["epochs"]), 0
    with Timer() as timer:
        for epoch in range(1, epochs + 1):
            model.train()
            total, count = 0.0, 0
            for data, target in datasets.capped(train_loader, cap):
                data, target = data.to(device), target.to(device)
                optimizer.zero_grad()
                loss = F.nll_loss(model(data), target)
                loss.backward()
                optimizer.step()
                total += loss.item() * len(target)
                count += len(target)
            test_loss, accuracy = test(model, device, test_loader)
            ctx.epoch_done(epoch, epochs, total / max(count, 1), test_loss=test_loss, test_accuracy=accuracy)
            scheduler.step()
    effective = {"epochs": epoch, "batch_size": train_loader.batch_size, **optimizer_effective(optimizer, scheduler)}
    return TrainResult("accuracy", accuracy, effective, epoch, timer.seconds, {"test_loss": test_loss})


MNIST_CNN = Subject(
    name="mnist_cnn",
    description="pytorch/examples mnist: 2-conv CNN on MNIST, Adadelta + StepLR",
    metric_name="accuracy",
    metric_direction="maximize",
    defaults={"epochs": 14, "lr": 1.0, "gamma": 0.7, "batch_size": 64},
    run=run,
    schedule_depends_on_epochs=False,
)

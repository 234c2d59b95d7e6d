"""Siamese network on MNIST pairs: the pytorch/examples ``siamese_network`` script as a subject.

A ResNet-18 (no pre-trained weights, first conv changed to 1 input channel, last fc removed) embeds
each image; the two 512-d embeddings are concatenated and a 2-layer head + sigmoid says "same digit"
or not; BCE loss, Adadelta lr 1.0, StepLR(step_size=1, gamma 0.7), 14 epochs, batch 64, test batch
1000; images are raw 0-255 floats as in the example. Pairs: for an even index two images of one
class (target 1), for an odd index two of different classes (target 0). Metric: accuracy on test
pairs (output > 0.5). As in https://github.com/pytorch/examples/blob/main/siamese_network/main.py.

One change for repeatable measurement: the example draws test pairs from the global RNG, so they
differ between runs; here each test pair is drawn from an RNG seeded by its index (a fixed test set).
Training pairs are random as in the example (from the seeded global RNG).
"""

from __future__ import annotations

import random

from greenhp.subjects import datasets
from greenhp.subjects.base import RunContext, Subject, Timer, TrainResult, optimizer_effective, seed_everything
from greenhp.subjects.mnist_cnn import loader_kwargs

TEST_BATCH_SIZE = 1000


class Pairs:
    """The example's ``APP_MATCHER``: image pairs from an MNIST-like set (``.data`` uint8, ``.targets``)."""

    def __init__(self, mnist_like, fixed: bool):
        import numpy as np
        import torch

        self.data = mnist_like.data.unsqueeze(1).clone()
        targets = torch.as_tensor(mnist_like.targets).numpy()
        self.grouped = {i: np.where(targets == i)[0] for i in range(10)}
        self.classes = [c for c in range(10) if len(self.grouped[c]) >= 2]
        self.fixed = fixed

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, index: int):
        import torch

        rng = random.Random(index) if self.fixed else random
        cls = rng.choice(self.classes)
        group = self.grouped[cls]
        i1 = rng.randint(0, len(group) - 1)
        image_1 = self.data[group[i1]].clone().float()
        if index % 2 == 0:
            i2 = rng.randint(0, len(group) - 1)
            while i2 == i1:
                i2 = rng.randint(0, len(group) - 1)
            image_2 = self.data[group[i2]].clone().float()
            target = torch.tensor(1, dtype=torch.float)
        else:
            other = rng.choice(self.classes)
            while other == cls:
                other = rng.choice(self.classes)
            group2 = self.grouped[other]
            image_2 = self.data[group2[rng.randint(0, len(group2) - 1)]].clone().float()
            target = torch.tensor(0, dtype=torch.float)
        return image_1, image_2, target


def _net():
    import torch
    import torchvision
    from torch import nn

    class SiameseNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            resnet = torchvision.models.resnet18(weights=None)
            resnet.conv1 = nn.Conv2d(1, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False)
            self.fc_in_features = resnet.fc.in_features
            self.resnet = nn.Sequential(*(list(resnet.children())[:-1]))
            self.fc = nn.Sequential(nn.Linear(self.fc_in_features * 2, 256), nn.ReLU(inplace=True), nn.Linear(256, 1))
            self.sigmoid = nn.Sigmoid()
            self.resnet.apply(self.init_weights)
            self.fc.apply(self.init_weights)

        @staticmethod
        def init_weights(m):
            if isinstance(m, nn.Linear):
                torch.nn.init.xavier_uniform_(m.weight)
                m.bias.data.fill_(0.01)

        def forward_once(self, x):
            return self.resnet(x).view(x.size(0), -1)

        def forward(self, input1, input2):
            output = torch.cat((self.forward_once(input1), self.forward_once(input2)), 1)
            return self.sigmoid(self.fc(output))

    return SiameseNetwork()


def bce(outputs, targets):
    """The example's BCE loss; a NaN output (diverged weights) gives a NaN loss instead of an error."""
    import torch
    from torch import nn

    if not torch.isfinite(outputs).all():
        return outputs.sum() * float("nan")
    return nn.functional.binary_cross_entropy(outputs, targets)


def test(model, device, loader) -> tuple[float, float]:
    import torch

    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for images_1, images_2, targets in loader:
            images_1, images_2, targets = images_1.to(device), images_2.to(device), targets.to(device)
            outputs = model(images_1, images_2).squeeze(1)
            loss += bce(outputs, targets).item() * len(targets)
            pred = torch.where(outputs > 0.5, 1, 0)
            correct += pred.eq(targets.view_as(pred)).sum().item()
    n = len(loader.dataset)
    return loss / n, correct / n


def run(hp: dict, ctx: RunContext) -> TrainResult:
    import torch
    from torch.optim.lr_scheduler import StepLR

    seed_everything(ctx.seed)
    device = torch.device(ctx.device)
    train_set = Pairs(datasets.mnist(ctx.data, train=True), fixed=False)
    test_set = Pairs(datasets.mnist(ctx.data, train=False), fixed=True)
    kwargs = loader_kwargs(ctx.device)
    train_loader = torch.utils.data.DataLoader(
        train_set, batch_size=int(hp["batch_size"]), shuffle=True,
        generator=torch.Generator().manual_seed(ctx.seed), **kwargs,
    )
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=TEST_BATCH_SIZE, shuffle=False, **kwargs)

    model = _net().to(device)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=hp["lr"])
    scheduler = StepLR(optimizer, step_size=1, gamma=hp["gamma"])
    cap = datasets.steps_cap(ctx)
    epochs, epoch = int(hp["epochs"]), 0
    with Timer() as timer:
        for epoch in range(1, epochs + 1):
            model.train()
            total, count = 0.0, 0
            for images_1, images_2, targets in datasets.capped(train_loader, cap):
                images_1, images_2, targets = images_1.to(device), images_2.to(device), targets.to(device)
                optimizer.zero_grad()
                loss = bce(model(images_1, images_2).squeeze(1), targets)
                loss.backward()
                optimizer.step()
                total += loss.item() * len(targets)
                count += len(targets)
            test_loss, accuracy = test(model, device, test_loader)
            ctx.epoch_done(epoch, epochs, total / max(count, 1), test_loss=test_loss, test_accuracy=accuracy)
            scheduler.step()
    effective = {"epochs": epoch, "batch_size": train_loader.batch_size, **optimizer_effective(optimizer, scheduler)}
    return TrainResult("accuracy", accuracy, effective, epoch, timer.seconds, {"test_loss": test_loss})


SIAMESE = Subject(
    name="siamese",
    description="pytorch/examples siamese_network: ResNet-18 Siamese net on MNIST pairs, BCE, Adadelta + StepLR",
    metric_name="accuracy",
    metric_direction="maximize",
    defaults={"epochs": 14, "lr": 1.0, "gamma": 0.7, "batch_size": 64},
    run=run,
    schedule_depends_on_epochs=False,
)

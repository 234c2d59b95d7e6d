"""ResNet-20 on CIFAR-10 (He et al. 2016, section 4.2) as a subject.

3 stages x 3 basic blocks with 16/32/64 channels, option-A (parameter-free: subsample + zero-pad)
shortcuts, global average pooling, a 10-way linear layer, Kaiming-normal init; SGD momentum 0.9,
lr 0.2 (the reference study's original), weight decay 1e-4, MultiStepLR x0.1 at 50 % and 75 % of the
epochs, 200 epochs, batch 128; augmentation: random crop 32 with 4-pixel padding + horizontal flip.
Follows the widely used re-implementation https://github.com/akamaster/pytorch_resnet_cifar10
(its normalisation constants included). Metric: test accuracy, evaluated after every epoch.
"""

from __future__ import annotations

from greenhp.subjects import datasets
from greenhp.subjects.base import RunContext, Subject, Timer, TrainResult, optimizer_effective, seed_everything

TEST_BATCH_SIZE = 100
MILESTONES = (0.5, 0.75)  # fractions of the epochs where the lr is multiplied by 0.1
NORMALIZE = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])


def resnet20(num_classes: int = 10):
    import torch.nn.functional as F
    from torch import nn

    class BasicBlock(nn.Module):
        def __init__(self, in_planes, planes, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.pad = planes // 4 if (stride != 1 or in_planes != planes) else None  # option A

        def shortcut(self, x):
            if self.pad is None:
                return x
            return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad), "constant", 0)

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return F.relu(out + self.shortcut(x))

    class ResNet(nn.Module):
        def __init__(self, num_blocks=(3, 3, 3)):
            super().__init__()
            self.in_planes = 16
            self.conv1 = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            self.layer1 = self._make_layer(16, num_blocks[0], 1)
            self.layer2 = self._make_layer(32, num_blocks[1], 2)
            self.layer3 = self._make_layer(64, num_blocks[2], 2)
            self.linear = nn.Linear(64, num_classes)
            for m in self.modules():
                if isinstance(m, (nn.Linear, nn.Conv2d)):
                    nn.init.kaiming_normal_(m.weight)

        def _make_layer(self, planes, n, stride):
            layers = []
            for s in [stride] + [1] * (n - 1):
                layers.append(BasicBlock(self.in_planes, planes, s))
                self.in_planes = planes
            return nn.Sequential(*layers)

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.layer3(self.layer2(self.layer1(out)))
            out = F.adaptive_avg_pool2d(out, 1).flatten(1)
            return self.linear(out)

    return ResNet()


def evaluate(model, device, loader) -> float:
    import torch

    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in loader:
            correct += model(x.to(device)).argmax(1).eq(y.to(device)).sum().item()
    return correct / len(loader.dataset)


def run(hp: dict, ctx: RunContext) -> TrainResult:
    import torch
    from torch import nn
    from torchvision import transforms

    seed_everything(ctx.seed)
    device = torch.device(ctx.device)
    normalize = transforms.Normalize(*NORMALIZE)
    train_tf = transforms.Compose([
        transforms.RandomHorizontalFlip(), transforms.RandomCrop(32, 4), transforms.ToTensor(), normalize,
    ])
    test_tf = transforms.Compose([transforms.ToTensor(), normalize])
    kwargs = {"num_workers": 4, "pin_memory": True} if ctx.device == "cuda" else {}
    train_loader = torch.utils.data.DataLoader(
        datasets.cifar10(ctx.data, train=True, transform=train_tf), batch_size=int(hp["batch_size"]),
        shuffle=True, generator=torch.Generator().manual_seed(ctx.seed), **kwargs,
    )
    test_loader = torch.utils.data.DataLoader(
        datasets.cifar10(ctx.data, train=False, transform=test_tf), batch_size=TEST_BATCH_SIZE, shuffle=False, **kwargs
    )

    model = resnet20().to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=hp["lr"], momentum=0.9, weight_decay=hp["weight_decay"])
    epochs, epoch = int(hp["epochs"]), 0
    milestones = [int(epochs * f) for f in MILESTONES]
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
    cap = datasets.steps_cap(ctx)
    with Timer() as timer:
        for epoch in range(1, epochs + 1):
            model.train()
            total, count = 0.0, 0
            for x, y in datasets.capped(train_loader, cap):
                x, y = x.to(device), y.to(device)
                loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(y)
                count += len(y)
            scheduler.step()
            accuracy = evaluate(model, device, test_loader)
            ctx.epoch_done(epoch, epochs, total / max(count, 1), test_accuracy=accuracy)
    effective = {"epochs": epoch, "batch_size": train_loader.batch_size, **optimizer_effective(optimizer)}
    extra = {"milestones": sorted(scheduler.milestones), "lr_decay": scheduler.gamma}
    return TrainResult("accuracy", accuracy, effective, epoch, timer.seconds, extra)


RESNET20 = Subject(
    name="resnet20",
    description="ResNet-20 (He et al., option-A shortcuts) on CIFAR-10, SGD momentum + MultiStepLR",
    metric_name="accuracy",
    metric_direction="maximize",
    defaults={"epochs": 200, "lr": 0.2, "weight_decay": 1e-4, "batch_size": 128},
    run=run,
    schedule_depends_on_epochs=True,
)

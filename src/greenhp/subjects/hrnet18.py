"""HRNet-18 person re-identification on a Market-1501-layout data set, as a subject.

Backbone: HRNet (Wang et al., "Deep High-Resolution Representation Learning", TPAMI 2020) with the
published **HRNet-W18-small-v2** configuration: a stride-4 stem (two 3x3 stride-2 convs, 64 ch),
stage 1 = 2 bottlenecks (256 ch), then stages 2/3/4 with 2/3/4 parallel branches of 18/36/72/144
channels, 1/3/2 HR modules of 2 basic blocks per branch, and a full fusion (every branch to every
branch) at the end of each module.
Head (re-ID, "BNNeck" of Luo et al., "Bag of Tricks", CVPRW 2019): the four branch outputs are
upsampled to the highest resolution and concatenated (the HRNetV2 representation, 270 ch), globally
average-pooled, projected to a 512-d feature, then a BatchNorm1d neck (bias frozen) and a bias-free
linear identity classifier.
Simplifications (say so when comparing): the "small-v2" widths/depths instead of full W18 (stage 1
with 4 bottlenecks, 1/4/3 modules of 4 blocks), a linear 270->512 projection after pooling instead of
HRNet's heavier classification head, no ImageNet pre-training.

Training: SGD lr 0.05, momentum 0.9, weight decay 5e-4, 60 epochs, lr x0.1 after 2/3 of the epochs,
batch 32, input 256x128 with flip + pad-10 random crop + random erasing; cross-entropy on the identity
logits, plus (``TRIPLET_WEIGHT`` > 0, off by default) a batch-hard triplet loss (margin 0.3) on the
pre-neck feature with P x K identity sampling. Metric: rank-1 (CMC top-1) on query vs gallery with
cosine distance on the neck feature, excluding same-identity same-camera gallery images (the Market
protocol); mAP goes in ``extra``.
"""

from __future__ import annotations

import random

from greenhp.subjects import datasets
from greenhp.subjects.base import RunContext, Subject, Timer, TrainResult, optimizer_effective, seed_everything

# stage: (number of HR modules, blocks per branch, branch channels)
W18_SMALL_V2 = {"stage1_blocks": 2, "stages": [(1, 2, (18, 36)), (3, 2, (18, 36, 72)), (2, 2, (18, 36, 72, 144))]}
FEATURE_DIM = 512
HEIGHT, WIDTH = 256, 128
TEST_BATCH_SIZE = 128
DECAY_AT = 2 / 3  # fraction of the epochs after which the lr is multiplied by 0.1
TRIPLET_WEIGHT = 0.0  # > 0 adds batch-hard triplet loss (and P x K sampling with K = 4)
TRIPLET_MARGIN = 0.3
NORMALIZE = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])


def hrnet_reid(num_classes: int, cfg: dict = W18_SMALL_V2):
    import torch
    import torch.nn.functional as F
    from torch import nn

    def conv3x3(cin, cout, stride=1):
        return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)

    class BasicBlock(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1, self.bn1 = conv3x3(c, c), nn.BatchNorm2d(c)
            self.conv2, self.bn2 = conv3x3(c, c), nn.BatchNorm2d(c)

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            return F.relu(self.bn2(self.conv2(out)) + x)

    class Bottleneck(nn.Module):
        def __init__(self, cin, planes):
            super().__init__()
            cout = planes * 4
            self.body = nn.Sequential(
                nn.Conv2d(cin, planes, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
                conv3x3(planes, planes), nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
                nn.Conv2d(planes, cout, 1, bias=False), nn.BatchNorm2d(cout),
            )
            self.down = None if cin == cout else nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            return F.relu(self.body(x) + (x if self.down is None else self.down(x)))

    class HRModule(nn.Module):
        """Parallel branches of basic blocks, then every branch fused into every branch."""

        def __init__(self, channels, blocks):
            super().__init__()
            self.branches = nn.ModuleList(nn.Sequential(*[BasicBlock(c) for _ in range(blocks)]) for c in channels)
            self.fuse = nn.ModuleList()
            for i, ci in enumerate(channels):
                row = nn.ModuleList()
                for j, cj in enumerate(channels):
                    if j == i:
                        row.append(nn.Identity())
                    elif j > i:  # lower resolution -> 1x1 conv + upsample
                        row.append(nn.Sequential(nn.Conv2d(cj, ci, 1, bias=False), nn.BatchNorm2d(ci),
                                                 nn.Upsample(scale_factor=2 ** (j - i), mode="nearest")))
                    else:  # higher resolution -> strided 3x3 convs
                        steps = []
                        for k in range(i - j):
                            last = k == i - j - 1
                            cout = ci if last else cj
                            steps += [conv3x3(cj, cout, 2), nn.BatchNorm2d(cout)] + ([] if last else [nn.ReLU(inplace=True)])
                        row.append(nn.Sequential(*steps))
                self.fuse.append(row)

        def forward(self, xs):
            xs = [branch(x) for branch, x in zip(self.branches, xs)]
            return [F.relu(sum(f(x) for f, x in zip(row, xs))) for row in self.fuse]

    def transition(prev, cur):
        layers = nn.ModuleList()
        for i, c in enumerate(cur):
            if i < len(prev):
                layers.append(nn.Identity() if prev[i] == c else nn.Sequential(conv3x3(prev[i], c), nn.BatchNorm2d(c), nn.ReLU(inplace=True)))
            else:  # a new, half-resolution branch from the lowest-resolution one
                layers.append(nn.Sequential(conv3x3(prev[-1], c, 2), nn.BatchNorm2d(c), nn.ReLU(inplace=True)))
        return layers

    class HRNetReID(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(
                conv3x3(3, 64, 2), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                conv3x3(64, 64, 2), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            )
            blocks = [Bottleneck(64, 64)] + [Bottleneck(256, 64) for _ in range(cfg["stage1_blocks"] - 1)]
            self.stage1 = nn.Sequential(*blocks)
            prev = [256]
            self.transitions, self.stages = nn.ModuleList(), nn.ModuleList()
            for modules, n_blocks, channels in cfg["stages"]:
                self.transitions.append(transition(prev, channels))
                self.stages.append(nn.Sequential(*[HRModule(channels, n_blocks) for _ in range(modules)]))
                prev = list(channels)
            self.embed = nn.Sequential(nn.Linear(sum(prev), FEATURE_DIM), nn.ReLU(inplace=True))
            self.neck = nn.BatchNorm1d(FEATURE_DIM)
            self.neck.bias.requires_grad_(False)  # BNNeck: no shift
            self.classifier = nn.Linear(FEATURE_DIM, num_classes, bias=False)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.normal_(self.classifier.weight, std=0.001)

        def forward(self, x):
            xs = [self.stage1(self.stem(x))]
            for trans, stage in zip(self.transitions, self.stages):
                xs = [t(xs[min(i, len(xs) - 1)]) for i, t in enumerate(trans)]
                xs = stage(xs)
            size = xs[0].shape[-2:]
            y = torch.cat([xs[0]] + [F.interpolate(x, size=size, mode="bilinear", align_corners=False) for x in xs[1:]], 1)
            feat = self.embed(F.adaptive_avg_pool2d(y, 1).flatten(1))
            feat_bn = self.neck(feat)
            if not self.training:
                return feat_bn
            return self.classifier(feat_bn), feat

    return HRNetReID()


def triplet_hard(feat, labels, margin: float = TRIPLET_MARGIN):
    """Batch-hard triplet loss (Hermans et al. 2017) on Euclidean distances."""
    import torch

    dist = torch.cdist(feat, feat)
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    hardest_pos = (dist * same).max(1).values
    hardest_neg = (dist + same * 1e9).min(1).values
    return torch.relu(hardest_pos - hardest_neg + margin).mean()


class IdentitySampler:
    """P x K sampling for the triplet loss: K images of each of batch_size/K identities per batch."""

    def __init__(self, pids, batch_size: int, k: int = 4, seed: int = 0):
        self.by_pid: dict[int, list[int]] = {}
        for i, pid in enumerate(pids):
            self.by_pid.setdefault(pid, []).append(i)
        self.k, self.batch_size, self.rng = k, batch_size, random.Random(seed)
        self.length = len(pids) // batch_size * batch_size

    def __iter__(self):
        out = []
        while len(out) < self.length:
            for pid in self.rng.sample(sorted(self.by_pid), len(self.by_pid)):
                idx = self.by_pid[pid]
                out += self.rng.choices(idx, k=self.k) if len(idx) < self.k else self.rng.sample(idx, self.k)
        return iter(out[: self.length])

    def __len__(self) -> int:
        return self.length


def extract(model, device, loader):
    import torch

    model.eval()
    feats, pids, cams = [], [], []
    with torch.no_grad():
        for x, pid, cam in loader:
            feats.append(torch.nn.functional.normalize(model(x.to(device)), dim=1).cpu())
            pids.append(pid)
            cams.append(cam)
    return torch.cat(feats), torch.cat(pids), torch.cat(cams)


def rank1_map(qf, qp, qc, gf, gp, gc) -> tuple[float, float]:
    """CMC rank-1 and mAP, Market protocol: gallery images of the same identity and camera are ignored."""
    import torch

    dist = 1.0 - qf @ gf.T  # cosine distance
    hits, aps = [], []
    for i in range(len(qp)):
        order = torch.argsort(dist[i])
        keep = ~((gp[order] == qp[i]) & (gc[order] == qc[i]))
        match = (gp[order][keep] == qp[i]).float()
        if match.sum() == 0:
            continue  # no true match in the gallery: this query does not count
        hits.append(float(match[0]))
        ranks = torch.nonzero(match).flatten().float() + 1
        aps.append(float((torch.arange(1, len(ranks) + 1) / ranks).mean()))
    if not hits:
        raise RuntimeError("re-ID evaluation: no query has a true match in the gallery")
    return sum(hits) / len(hits), sum(aps) / len(aps)


def run(hp: dict, ctx: RunContext) -> TrainResult:
    import torch
    from torch import nn
    from torchvision import transforms

    seed_everything(ctx.seed)
    device = torch.device(ctx.device)
    normalize = transforms.Normalize(*NORMALIZE)
    train_tf = transforms.Compose([
        transforms.Resize((HEIGHT, WIDTH)), transforms.RandomHorizontalFlip(), transforms.Pad(10),
        transforms.RandomCrop((HEIGHT, WIDTH)), transforms.ToTensor(), normalize, transforms.RandomErasing(p=0.5),
    ])
    test_tf = transforms.Compose([transforms.Resize((HEIGHT, WIDTH)), transforms.ToTensor(), normalize])
    train_set, query_set, gallery_set, num_classes = datasets.market1501(ctx.data, train_tf, test_tf)
    kwargs = {"num_workers": 4, "pin_memory": True} if ctx.device == "cuda" else {}
    batch_size = int(hp["batch_size"])
    if TRIPLET_WEIGHT > 0:
        sampler = IdentitySampler(train_set.pids, batch_size, seed=ctx.seed)
        train_loader = torch.utils.data.DataLoader(train_set, batch_size=batch_size, sampler=sampler, drop_last=True, **kwargs)
    else:
        train_loader = torch.utils.data.DataLoader(
            train_set, batch_size=batch_size, shuffle=True, drop_last=True,
            generator=torch.Generator().manual_seed(ctx.seed), **kwargs,
        )
    query_loader = torch.utils.data.DataLoader(query_set, batch_size=TEST_BATCH_SIZE, **kwargs)
    gallery_loader = torch.utils.data.DataLoader(gallery_set, batch_size=TEST_BATCH_SIZE, **kwargs)

    model = hrnet_reid(num_classes).to(device)
    criterion = nn.CrossEntropyLoss()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=hp["lr"], momentum=0.9, weight_decay=hp["weight_decay"])
    epochs, epoch = int(hp["epochs"]), 0
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[int(epochs * DECAY_AT)], gamma=0.1)
    cap = datasets.steps_cap(ctx)
    with Timer() as timer:
        for epoch in range(1, epochs + 1):
            model.train()
            total, correct, count = 0.0, 0, 0
            for x, pid, _cam in datasets.capped(train_loader, cap):
                x, pid = x.to(device), pid.to(device)
                logits, feat = model(x)
                loss = criterion(logits, pid)
                if TRIPLET_WEIGHT > 0:
                    loss = loss + TRIPLET_WEIGHT * triplet_hard(feat, pid)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(pid)
                correct += logits.argmax(1).eq(pid).sum().item()
                count += len(pid)
            scheduler.step()
            ctx.epoch_done(epoch, epochs, total / max(count, 1), train_id_accuracy=correct / max(count, 1))
        rank1, mean_ap = rank1_map(*extract(model, device, query_loader), *extract(model, device, gallery_loader))
    ctx.log(f"rank-1 {rank1:.4f} mAP {mean_ap:.4f}")
    effective = {"epochs": epoch, "batch_size": train_loader.batch_size, **optimizer_effective(optimizer)}
    extra = {"mAP": mean_ap, "num_classes": num_classes, "milestones": sorted(scheduler.milestones),
             "triplet_weight": TRIPLET_WEIGHT, "query": len(query_set), "gallery": len(gallery_set)}
    return TrainResult("rank1", rank1, effective, epoch, timer.seconds, extra)


HRNET18_REID = Subject(
    name="hrnet18_reid",
    description="HRNet-W18-small-v2 + BNNeck person re-ID on Market-1501 layout, SGD + step decay",
    metric_name="rank1",
    metric_direction="maximize",
    defaults={"epochs": 60, "lr": 0.05, "weight_decay": 5e-4, "batch_size": 32},
    run=run,
    schedule_depends_on_epochs=True,
)

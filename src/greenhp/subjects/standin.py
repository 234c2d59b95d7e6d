"""Generated stand-in data sets with the shapes of MNIST, CIFAR-10 and Market-1501.

They let every subject's whole code path run where the real data cannot be downloaded (CI, a GPU
machine without internet). They are deterministic (fixed generator seeds, independent of the run's
seed), small, and learnable: each class (or identity) has its own template, plus noise, so accuracy
rises above chance but is *not* comparable with the real data sets. Selected with
``data: {source: standin}``.

The classes mirror the torchvision data sets they replace: ``.data`` / ``.targets`` with the same
dtypes and layouts, and ``__getitem__`` hands a PIL image to the same ``transform``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# (train, test) sizes; "smoke" is used when data.scale == "smoke".
SIZES = {
    "mnist": {"full": (6000, 1000), "smoke": (256, 128)},
    "cifar10": {"full": (5000, 1000), "smoke": (256, 128)},
}
# Market-1501-like: identities in train / test, images per identity, cameras.
MARKET = {"full": dict(train_ids=64, test_ids=32, per_id=6, cams=6), "smoke": dict(train_ids=16, test_ids=4, per_id=4, cams=2)}


def _class_images(n: int, shape: tuple[int, ...], classes: int, seed: int, train: bool) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 images: a smooth per-class template plus per-image noise and a small random shift."""
    rng = np.random.default_rng(seed)
    templates = rng.random((classes, *shape)) * 255.0
    # smooth the templates (box blur along the two spatial axes) so they look like blobs, not static
    for axis in (1, 2):
        templates = (templates + np.roll(templates, 1, axis) + np.roll(templates, -1, axis)) / 3.0
    rng = np.random.default_rng(seed + (1 if train else 2))
    labels = np.arange(n) % classes
    rng.shuffle(labels)
    images = templates[labels] * 0.7 + rng.random((n, *shape)) * 255.0 * 0.3
    shifts = rng.integers(-2, 3, size=n)
    for i, s in enumerate(shifts):
        images[i] = np.roll(images[i], int(s), axis=1)
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.int64)


class StandinMNIST:
    """Like ``torchvision.datasets.MNIST``: ``.data`` uint8 tensor (N, 28, 28), ``.targets`` int64 tensor."""

    def __init__(self, train: bool, transform=None, scale: str = "full"):
        import torch

        n = SIZES["mnist"][scale][0 if train else 1]
        data, targets = _class_images(n, (28, 28), 10, seed=28_28, train=train)
        self.data, self.targets = torch.from_numpy(data), torch.from_numpy(targets)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        img = Image.fromarray(self.data[index].numpy())  # 2-D uint8 -> mode "L"
        return (self.transform(img) if self.transform else img), int(self.targets[index])


class StandinCIFAR10:
    """Like ``torchvision.datasets.CIFAR10``: ``.data`` uint8 array (N, 32, 32, 3), ``.targets`` list of int."""

    def __init__(self, train: bool, transform=None, scale: str = "full"):
        n = SIZES["cifar10"][scale][0 if train else 1]
        self.data, targets = _class_images(n, (32, 32, 3), 10, seed=32_32, train=train)
        self.targets = targets.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        img = Image.fromarray(self.data[index])
        return (self.transform(img) if self.transform else img), self.targets[index]


def market_records(scale: str = "full") -> dict[str, list[tuple[int, int, int]]]:
    """Market-1501-like splits as lists of (image key, person id, camera id).

    Train ids are 1..train_ids; test ids follow. Query: one image per test id per camera 0/1;
    gallery: the rest of the test images (so every query has a true match on another camera).
    """
    cfg = MARKET[scale]
    cams, per_id = cfg["cams"], cfg["per_id"]
    splits: dict[str, list[tuple[int, int, int]]] = {"train": [], "query": [], "gallery": []}
    key = 0
    for pid in range(1, cfg["train_ids"] + 1):
        for k in range(per_id):
            splits["train"].append((key, pid, k % cams))
            key += 1
    for pid in range(cfg["train_ids"] + 1, cfg["train_ids"] + cfg["test_ids"] + 1):
        for k in range(per_id):
            split = "query" if k < 2 else "gallery"
            cam = k % cams if split == "query" else (k + 1) % cams
            splits[split].append((key, pid, cam))
            key += 1
    return splits


def person_image(key: int, pid: int, camid: int) -> Image.Image:
    """A 256x128 RGB 'person crop': identity-coloured head/torso/legs on a camera-tinted background."""
    ident = np.random.default_rng(1501 + pid)
    colours = ident.integers(0, 256, size=(3, 3))  # head, torso, legs
    noise = np.random.default_rng(10_000_019 * 7 + key)
    background = np.array([40 + 30 * camid, 80, 120 - 15 * camid]) % 256
    img = np.empty((256, 128, 3), dtype=np.float64)
    img[:] = background
    dx, dy = noise.integers(-8, 9), noise.integers(-8, 9)
    x0, x1 = 32 + dx, 96 + dx
    for (top, bottom), colour in zip(((16, 64), (64, 160), (160, 240)), colours):
        img[max(top + dy, 0):min(bottom + dy, 256), x0:x1] = colour
    img += noise.normal(0.0, 20.0, size=img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))

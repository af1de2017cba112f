"""Image classification data for the MLP experiments (Figures 2 and 8-10), as flat tensors.

Each loader returns an :class:`ImageData` with pixels scaled to [0, 1], flattened, and
integer labels, and a note for captions:

* ``digits``: scikit-learn's bundled 8 x 8 set (offline; the quick scale's stand-in for MNIST);
* ``mnist``, ``cifar10``: the standard train/test splits, from the files the fetch verified;
* ``fashion_mnist``: Fashion-MNIST's standard 60,000/10,000 split (MNIST's format and sizes), likewise;
* ``mnist_test``: the official MNIST test set alone (what an offline mirror may hold), split
  at random into train and test here;
* ``cifar10_jpeg``: the CIFAR-10 test images as JPEG (lossy pixels: approximate), split likewise.
"""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass
class ImageData:
    """An image classification dataset, flattened to rows, with its train/test split."""

    name: str
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    note: str  # what the data is, for captions (e.g. a stand-in or an approximate copy)

    @property
    def d(self) -> int:
        """The number of input features (pixels times channels)."""
        return self.X_train.shape[1]


def digits(seed: int = 0, test_fraction: float = 0.2) -> ImageData:
    """scikit-learn's 1,797 8 x 8 digits, pixels / 16, a seeded random train/test split."""
    from sklearn.datasets import load_digits

    bundle = load_digits()
    X = torch.tensor(bundle.data / 16.0, dtype=torch.float32)
    y = torch.tensor(bundle.target, dtype=torch.int64)
    return ImageData(
        "digits",
        *_split(X, y, seed, test_fraction),
        10,
        note="scikit-learn digits (8x8), a stand-in for MNIST at quick scale",
    )


def _split(X: torch.Tensor, y: torch.Tensor, seed: int, test_fraction: float):
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
    n_test = round(test_fraction * len(X))
    return X[order[n_test:]], y[order[n_test:]], X[order[:n_test]], y[order[:n_test]]


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (MNIST's format), gzipped or not, as a NumPy array."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header announces shape {shape} but holds {data.size} values")
    return data.reshape(shape)


def _mnist_part(root: Path, prefix: str, folder: str = "mnist") -> tuple[torch.Tensor, torch.Tensor]:
    images = read_idx(root / folder / f"{prefix}-images-idx3-ubyte.gz")
    labels = read_idx(root / folder / f"{prefix}-labels-idx1-ubyte.gz")
    X = torch.tensor(images.reshape(len(images), -1), dtype=torch.float32) / 255
    return X, torch.tensor(labels, dtype=torch.int64)


def mnist(seed: int = 0, root: str | Path = "data") -> ImageData:
    """MNIST's 60,000 training and 10,000 test images, fetched and verified."""
    X_train, y_train = _mnist_part(Path(root), "train")
    X_test, y_test = _mnist_part(Path(root), "t10k")
    return ImageData("mnist", X_train, y_train, X_test, y_test, 10, note="MNIST, standard 60,000/10,000 split")


def fashion_mnist(seed: int = 0, root: str | Path = "data") -> ImageData:
    """Fashion-MNIST's 60,000 training and 10,000 test images, fetched and verified."""
    X_train, y_train = _mnist_part(Path(root), "train", "fashion-mnist")
    X_test, y_test = _mnist_part(Path(root), "t10k", "fashion-mnist")
    note = "Fashion-MNIST, standard 60,000/10,000 split"
    return ImageData("fashion_mnist", X_train, y_train, X_test, y_test, 10, note=note)


def mnist_test(seed: int = 0, root: str | Path = "data", test_fraction: float = 0.2) -> ImageData:
    """The mirror's MNIST test set alone, split into train and test by ``test_fraction``."""
    X, y = _mnist_part(Path(root), "t10k")
    return ImageData(
        "mnist_test",
        *_split(X, y, seed, test_fraction),
        10,
        note="the 10,000-image MNIST test set only, split 8,000/2,000 here (not the paper's training set)",
    )


def cifar10(seed: int = 0, root: str | Path = "data") -> ImageData:
    """CIFAR-10's 50,000 training and 10,000 test images, fetched and verified."""
    parts = {}
    with tarfile.open(Path(root) / "cifar10" / "cifar-10-python.tar.gz") as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            if name.startswith("data_batch_") or name == "test_batch":
                batch = pickle.load(tar.extractfile(member), encoding="bytes")
                parts[name] = (np.asarray(batch[b"data"]), np.asarray(batch[b"labels"]))
    train = [parts[f"data_batch_{i}"] for i in range(1, 6)]
    X_train = torch.tensor(np.concatenate([x for x, _ in train]), dtype=torch.float32) / 255
    y_train = torch.tensor(np.concatenate([y for _, y in train]), dtype=torch.int64)
    X_test = torch.tensor(parts["test_batch"][0], dtype=torch.float32) / 255
    y_test = torch.tensor(parts["test_batch"][1], dtype=torch.int64)
    return ImageData("cifar10", X_train, y_train, X_test, y_test, 10, note="CIFAR-10, standard 50,000/10,000 split")


def cifar10_jpeg(seed: int = 0, root: str | Path = "data", test_fraction: float = 0.2) -> ImageData:
    """The mirror's CIFAR-10 JPEG sample, split into train and test by ``test_fraction``."""
    from PIL import Image

    images, labels = [], []
    with tarfile.open(Path(root) / "cifar10-jpeg" / "cifar10-test-jpeg-q75.tar") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            parts = Path(member.name).parts
            if member.isfile() and member.name.endswith(".jpg") and len(parts) >= 3:
                pixels = np.asarray(Image.open(io.BytesIO(tar.extractfile(member).read())).convert("RGB"))
                images.append(pixels.transpose(2, 0, 1).reshape(-1))  # channel-major, as CIFAR's own files
                labels.append(CIFAR10_CLASSES.index(parts[-2]))
    X = torch.tensor(np.stack(images), dtype=torch.float32) / 255
    y = torch.tensor(labels, dtype=torch.int64)
    return ImageData(
        "cifar10_jpeg",
        *_split(X, y, seed, test_fraction),
        10,
        note="the 10,000 CIFAR-10 test images as JPEG (approximate pixels), split 8,000/2,000 here",
    )


LOADERS = {
    "digits": digits,
    "mnist": mnist,
    "mnist_test": mnist_test,
    "fashion_mnist": fashion_mnist,
    "cifar10": cifar10,
    "cifar10_jpeg": cifar10_jpeg,
}
FETCHED = ("mnist", "mnist_test", "fashion_mnist", "cifar10", "cifar10_jpeg")  # need the image fetch first


def load(name: str, seed: int = 0, root: str | Path = "data") -> ImageData:
    """The image dataset called ``name`` (one of LOADERS, or digits), split with ``seed``."""
    if name not in LOADERS:
        raise ValueError(f"unknown image dataset {name!r}: available here are {sorted(LOADERS)}")
    if name == "digits":
        return digits(seed)
    return LOADERS[name](seed, root)

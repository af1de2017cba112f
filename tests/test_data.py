"""Dataset fetch and readers: UCI-121 (collection format), MNIST and CIFAR-10 files, scikit-learn stand-ins."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from fact.data import uci121
from fact.data.fetch import (
    COLLECTIONS,
    Collection,
    FetchError,
    RemoteFile,
    dataset_status,
    fetch,
    fetch_images,
    image_files,
    resolve_mirror,
)
from fact.data.images import load as load_images
from fact.data.images import read_idx
from fact.data.tabular import SKLEARN_DATASETS, load_sklearn

FIXTURE = Path(__file__).parent / "fixtures" / "uci121"


def real_mirror() -> Path:
    """The mirror named by FACT_DATA_MIRROR; the real-data tests skip without one."""
    mirror = resolve_mirror(None)
    if mirror is None or not (mirror / "uci121").is_dir():
        pytest.skip("no UCI-121 mirror: set FACT_DATA_MIRROR to a folder with uci121/ (e.g. ../shared/data)")
    return mirror


# ---------------------------------------------------------------------- reader

def test_reader_parses_the_collection_format():
    data = uci121.load(FIXTURE / "toy")
    assert data.X.shape == (12, 3) and data.n_classes == 3
    assert data.y.tolist() == [i % 3 for i in range(12)]
    assert data.X[0].tolist() == [-0.1572, 0.0265, -0.078]  # the index column is dropped
    train, validation = data.validation
    assert sorted(np.concatenate([train, validation]).tolist()) == list(range(12))
    assert len(data.folds) == 4
    tested = np.concatenate([test for _, test in data.folds])
    assert sorted(tested.tolist()) == list(range(12))  # every row is tested once
    for train, test in data.folds:
        assert not set(train) & set(test)


@pytest.mark.parametrize("breakage, message", [
    (lambda folder: (folder / "toy.txt").write_text((folder / "toy.txt").read_text().replace("n_patrons1= 12", "n_patrons1= 13")),
     r"expected 13 rows"),
    (lambda folder: (folder / "toy.txt").write_text((folder / "toy.txt").read_text().replace("fich1= toy_R.dat\n", "")),
     r"metadata key 'fich1' is missing"),
    (lambda folder: (folder / "conxuntos_kfold.dat").write_text("1 2\n3 4\n"), r"expected 8 lines"),
    (lambda folder: (folder / "conxuntos.dat").write_text("0 1 99\n2 3\n"), r"validation split indexes rows outside"),
])
def test_reader_names_the_broken_file(tmp_path, breakage, message):
    folder = tmp_path / "toy"
    shutil.copytree(FIXTURE / "toy", folder)
    breakage(folder)
    with pytest.raises(ValueError, match=message):
        uci121.load(folder)


def test_reader_reads_every_real_dataset():
    mirror = real_mirror()
    names = sorted(p.name for p in (mirror / "uci121").iterdir() if p.is_dir())
    assert len(names) >= 116
    for name in names:
        data = uci121.load(mirror / "uci121" / name)
        metadata = uci121.read_metadata(mirror / "uci121" / name / f"{name}.txt")
        assert data.X.shape == (int(metadata["n_patrons1"]), int(metadata["n_entradas"])), name
        assert len(data.validation[0]) == int(metadata["n_patrons_entrena"]), name
        assert np.isfinite(data.X).all(), name


# ---------------------------------------------------------------------- fetch

def _manifest_for(tmp_path: Path, mirror: Path, extra_datasets=()) -> Collection:
    """A collection whose manifest holds the true checksums of the mirror's files."""
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    lines = [f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(mirror / 'uci121').as_posix()}"
             for path in sorted((mirror / "uci121").rglob("*")) if path.is_file()]
    (manifests / "uci121.sha256").write_text("\n".join(lines) + "\n")
    names = sorted({line.split()[1].split("/")[0] for line in lines} | set(extra_datasets))
    (manifests / "uci121.datasets").write_text("\n".join(names) + "\n")
    return Collection("uci121", "http://example.invalid/data.tar.gz", manifests)


@pytest.fixture
def toy_mirror(tmp_path) -> Path:
    mirror = tmp_path / "mirror"
    for name in ("toy", "toy2"):
        shutil.copytree(FIXTURE / "toy", mirror / "uci121" / name)
        for path in (mirror / "uci121" / name).iterdir():
            if path.name.startswith("toy") and name != "toy":
                path.rename(path.with_name(path.name.replace("toy", name)))
        text = (mirror / "uci121" / name / f"{name}.txt").read_text().replace("toy_R.dat", f"{name}_R.dat")
        (mirror / "uci121" / name / f"{name}.txt").write_text(text)
    return mirror


def test_fetch_from_a_mirror_verifies_and_copies(tmp_path, toy_mirror):
    collection = _manifest_for(tmp_path, toy_mirror, extra_datasets=["absent"])
    report = fetch(collection, tmp_path / "data", toy_mirror)
    assert report.available == ["toy", "toy2"]
    assert "cannot be verified" in report.unavailable["absent"]
    assert uci121.load(tmp_path / "data" / "uci121" / "toy2").X.shape == (12, 3)
    assert dataset_status(tmp_path / "data" / "uci121", "toy")["available"]
    assert not dataset_status(tmp_path / "data" / "uci121", "absent")["available"]
    assert json.loads((tmp_path / "data" / "uci121" / "fetch.json").read_text())["available"] == ["toy", "toy2"]


def test_fetch_rejects_a_corrupted_file_by_name_with_both_hashes(tmp_path, toy_mirror):
    collection = _manifest_for(tmp_path, toy_mirror)
    expected = collection.manifest()["toy2/toy2_R.dat"]
    corrupted = toy_mirror / "uci121" / "toy2" / "toy2_R.dat"
    corrupted.write_text(corrupted.read_text().replace("\t0\n", "\t1\n", 1))
    actual = hashlib.sha256(corrupted.read_bytes()).hexdigest()
    report = fetch(collection, tmp_path / "data", toy_mirror)
    assert report.available == ["toy"]
    reason = report.unavailable["toy2"]
    assert "toy2/toy2_R.dat" in reason and expected in reason and actual in reason
    assert not (tmp_path / "data" / "uci121" / "toy2" / "toy2_R.dat").exists()  # never used


def test_fetch_reports_a_missing_file_and_a_rerun_rewrites_nothing(tmp_path, toy_mirror):
    collection = _manifest_for(tmp_path, toy_mirror)
    (toy_mirror / "uci121" / "toy2" / "conxuntos.dat").unlink()
    report = fetch(collection, tmp_path / "data", toy_mirror)
    assert "toy2/conxuntos.dat: file missing" in report.unavailable["toy2"]
    status = tmp_path / "data" / "uci121" / "status" / "toy.json"
    os.utime(status, (0, 0))
    fetch(collection, tmp_path / "data", toy_mirror)
    assert status.stat().st_mtime == 0  # unchanged verdict, untouched file: no downstream rerun


def test_fetch_without_network_or_mirror_says_what_to_do(tmp_path):
    unreachable = Collection("uci121", "http://127.0.0.1:9/data.tar.gz")  # nothing listens on port 9
    with pytest.raises(FetchError, match=r"could not download .*point data.mirror \(or FACT_DATA_MIRROR\)"):
        fetch(unreachable, tmp_path / "data", None)


def test_fetch_says_how_to_fix_a_wrong_mirror(tmp_path):
    with pytest.raises(FileNotFoundError, match="FACT_DATA_MIRROR"):
        fetch(COLLECTIONS["uci121"], tmp_path / "data", tmp_path / "nowhere")


def test_the_repository_manifest_matches_the_real_mirror(tmp_path):
    mirror = real_mirror()
    report = fetch(COLLECTIONS["uci121"], tmp_path / "data", mirror)
    assert len(report.available) == 116
    assert sorted(report.unavailable) == ["adult", "connect-4", "miniboone", "musk-2", "statlog-shuttle"]


# ---------------------------------------------------------------------- scikit-learn stand-ins

@pytest.mark.parametrize("name", SKLEARN_DATASETS)
def test_sklearn_sets_have_the_protocol_shape(name):
    data = load_sklearn(name, seed=1)
    assert np.allclose(data.X.mean(axis=0), 0, atol=1e-10)
    assert sorted(np.concatenate(data.validation).tolist()) == list(range(len(data.X)))
    assert sorted(np.concatenate([test for _, test in data.folds]).tolist()) == list(range(len(data.X)))
    again = load_sklearn(name, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(data.validation, again.validation))


# ---------------------------------------------------------------------- image files (MNIST, CIFAR-10)

def _idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def _image_mirror(tmp_path: Path) -> tuple[Path, list[RemoteFile]]:
    mirror = tmp_path / "mirror"
    (mirror / "mnist").mkdir(parents=True)
    rng = np.random.default_rng(0)
    _idx(mirror / "mnist" / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, size=(20, 28, 28)))
    _idx(mirror / "mnist" / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, size=20))
    files = [RemoteFile("mnist_test", "md5:" + hashlib.md5((mirror / "mnist" / name).read_bytes()).hexdigest(),
                        f"mnist/{name}", None)
             for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")]
    files.append(RemoteFile("mnist", "md5:" + "0" * 32, "mnist/train-images-idx3-ubyte.gz", None))
    return mirror, files


def test_image_fetch_verifies_md5_and_says_what_to_provide(tmp_path):
    mirror, files = _image_mirror(tmp_path)
    report = fetch_images(tmp_path / "data", mirror, files)
    assert report.available == ["mnist_test"]
    assert "mnist/train-images-idx3-ubyte.gz: file missing" in report.unavailable["mnist"]
    assert str(mirror / "mnist/train-images-idx3-ubyte.gz") in report.unavailable["mnist"]
    data = load_images("mnist_test", 0, tmp_path / "data")
    assert data.X_train.shape == (16, 784) and float(data.X_train.max()) <= 1.0


def test_image_fetch_rejects_a_corrupted_file_by_name_with_both_hashes(tmp_path):
    mirror, files = _image_mirror(tmp_path)
    labels = mirror / "mnist" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes() + b"\0")
    actual = "md5:" + hashlib.md5(labels.read_bytes()).hexdigest()
    report = fetch_images(tmp_path / "data", mirror, files)
    reason = report.unavailable["mnist_test"]
    assert "t10k-labels-idx1-ubyte.gz" in reason and files[1].known_hash in reason and actual in reason
    assert not (tmp_path / "data" / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()


def test_idx_reader_refuses_a_truncated_file(tmp_path):
    path = tmp_path / "broken.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + bytes(3))
    with pytest.raises(ValueError, match="holds 3 values"):
        read_idx(path)


def test_the_image_manifest_matches_the_real_mirror(tmp_path):
    mirror = real_mirror()
    report = fetch_images(tmp_path / "data", mirror, [f for f in image_files() if f.url is None or "t10k" in f.path])
    assert {"mnist_test", "cifar10_jpeg"} <= set(report.available)
    data = load_images("mnist_test", 0, tmp_path / "data")
    assert data.X_train.shape == (8000, 784) and data.y_train.max() == 9


def test_a_recompressed_copy_is_accepted_by_the_hash_of_its_content(tmp_path):
    mirror, files = _image_mirror(tmp_path)
    images = mirror / "mnist" / "t10k-images-idx3-ubyte.gz"
    content = gzip.decompress(images.read_bytes())
    content_md5 = "md5:" + hashlib.md5(content).hexdigest()
    images.write_bytes(gzip.compress(content, mtime=12345))  # same pixels, other gzip header (as Debian ships)
    files[0] = RemoteFile("mnist_test", files[0].known_hash, files[0].path, None, content_md5)
    assert fetch_images(tmp_path / "data", mirror, files).available == ["mnist_test"]
    files[0] = RemoteFile("mnist_test", files[0].known_hash, files[0].path, None, "md5:" + "1" * 32)
    report = fetch_images(tmp_path / "other", mirror, files)
    assert "checksum mismatch" in report.unavailable["mnist_test"]

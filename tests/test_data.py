"""Dataset fetch and readers: UCI-121 (collection format), MNIST and CIFAR-10 files, scikit-learn stand-ins."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import os
import pickle
import shutil
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from fact.experiments.data import uci121
from fact.experiments.data.fetch import FetchError, fetch, resolve_mirror
from fact.experiments.data.images import load as load_images
from fact.experiments.data.images import read_idx
from fact.experiments.data.manifest import collection_files, dataset_status, fetch_revision
from fact.experiments.data.protocol_splits import SKLEARN_DATASETS, load_sklearn
from tests.support.mirror import FIXTURE, _manifests_for, corrupt, make_toy_mirror, serve_uci121_archive


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


@pytest.mark.parametrize(
    "breakage, message",
    [
        (
            lambda folder: (folder / "toy.txt").write_text(
                (folder / "toy.txt").read_text().replace("n_patrons1= 12", "n_patrons1= 13")
            ),
            r"expected 13 rows",
        ),
        (
            lambda folder: (folder / "toy.txt").write_text(
                (folder / "toy.txt").read_text().replace("fich1= toy_R.dat\n", "")
            ),
            r"metadata key 'fich1' is missing",
        ),
        (lambda folder: (folder / "conxuntos_kfold.dat").write_text("1 2\n3 4\n"), r"expected 8 lines"),
        (
            lambda folder: (folder / "conxuntos.dat").write_text("0 1 99\n2 3\n"),
            r"validation split indexes rows outside",
        ),
    ],
)
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


@pytest.fixture
def toy_mirror(tmp_path) -> Path:
    return make_toy_mirror(tmp_path / "mirror")


def test_fetch_from_a_mirror_verifies_and_copies(tmp_path, toy_mirror):
    manifests = _manifests_for(tmp_path, toy_mirror, extra_datasets=["absent"])
    statuses = fetch("uci121", tmp_path / "data", None, toy_mirror, manifests=manifests)
    assert [name for name, status in statuses.items() if status["available"]] == ["toy", "toy2"]
    assert "cannot be verified" in statuses["absent"]["reason"]
    assert uci121.load(tmp_path / "data" / "uci121" / "toy2").X.shape == (12, 3)
    assert dataset_status(tmp_path / "data", "uci121", "toy")["available"]
    assert not dataset_status(tmp_path / "data", "uci121", "absent")["available"]
    assert "run the fetch first" in dataset_status(tmp_path / "data", "uci121", "never")["reason"]


def test_fetch_rejects_a_corrupted_file_by_name_with_both_hashes(tmp_path, toy_mirror):
    manifests = _manifests_for(tmp_path, toy_mirror)
    expected = collection_files("uci121", manifests)["toy2"][-1].expected
    actual = corrupt(toy_mirror / "uci121" / "toy2" / "toy2_R.dat")
    statuses = fetch("uci121", tmp_path / "data", None, toy_mirror, manifests=manifests)
    assert statuses["toy"]["available"] and not statuses["toy2"]["available"]
    reason = statuses["toy2"]["reason"]
    assert "uci121/toy2/toy2_R.dat" in reason and expected in reason and actual in reason
    assert not (tmp_path / "data" / "uci121" / "toy2" / "toy2_R.dat").exists()  # never used


def test_fetch_reports_a_missing_file_and_a_rerun_rewrites_nothing(tmp_path, toy_mirror):
    manifests = _manifests_for(tmp_path, toy_mirror)
    (toy_mirror / "uci121" / "toy2" / "conxuntos.dat").unlink()
    statuses = fetch("uci121", tmp_path / "data", None, toy_mirror, manifests=manifests)
    assert (
        f"uci121/toy2/conxuntos.dat: file missing from the source (put it at {toy_mirror}" in statuses["toy2"]["reason"]
    )
    status = tmp_path / "data" / "uci121" / "status" / "toy.json"
    os.utime(status, (0, 0))
    fetch("uci121", tmp_path / "data", None, toy_mirror, manifests=manifests)
    assert status.stat().st_mtime == 0  # unchanged verdict, untouched file


@pytest.fixture
def file_server(tmp_path):
    """An HTTP server on 127.0.0.1 serving a folder; yields (folder, base URL)."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_fetch_downloads_from_a_server_with_a_corrupted_and_a_missing_file(tmp_path, file_server):
    good = make_toy_mirror(tmp_path / "good", ("toy", "toy2", "toy3"))
    manifests = _manifests_for(tmp_path, good)
    served = make_toy_mirror(tmp_path / "published", ("toy", "toy2", "toy3"))
    actual = corrupt(served / "uci121" / "toy2" / "toy2_R.dat")
    (served / "uci121" / "toy3" / "conxuntos_kfold.dat").unlink()
    folder, url = file_server
    serve_uci121_archive(folder, served)
    statuses = fetch("uci121", tmp_path / "data", None, None, url, manifests=manifests)
    assert statuses["toy"]["available"] and statuses["toy"]["source"] == f"download {url}"
    assert uci121.load(tmp_path / "data" / "uci121" / "toy").X.shape == (12, 3)
    assert (
        "uci121/toy2/toy2_R.dat: checksum mismatch" in statuses["toy2"]["reason"]
        and actual in statuses["toy2"]["reason"]
    )
    assert "uci121/toy3/conxuntos_kfold.dat: file missing" in statuses["toy3"]["reason"]
    assert "delete" in statuses["toy3"]["reason"]  # how to fetch again once the source is fixed
    assert (tmp_path / "data" / "downloads" / "uci121" / "data.tar.gz").is_file()  # downloaded once, kept


def test_image_files_download_from_a_server_laid_out_like_the_data_folder(tmp_path, file_server):
    folder, url = file_server
    mirror, lines = _image_mirror(tmp_path)
    shutil.copytree(mirror / "mnist", folder / "mnist")
    manifests = _manifests_for(tmp_path, make_toy_mirror(tmp_path / "unused"), image_lines=lines[:2])
    statuses = fetch("images", tmp_path / "data", None, None, url, manifests=manifests)
    assert statuses["mnist_test"]["available"]
    assert load_images("mnist_test", 0, tmp_path / "data").X_train.shape == (16, 784)


def test_fetch_without_network_or_mirror_says_what_to_do_and_records_nothing(tmp_path, toy_mirror):
    manifests = _manifests_for(tmp_path, toy_mirror)
    with pytest.raises(
        FetchError,
        match=r"download from http://127\.0\.0\.1:9/uci121/data\.tar\.gz failed .*"
        r"set data\.mirror or FACT_DATA_MIRROR",
    ):
        fetch(
            "uci121", tmp_path / "data", ["toy"], None, "http://127.0.0.1:9", manifests=manifests
        )  # nothing on port 9
    assert not (tmp_path / "data" / "uci121" / "status" / "toy.json").exists()  # the next run tries again


def test_fetch_says_how_to_fix_a_wrong_mirror(tmp_path):
    with pytest.raises(FileNotFoundError, match="FACT_DATA_MIRROR"):
        fetch("uci121", tmp_path / "data", None, tmp_path / "nowhere")


def test_a_status_stays_current_until_the_files_change(tmp_path, toy_mirror):
    manifests = _manifests_for(tmp_path, toy_mirror)
    data = tmp_path / "data"
    corrupt(toy_mirror / "uci121" / "toy2" / "toy2_R.dat")
    revision = lambda name, mirror=toy_mirror: fetch_revision(data, "uci121", name, mirror, manifests=manifests)  # noqa: E731
    assert revision("toy") == 0  # no status yet
    fetch("uci121", data, None, toy_mirror, manifests=manifests)
    assert revision("toy") == 0 and revision("toy2") == 0  # nothing changed since: nothing to redo
    # a verified dataset does not care where files would come from; a failed one would try the new source
    assert revision("toy", None) == 0 and revision("toy2", None) == 1
    # the mirror's file repaired: a new revision for that dataset only
    shutil.copy(FIXTURE / "toy" / "toy_R.dat", toy_mirror / "uci121" / "toy2" / "toy2_R.dat")
    assert revision("toy2") == 1 and revision("toy") == 0
    fetch("uci121", data, ["toy2"], toy_mirror, revision=1, manifests=manifests)
    assert dataset_status(data, "uci121", "toy2")["available"] and revision("toy2") == 1  # current again
    # a verified file deleted
    (data / "uci121" / "toy" / "conxuntos.dat").unlink()
    assert revision("toy") == 1
    fetch("uci121", data, ["toy"], toy_mirror, revision=1, manifests=manifests)
    assert revision("toy") == 1 and (data / "uci121" / "toy" / "conxuntos.dat").is_file()
    # the manifest changed
    (manifests / "uci121.sha256").write_text((manifests / "uci121.sha256").read_text().replace("toy/", "toy/x", 1))
    assert revision("toy") == 2


def test_the_repository_manifest_matches_the_real_mirror(tmp_path):
    mirror = real_mirror()
    statuses = fetch("uci121", tmp_path / "data", None, mirror)
    assert sum(status["available"] for status in statuses.values()) == 116
    assert sorted(name for name, status in statuses.items() if not status["available"]) == [
        "adult",
        "connect-4",
        "miniboone",
        "musk-2",
        "statlog-shuttle",
    ]


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


def _image_mirror(tmp_path: Path) -> tuple[Path, list[str]]:
    """A mirror with a small MNIST test set, and its manifest lines (the training images: none)."""
    mirror = tmp_path / "image-mirror"
    (mirror / "mnist").mkdir(parents=True)
    rng = np.random.default_rng(0)
    _idx(mirror / "mnist" / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, size=(20, 28, 28)))
    _idx(mirror / "mnist" / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, size=20))
    lines = [
        f"mnist_test md5:{hashlib.md5((mirror / 'mnist' / name).read_bytes()).hexdigest()} mnist/{name} - -"
        for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    ]
    lines.append("mnist md5:" + "0" * 32 + " mnist/train-images-idx3-ubyte.gz - -")
    return mirror, lines


def _image_manifests(tmp_path: Path, lines: list[str]) -> Path:
    return _manifests_for(tmp_path, make_toy_mirror(tmp_path / "unused"), image_lines=lines)


def test_image_fetch_verifies_md5_and_says_what_to_provide(tmp_path):
    mirror, lines = _image_mirror(tmp_path)
    statuses = fetch("images", tmp_path / "data", None, mirror, manifests=_image_manifests(tmp_path, lines))
    assert statuses["mnist_test"]["available"]
    reason = statuses["mnist"]["reason"]
    assert "mnist/train-images-idx3-ubyte.gz: file missing" in reason
    assert str(mirror / "mnist/train-images-idx3-ubyte.gz") in reason
    data = load_images("mnist_test", 0, tmp_path / "data")
    assert data.X_train.shape == (16, 784) and float(data.X_train.max()) <= 1.0


def test_image_fetch_rejects_a_corrupted_file_by_name_with_both_hashes(tmp_path):
    mirror, lines = _image_mirror(tmp_path)
    labels = mirror / "mnist" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes() + b"\0")
    actual = "md5:" + hashlib.md5(labels.read_bytes()).hexdigest()
    statuses = fetch("images", tmp_path / "data", None, mirror, manifests=_image_manifests(tmp_path, lines))
    reason = statuses["mnist_test"]["reason"]
    assert "t10k-labels-idx1-ubyte.gz" in reason and lines[1].split()[1] in reason and actual in reason
    assert not (tmp_path / "data" / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()


def test_idx_reader_refuses_a_truncated_file(tmp_path):
    path = tmp_path / "broken.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + bytes(3))
    with pytest.raises(ValueError, match="holds 3 values"):
        read_idx(path)


def test_the_image_manifest_matches_the_real_mirror(tmp_path):
    mirror = real_mirror()
    statuses = fetch("images", tmp_path / "data", ["mnist_test", "cifar10_jpeg"], mirror)
    assert statuses["mnist_test"]["available"] and statuses["cifar10_jpeg"]["available"]
    data = load_images("mnist_test", 0, tmp_path / "data")
    assert data.X_train.shape == (8000, 784) and data.y_train.max() == 9


DEBIAN_DATASETS = Path("/usr/share/datasets")  # where Debian's dataset-fashion-mnist puts fashion-mnist/


def test_fashion_mnist_is_fetched_from_debians_copy_by_the_hash_of_its_content(tmp_path):
    """Debian re-compressed the four files (other gzip headers, same bytes inside): the manifest's hashes of the
    decompressed files accept them, and the loader reads the standard split."""
    if not (DEBIAN_DATASETS / "fashion-mnist").is_dir():
        pytest.skip("Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
    statuses = fetch("images", tmp_path / "data", ["fashion_mnist"], DEBIAN_DATASETS)
    assert statuses["fashion_mnist"]["available"], statuses["fashion_mnist"]["reason"]
    data = load_images("fashion_mnist", 0, tmp_path / "data")
    assert data.X_train.shape == (60000, 784) and data.X_test.shape == (10000, 784)
    assert torch.bincount(data.y_train).tolist() == [6000] * 10 and 0 <= data.X_train.min() < data.X_train.max() <= 1


def test_a_mirror_needs_only_the_folders_of_the_datasets_asked_for(tmp_path):
    fashion_only = tmp_path / "mirror"
    (fashion_only / "fashion-mnist").mkdir(parents=True)
    statuses = fetch("images", tmp_path / "data", ["fashion_mnist"], fashion_only)
    assert "fashion-mnist/train-images-idx3-ubyte.gz: file missing" in statuses["fashion_mnist"]["reason"]
    with pytest.raises(FileNotFoundError, match="has no folder mnist/"):
        fetch("images", tmp_path / "data", ["mnist_test"], fashion_only)


def test_a_recompressed_copy_is_accepted_by_the_hash_of_its_content(tmp_path):
    mirror, lines = _image_mirror(tmp_path)
    images = mirror / "mnist" / "t10k-images-idx3-ubyte.gz"
    content = gzip.decompress(images.read_bytes())
    content_md5 = "md5:" + hashlib.md5(content).hexdigest()
    images.write_bytes(gzip.compress(content, mtime=12345))  # same pixels, other gzip header (as Debian ships)
    accepted = lines[0].rsplit(" ", 1)[0] + f" {content_md5}"
    statuses = fetch(
        "images",
        tmp_path / "data",
        ["mnist_test"],
        mirror,
        manifests=_image_manifests(tmp_path / "a", [accepted, lines[1]]),
    )
    assert statuses["mnist_test"]["available"]
    refused = lines[0].rsplit(" ", 1)[0] + " md5:" + "1" * 32
    statuses = fetch(
        "images",
        tmp_path / "other",
        ["mnist_test"],
        mirror,
        manifests=_image_manifests(tmp_path / "b", [refused, lines[1]]),
    )
    assert "checksum mismatch" in statuses["mnist_test"]["reason"]


def test_full_mnist_fashion_mnist_and_cifar10_load_from_files_in_their_real_formats(tmp_path):
    """The paper-scale loaders, on small files laid out and encoded as the real ones: MNIST's four
    gzipped IDX files, CIFAR-10's python tarball of pickled batches (channel-major rows of 3072 bytes)."""
    rng = np.random.default_rng(1)
    root = tmp_path / "data"
    (root / "mnist").mkdir(parents=True)
    parts = {"train": rng.integers(0, 256, size=(12, 28, 28)), "t10k": rng.integers(0, 256, size=(5, 28, 28))}
    labels = {"train": rng.integers(0, 10, size=12), "t10k": rng.integers(0, 10, size=5)}
    for prefix in parts:
        _idx(root / "mnist" / f"{prefix}-images-idx3-ubyte.gz", parts[prefix])
        _idx(root / "mnist" / f"{prefix}-labels-idx1-ubyte.gz", labels[prefix])
    shutil.copytree(root / "mnist", root / "fashion-mnist")  # Fashion-MNIST: MNIST's format, its own folder
    for name in ("mnist", "fashion_mnist"):
        data = load_images(name, 0, root)
        assert data.X_train.shape == (12, 784) and data.X_test.shape == (5, 784)
        assert torch.equal(data.X_train[3], torch.tensor(parts["train"][3].reshape(-1), dtype=torch.float32) / 255)
        assert data.y_test.tolist() == labels["t10k"].tolist()

    (root / "cifar10").mkdir()
    batches = {
        name: (rng.integers(0, 256, size=(4, 3072), dtype=np.uint8), rng.integers(0, 10, size=4).tolist())
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    }
    with tarfile.open(root / "cifar10" / "cifar-10-python.tar.gz", "w:gz") as tar:
        for name, (pixels, classes) in batches.items():
            payload = pickle.dumps({b"batch_label": name.encode(), b"labels": classes, b"data": pixels})
            member = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            member.size = len(payload)
            tar.addfile(member, io.BytesIO(payload))
    data = load_images("cifar10", 0, root)
    assert data.X_train.shape == (20, 3072) and data.X_test.shape == (4, 3072) and data.d == 3072
    assert torch.equal(data.X_train[5], torch.tensor(batches["data_batch_2"][0][1], dtype=torch.float32) / 255)
    assert data.y_train.tolist() == sum((batches[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    assert data.y_test.tolist() == batches["test_batch"][1]

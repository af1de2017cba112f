"""What each fetched dataset consists of, and whether the fetch's verdict on it still holds.

The manifests in ``manifests/`` name every file of every dataset with its checksum. The fetch
(``fact.experiments.data.fetch``) writes one status file per dataset, ``<data>/<collection>/status/<dataset>.json``,
recording the verdict and, per file, what it found: ``ok`` (verified and installed under the
data folder), ``missing``, or the hash the file had instead of the expected one.

The workflow reads this module when it builds the DAG (so it uses the standard library only):
:func:`fetch_revision` tells whether a status still describes the files on disk and at the
source. It does, unless a verified file was deleted, the manifest changed, or a file that failed
has changed at the mirror (repaired, added) or the source of the files changed. Then the
revision goes up, which reruns that dataset's fetch job, and only that dataset's results.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

MANIFESTS = Path(__file__).parent / "manifests"
COLLECTIONS = ("uci121", "images")
OK, MISSING = "ok", "missing"


@dataclass(frozen=True)
class ManifestFile:
    """One file of a dataset: where it lies, its checksum, and where it is published on its own."""

    dataset: str
    path: str  # relative to the data folder, a mirror and a download URL, e.g. "uci121/iris/iris.txt"
    expected: str  # "md5:<hex>", "sha256:<hex>", or bare hex (SHA-256)
    url: str | None = None  # None: it comes in an archive (UCI-121) or from a mirror only
    decompressed: str | None = None  # a .gz file's content hash, accepted too (re-compressed copies)


def collection_files(collection: str, manifests: Path = MANIFESTS) -> dict[str, list[ManifestFile]]:
    """{dataset: its files} for every dataset of a collection; an empty list: no checksums are known."""
    if collection == "uci121":
        datasets: dict[str, list[ManifestFile]] = {
            name: [] for name in (manifests / "uci121.datasets").read_text().split()
        }
        for line in (manifests / "uci121.sha256").read_text().splitlines():
            if line.strip():
                digest, relative = line.split(maxsplit=1)
                name = relative.split("/")[0]
                datasets.setdefault(name, []).append(ManifestFile(name, f"uci121/{relative}", digest))
        return datasets
    if collection == "images":
        datasets = {}
        for line in (manifests / "images.files").read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                name, expected, path, url, content = line.split()
                datasets.setdefault(name, []).append(
                    ManifestFile(name, path, expected, None if url == "-" else url, None if content == "-" else content)
                )
        return datasets
    raise ValueError(f"unknown collection {collection!r}: use one of {list(COLLECTIONS)}")


def file_hash(path: Path, like: str) -> str:
    """The hash of ``path`` in the form of ``like`` ("md5:...", "sha256:...", or bare SHA-256 hex)."""
    algorithm = like.split(":", 1)[0] if ":" in like else "sha256"
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"{algorithm}:{digest.hexdigest()}" if ":" in like else digest.hexdigest()


def decompressed_hash(path: Path, like: str) -> str:
    """The hash of a .gz file's decompressed content, in the form of ``like``."""
    algorithm = like.split(":", 1)[0]
    digest = hashlib.new(algorithm)
    with gzip.open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"{algorithm}:{digest.hexdigest()}"


def file_state(path: Path | None, file: ManifestFile) -> str:
    """``ok`` if the file at ``path`` is the manifest's, ``missing`` if there is none, else its actual hash."""
    if path is None or not Path(path).is_file():
        return MISSING
    actual = file_hash(path, file.expected)
    if actual == file.expected:
        return OK
    if file.decompressed and str(path).endswith(".gz"):
        try:
            if decompressed_hash(path, file.decompressed) == file.decompressed:
                return OK
        except (OSError, EOFError):  # not a readable gzip stream: keep the mismatch
            pass
    return actual


def status_path(data_root: Path, collection: str, dataset: str) -> Path:
    """Where the fetch records its verdict on one dataset."""
    return Path(data_root) / collection / "status" / f"{dataset}.json"


def read_status(data_root: Path, collection: str, dataset: str) -> dict | None:
    """The fetch's recorded verdict on one dataset, or None when it has none."""
    path = status_path(data_root, collection, dataset)
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def dataset_status(data_root: Path, collection: str, name: str) -> dict:
    """The fetch's verdict on one dataset: {"available": bool, "reason": str, ...}."""
    status = read_status(data_root, collection, name)
    if status is None:
        return {
            "dataset": name,
            "available": False,
            "reason": f"not fetched (no status file under {Path(data_root) / collection / 'status'}): "
            "run the fetch first",
        }
    return status


def write_status(data_root: Path, collection: str, record: dict) -> None:
    """Write a dataset's status atomically (a fixed temporary name: a killed job's is overwritten next time)."""
    path = status_path(data_root, collection, record["dataset"])
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(record, indent=1, sort_keys=True))
    os.replace(temporary, path)


def describe_source(mirror: Path | None, download_url: str | None) -> str:
    """Where files that are not yet verified come from, in the words a status records."""
    if mirror is not None:
        return f"mirror {Path(mirror).resolve()}"
    return f"download {download_url}" if download_url else "download"


def status_is_current(
    status: dict, files: list[ManifestFile], data_root: Path, mirror: Path | None, download_url: str | None
) -> bool:
    """Whether a status still describes the dataset's files, on disk and at their source."""
    recorded = status.get("files", {})
    if sorted(recorded) != sorted(file.path for file in files):
        return False
    for file in files:
        entry = recorded[file.path]
        if entry.get("expected") != file.expected:
            return False  # the manifest changed
        if entry.get("state") == OK:
            if not (Path(data_root) / file.path).is_file():
                return False  # a verified file was deleted
        elif status.get("source") != describe_source(mirror, download_url):
            return False  # a file failed, and now another source would be tried
        elif mirror is not None and file_state(Path(mirror) / file.path, file) != entry.get("state"):
            return False  # repaired, added or changed at the mirror
    return True


def fetch_revision(
    data_root: Path,
    collection: str,
    dataset: str,
    mirror: Path | None = None,
    download_url: str | None = None,
    manifests: Path = MANIFESTS,
) -> int:
    """The revision a fetch of ``dataset`` is to record: the status's own while it is current, else the next.

    The workflow passes it to the fetch job as a parameter: an unchanged revision leaves the
    job (and everything downstream) alone, a new one reruns it. The job records the revision
    it was given, so once it has run, the status is current again at that revision.
    """
    status = read_status(data_root, collection, dataset)
    if status is None:
        return 0
    files = collection_files(collection, manifests).get(dataset, [])
    revision = int(status.get("revision", 0))
    return revision if status_is_current(status, files, data_root, mirror, download_url) else revision + 1

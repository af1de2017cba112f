"""Fetch a dataset collection and check every file against the manifest kept in this repository.

The files come from a local mirror folder when one is configured (laid out like the
project's shared data folder: ``<mirror>/<collection>/<dataset>/<file>``), otherwise from the
canonical archive, downloaded with pooch. Either way a file is used only when its SHA-256
equals the manifest's; a dataset with any missing or mismatching file is reported by name
and left out, and the rest go on.

    python -m fact.data.fetch uci121 --dest data [--mirror ../shared/data]
    python -m fact.data.fetch images --dest data [--mirror ../shared/data]   # MNIST, CIFAR-10
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import os
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pooch

log = logging.getLogger(__name__)

MANIFESTS = Path(__file__).parent / "manifests"
MIRROR_VARIABLE = "FACT_DATA_MIRROR"
REPORT = "fetch.json"
STATUS = "status"  # one <dataset>.json per dataset, so each dataset's jobs depend on its own status only


class FetchError(RuntimeError):
    """A collection could not be had at all (no network and no mirror, a broken archive)."""


@dataclass(frozen=True)
class Collection:
    """A collection: its canonical archive and the manifest files that describe it."""

    name: str
    url: str
    manifests: Path = MANIFESTS  # holds <name>.sha256 (sha256sum format) and <name>.datasets

    def manifest(self) -> dict[str, str]:
        """{path relative to the collection folder: expected SHA-256}."""
        lines = (self.manifests / f"{self.name}.sha256").read_text().splitlines()
        return {path: digest for digest, path in (line.split(maxsplit=1) for line in lines if line.strip())}

    def datasets(self) -> list[str]:
        """Every dataset of the collection, including those without checksums here."""
        return (self.manifests / f"{self.name}.datasets").read_text().split()


COLLECTIONS = {
    "uci121": Collection(
        "uci121", "http://persoal.citius.usc.es/manuel.fernandez.delgado/papers/jmlr/data.tar.gz"),
}


@dataclass
class FetchReport:
    """What a fetch found: datasets ready to use, and why the others are not."""

    source: str
    available: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)

    def write(self, folder: Path) -> None:
        """fetch.json with everything, and status/<dataset>.json for each dataset."""
        _write_if_changed(folder / REPORT, self.__dict__)
        for name in [*self.available, *self.unavailable]:
            _write_if_changed(folder / STATUS / f"{name}.json",
                              {"dataset": name, "available": name in self.available,
                               "reason": self.unavailable.get(name, ""), "source": self.source})


def _write_if_changed(path: Path, content: dict) -> None:
    """Write JSON atomically, leaving an identical file untouched (so nothing downstream reruns)."""
    text = json.dumps(content, indent=1, sort_keys=True)
    if path.is_file() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def dataset_status(folder: Path, name: str) -> dict:
    """The fetch's verdict on one dataset: {"available": bool, "reason": str, ...}."""
    path = Path(folder) / STATUS / f"{name}.json"
    if not path.is_file():
        return {"dataset": name, "available": False, "reason": f"not fetched ({path} is missing): run the fetch first"}
    return json.loads(path.read_text())


def file_hash(path: Path, known: str) -> str:
    """The hash of path in the form of ``known`` ("md5:..." / "sha256:..."; bare hex is SHA-256)."""
    algorithm = known.split(":", 1)[0] if ":" in known else "sha256"
    digest = pooch.file_hash(str(path), alg=algorithm)
    return f"{algorithm}:{digest}" if ":" in known else digest


def resolve_mirror(configured: str | os.PathLike | None) -> Path | None:
    """The config's mirror, else the FACT_DATA_MIRROR environment variable, else None."""
    mirror = configured or os.environ.get(MIRROR_VARIABLE) or None
    return Path(mirror).expanduser() if mirror else None


def fetch(collection: Collection, dest: Path, mirror: Path | None = None) -> FetchReport:
    """Put the verified files of every dataset under dest/<collection>/, with fetch.json and status/ there."""
    target = Path(dest) / collection.name
    target.mkdir(parents=True, exist_ok=True)
    if mirror is not None:
        root = Path(mirror) / collection.name
        if not root.is_dir():
            raise FileNotFoundError(f"the data mirror {mirror} has no folder {collection.name}/; point data.mirror "
                                    f"(or {MIRROR_VARIABLE}) at a folder laid out like <mirror>/{collection.name}/<dataset>/")
        report = FetchReport(source=f"mirror {Path(mirror).resolve()}")
        locate = lambda relative: root / relative  # noqa: E731
    else:
        try:
            files = _download_and_extract(collection, Path(dest) / "downloads")
        except Exception as error:  # no network, HTTP error, broken archive: say what to do instead
            raise FetchError(f"could not download {collection.url} ({type(error).__name__}: "
                             f"{str(error).splitlines()[0][:200]}); without network, point data.mirror (or "
                             f"{MIRROR_VARIABLE}) at a folder laid out as <mirror>/{collection.name}/<dataset>/") from error
        report = FetchReport(source=collection.url)
        locate = lambda relative: files.get(relative)  # noqa: E731

    manifest = collection.manifest()
    by_dataset: dict[str, list[str]] = {}
    for relative in manifest:
        by_dataset.setdefault(relative.split("/")[0], []).append(relative)
    for name in collection.datasets():
        if name not in by_dataset:
            report.unavailable[name] = ("no checksum for its files in the repository's manifest (they are not in "
                                        "the offline mirror either), so they cannot be verified")
            continue
        problems = [problem for relative in by_dataset[name]
                    if (problem := _install(locate(relative), target / relative, manifest[relative], relative))]
        if problems:
            report.unavailable[name] = "; ".join(problems)
        else:
            report.available.append(name)
    for name, reason in report.unavailable.items():
        log.warning("%s/%s unavailable: %s", collection.name, name, reason)
    log.info("%s: %d datasets available, %d unavailable (%s)", collection.name, len(report.available),
             len(report.unavailable), ", ".join(report.unavailable) or "none")
    report.write(target)
    return report


def decompressed_hash(path: Path, known: str) -> str:
    """The hash of a .gz file's decompressed content, in the form of ``known``."""
    algorithm = known.split(":", 1)[0]
    digest = hashlib.new(algorithm)
    with gzip.open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"{algorithm}:{digest.hexdigest()}"


def _content_matches(path: Path, decompressed: str | None) -> bool:
    """A re-compressed copy (e.g. Debian's) whose decompressed content has the known hash."""
    if decompressed and str(path).endswith(".gz"):
        try:
            return decompressed_hash(path, decompressed) == decompressed
        except (OSError, EOFError):  # not a readable gzip stream
            return False
    return False


def _install(source: Path | None, destination: Path, expected: str, relative: str,
             decompressed: str | None = None) -> str | None:
    """Copy one file if its checksum matches; return the problem in words otherwise."""
    if destination.is_file() and (file_hash(destination, expected) == expected
                                  or _content_matches(destination, decompressed)):
        return None  # verified on an earlier fetch
    if source is None or not Path(source).is_file():
        return f"{relative}: file missing from the source"
    actual = file_hash(source, expected)
    if actual != expected and not _content_matches(source, decompressed):
        kind = "" if ":" in expected else "sha256 "
        return f"{relative}: checksum mismatch (expected {kind}{expected}, got {actual})"
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(destination.name + ".part")
    shutil.copyfile(source, temporary)
    os.replace(temporary, destination)
    return None


def _download_and_extract(collection: Collection, downloads: Path) -> dict[str, Path]:
    """Download the archive (no published checksum: files are checked one by one afterwards),
    extract it, and map each '<dataset>/<file>' path to where it landed."""
    archive = Path(pooch.retrieve(collection.url, known_hash=None, path=downloads, progressbar=True))
    extracted = downloads / f"{collection.name}-extracted"
    if not extracted.is_dir():
        partial = downloads / f"{collection.name}-extracting"
        shutil.rmtree(partial, ignore_errors=True)
        with tarfile.open(archive) as tar:
            tar.extractall(partial, filter="data")
        os.replace(partial, extracted)
    return {f"{path.parent.name}/{path.name}": path for path in extracted.rglob("*") if path.is_file()}


# ---------------------------------------------------------------------- single files (image datasets)

@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its place under the data folder, its hash and where it is published."""

    dataset: str
    known_hash: str  # "md5:<hex>" or "sha256:<hex>"
    path: str  # relative to the data folder and to a mirror, e.g. "mnist/t10k-images-idx3-ubyte.gz"
    url: str | None  # None: only a mirror has it
    decompressed_hash: str | None = None  # of a .gz file's content, accepted too


def image_files(manifests: Path = MANIFESTS) -> list[RemoteFile]:
    rows = [line.split() for line in (manifests / "images.files").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    return [RemoteFile(dataset, known, path, None if url == "-" else url, None if content == "-" else content)
            for dataset, known, path, url, content in rows]


def fetch_images(dest: Path, mirror: Path | None = None, files: list[RemoteFile] | None = None) -> FetchReport:
    """Every image dataset of the manifest whose files can be had and verified; the others, with why.

    A file comes from the mirror when there, else from its URL (pooch checks the hash on
    download); without either, the reason says which file to provide and where.
    """
    files = image_files() if files is None else files
    report = FetchReport(source=f"mirror {Path(mirror).resolve()}" if mirror else "download")
    problems: dict[str, list[str]] = {}
    for file in files:
        destination = Path(dest) / file.path
        source = Path(mirror) / file.path if mirror is not None else None
        if (source is None or not source.is_file()) and file.url and not destination.is_file():
            try:
                pooch.retrieve(file.url, known_hash=file.known_hash, fname=destination.name,
                               path=destination.parent, progressbar=True)
            except Exception as error:  # no network, HTTP error, hash mismatch: all leave the file unused
                reason = str(error).splitlines()[0][:200]
                problems.setdefault(file.dataset, []).append(
                    f"{file.path}: download from {file.url} failed ({type(error).__name__}: {reason}); "
                    f"without network, put the file at <mirror>/{file.path} and set data.mirror or {MIRROR_VARIABLE}")
                continue
            source = destination
        problem = _install(source, destination, file.known_hash, file.path, file.decompressed_hash)
        if problem and (source is None or not source.is_file()):
            where = f"put it at {Path(mirror) / file.path}" if mirror else f"set data.mirror or {MIRROR_VARIABLE}"
            problem += f" ({'download it from ' + file.url + ' or ' if file.url else ''}{where})"
        if problem:
            problems.setdefault(file.dataset, []).append(problem)
    for dataset in dict.fromkeys(file.dataset for file in files):
        if dataset in problems:
            report.unavailable[dataset] = "; ".join(problems[dataset])
            log.warning("image dataset %s unavailable: %s", dataset, report.unavailable[dataset])
        else:
            report.available.append(dataset)
    target = Path(dest) / "images"
    target.mkdir(parents=True, exist_ok=True)
    report.write(target)
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("collection", choices=sorted(COLLECTIONS) + ["images"])
    parser.add_argument("--dest", type=Path, required=True, help="data folder; files go to DEST/<collection>/")
    parser.add_argument("--mirror", default=None, help=f"local mirror folder (default: ${MIRROR_VARIABLE}, else download)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        if args.collection == "images":
            fetch_images(args.dest, resolve_mirror(args.mirror))
        else:
            fetch(COLLECTIONS[args.collection], args.dest, resolve_mirror(args.mirror))
    except (FetchError, FileNotFoundError) as error:
        log.error("%s", error)
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    main()

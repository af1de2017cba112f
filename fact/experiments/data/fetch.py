r"""Fetch the files of a dataset and install those whose checksum matches the manifest.

The files come from a local mirror folder when one is given (laid out like the data folder:
``<mirror>/uci121/<dataset>/<file>``, ``<mirror>/mnist/<file>``, ...), and from nowhere else;
without a mirror they are downloaded: UCI-121 as the canonical archive of the whole collection, each image file from its
canonical URL. ``--download-url`` replaces the canonical addresses with a server laid out like
the data folder (``<url>/uci121/data.tar.gz``, ``<url>/mnist/<file>``), e.g. an institutional
mirror. Either way a file is installed under the data folder only when its hash is the
manifest's; a dataset with a missing or mismatching file is reported as unavailable, naming
the file and both hashes, and the others go on. Each dataset gets a status file
(``fact.experiments.data.manifest``), which its jobs read. A download that fails (no network, an HTTP
error) is an error, not a verdict: nothing is recorded for that dataset, so the next run
tries again.

    python -m fact.experiments.data.fetch uci121 [dataset ...] --dest data [--mirror ../shared/data] \
        [--download-url URL]
    python -m fact.experiments.data.fetch images [dataset ...] --dest data [--mirror ../shared/data]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import shutil
import tarfile
from pathlib import Path

from fact.experiments.data.manifest import (
    MANIFESTS,
    MISSING,
    OK,
    ManifestFile,
    collection_files,
    describe_source,
    file_state,
    read_status,
    write_status,
)

log = logging.getLogger(__name__)

MIRROR_VARIABLE = "FACT_DATA_MIRROR"
DOWNLOAD_URL_VARIABLE = "FACT_DATA_DOWNLOAD_URL"
UCI121_ARCHIVE = "http://persoal.citius.usc.es/manuel.fernandez.delgado/papers/jmlr/data.tar.gz"
NO_CHECKSUM = (
    "no checksum for its files in the repository's manifest (they are not in the offline mirror "
    "either), so they cannot be verified"
)


class FetchError(RuntimeError):
    """A collection could not be had at all (no network and no mirror, a broken archive)."""


def resolve_mirror(configured: str | os.PathLike | None) -> Path | None:
    """The config's mirror, else the FACT_DATA_MIRROR environment variable, else None."""
    mirror = configured or os.environ.get(MIRROR_VARIABLE) or None
    return Path(mirror).expanduser() if mirror else None


@contextlib.contextmanager
def _exclusive(data_root: Path):
    """One fetch at a time per data folder: datasets share files (MNIST's test set) and downloads."""
    data_root.mkdir(parents=True, exist_ok=True)
    with open(data_root / ".fetch.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fetch(
    collection: str,
    data_root: Path,
    datasets: list[str] | None = None,
    mirror: Path | None = None,
    download_url: str | None = None,
    revision: int = 0,
    manifests: Path = MANIFESTS,
) -> dict[str, dict]:
    """Fetch and verify the files of ``datasets`` (default: all of the collection); return their statuses.

    Raises FetchError, after the other datasets are done, for those whose download failed.
    """
    data_root = Path(data_root)
    manifest = collection_files(collection, manifests)
    unknown = [name for name in datasets or [] if name not in manifest]
    if unknown:
        raise ValueError(f"{collection} has no dataset {unknown}; its datasets are {sorted(manifest)}")
    wanted = datasets or list(manifest)
    folders = _top_folders(manifest, wanted)
    if mirror is not None and not any((Path(mirror) / folder).is_dir() for folder in folders):
        raise FileNotFoundError(
            f"the data mirror {mirror} has no folder {' or '.join(f'{folder}/' for folder in folders)}; point "
            f"data.mirror (or {MIRROR_VARIABLE}) at a folder laid out like the data folder "
            f"(<mirror>/uci121/<dataset>/, <mirror>/mnist/, ...)"
        )
    source = _Source(collection, data_root, mirror, download_url)
    statuses, failures = {}, []
    with _exclusive(data_root):
        for name in wanted:
            try:
                statuses[name] = _fetch_dataset(name, manifest[name], data_root, source, collection, revision)
            except FetchError as error:
                failures.append(f"{name}: {error}")
    if failures:
        raise FetchError("\n".join(failures))
    return statuses


def _top_folders(manifest: dict[str, list[ManifestFile]], datasets: list[str]) -> list[str]:
    """The folders a mirror holds the files of ``datasets`` in (uci121, mnist, fashion-mnist, ...); the collection's
    first where the manifest knows none of their files."""
    folders = sorted({file.path.split("/")[0] for name in datasets for file in manifest[name]})
    return folders or [next(file.path.split("/")[0] for files in manifest.values() for file in files)]


def _fetch_dataset(
    name: str, files: list[ManifestFile], data_root: Path, source: "_Source", collection: str, revision: int
) -> dict:
    states, problems = {}, []
    for file in files:
        states[file.path], problem = _install(file, data_root, source)
        if problem:
            problems.append(problem)
    if not files:
        problems.append(NO_CHECKSUM)
    elif problems and source.mirror is None:
        problems.append(
            f"after fixing the source, delete {Path(data_root) / collection / 'status' / (name + '.json')} "
            "to fetch this dataset again"
        )
    record = {
        "dataset": name,
        "available": not problems,
        "reason": "; ".join(problems),
        "source": source.description,
        "revision": revision,
        "files": {file.path: {"expected": file.expected, "state": states[file.path]} for file in files},
    }
    if problems:
        log.warning("%s unavailable: %s", name, record["reason"])
    else:
        log.info("%s: %d files verified (%s)", name, len(files), source.description)
    previous = read_status(data_root, collection, name)
    if previous != record:
        write_status(data_root, collection, record)
    return record


def _install(file: ManifestFile, data_root: Path, source: "_Source") -> tuple[str, str | None]:
    """Verify one file and install it under the data folder; (state, problem in words or None)."""
    destination = data_root / file.path
    if file_state(destination, file) == OK:
        return OK, None  # verified on an earlier fetch
    origin = source.locate(file)
    state = file_state(origin, file)
    if state == OK:
        destination.parent.mkdir(parents=True, exist_ok=True)
        temporary = destination.with_name(f".{destination.name}.part")
        shutil.copyfile(origin, temporary)
        os.replace(temporary, destination)
        return OK, None
    if state == MISSING:
        return MISSING, f"{file.path}: file missing from the source ({source.advice(file)})"
    kind = "" if ":" in file.expected else "sha256 "
    return state, f"{file.path}: checksum mismatch (expected {kind}{file.expected}, got {state})"


class _Source:
    """Where a dataset's files come from: the mirror, the UCI-121 archive, or each file's URL."""

    def __init__(self, collection: str, data_root: Path, mirror: Path | None, download_url: str | None):
        self.collection, self.mirror = collection, None if mirror is None else Path(mirror)
        self.download_url = download_url.rstrip("/") if download_url else None
        self.downloads = data_root / "downloads"
        self.description = describe_source(self.mirror, self.download_url)
        self._archive: dict[str, Path] | None = None
        self._failed: dict[str, FetchError] = {}

    def url(self, file: ManifestFile) -> str | None:
        if self.collection == "uci121":
            return f"{self.download_url}/uci121/data.tar.gz" if self.download_url else UCI121_ARCHIVE
        return f"{self.download_url}/{file.path}" if self.download_url else file.url

    def advice(self, file: ManifestFile) -> str:
        """What to do about a file the source does not have."""
        if self.mirror is not None:
            return f"put it at {self.mirror / file.path}"
        return f"put it in a mirror as <mirror>/{file.path} and set data.mirror or {MIRROR_VARIABLE}"

    def locate(self, file: ManifestFile) -> Path | None:
        """The file's local copy, from the mirror when one is given, else downloaded; None where there is none."""
        if self.mirror is not None:
            return self.mirror / file.path if (self.mirror / file.path).is_file() else None
        url = self.url(file)
        if url is None:
            return None
        if self.collection == "uci121":
            return self._from_archive(url).get(file.path)
        return self._download(url, self.downloads / file.path, file.path)

    def _download(self, url: str, destination: Path, what: str) -> Path:
        if url in self._failed:  # the same archive for every dataset: fail once, not once per file
            raise self._failed[url]
        try:
            return _download(url, destination)
        except Exception as error:  # no network, HTTP error, broken archive
            reason = str(error).splitlines()[0][:200] if str(error) else ""
            self._failed[url] = FetchError(
                f"download from {url} failed ({type(error).__name__}: {reason}); without network, put the files in "
                f"a mirror laid out as <mirror>/{what} and set data.mirror or {MIRROR_VARIABLE}"
            )
            raise self._failed[url] from error

    def _from_archive(self, url: str) -> dict[str, Path]:
        """The UCI-121 archive, downloaded and extracted once: {"uci121/<dataset>/<file>": path}."""
        if self._archive is None:
            archive = self._download(url, self.downloads / "uci121" / "data.tar.gz", "uci121/<dataset>/<file>")
            extracted = self.downloads / "uci121" / "extracted"
            if not extracted.is_dir():
                partial = extracted.with_name("extracting")
                shutil.rmtree(partial, ignore_errors=True)
                try:
                    with tarfile.open(archive) as tar:
                        tar.extractall(partial, filter="data")
                except (tarfile.TarError, OSError, EOFError) as error:
                    archive.unlink(missing_ok=True)  # a broken download: fetch it again next time
                    raise FetchError(
                        f"the archive from {url} could not be extracted ({type(error).__name__}: "
                        f"{error}); it was deleted, run the fetch again"
                    ) from error
                os.replace(partial, extracted)
            self._archive = {
                f"uci121/{path.parent.name}/{path.name}": path for path in extracted.rglob("*") if path.is_file()
            }
        return self._archive


def _download(url: str, destination: Path) -> Path:
    """Download once (pooch, with a progress bar); checksums are checked by the caller, file by file."""
    import pooch  # only where something is downloaded

    if destination.is_file():
        return destination
    return Path(pooch.retrieve(url, known_hash=None, fname=destination.name, path=destination.parent, progressbar=True))


def main(argv: list[str] | None = None) -> None:
    """Fetch the named datasets of a collection from the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("collection", choices=["uci121", "images"])
    parser.add_argument("datasets", nargs="*", help="datasets to fetch (default: all of the collection)")
    parser.add_argument("--dest", type=Path, required=True, help="the data folder")
    parser.add_argument(
        "--mirror", default=None, help=f"local mirror folder (default: ${MIRROR_VARIABLE}, else download)"
    )
    parser.add_argument(
        "--download-url",
        default=os.environ.get(DOWNLOAD_URL_VARIABLE) or None,
        help="a server laid out like the data folder, instead of the canonical addresses "
        f"(default: ${DOWNLOAD_URL_VARIABLE})",
    )
    parser.add_argument("--revision", type=int, default=0, help="recorded in the status files (set by the workflow)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        statuses = fetch(
            args.collection, args.dest, args.datasets, resolve_mirror(args.mirror), args.download_url, args.revision
        )
    except (FetchError, FileNotFoundError, ValueError) as error:
        log.error("%s", error)
        raise SystemExit(f"error: {error}") from None
    unavailable = sorted(name for name, status in statuses.items() if not status["available"])
    log.info(
        "%s: %d datasets available, %d unavailable (%s)",
        args.collection,
        len(statuses) - len(unavailable),
        len(unavailable),
        ", ".join(unavailable) or "none",
    )


if __name__ == "__main__":
    main()

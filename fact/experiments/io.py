"""Atomic writes of pipeline outputs, and reading them back.

Every output is written to a temporary file beside its final path and renamed into
place only once complete, so a job killed mid-write never leaves a half file that a
later run would mistake for a result. A file damaged later (a full disk, a copy cut
short, a flipped bit) is refused when read, with its path and what to do: torch's
archives are checked against the CRC-32 their zip format stores for every member.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from fact.features.atomic import atomic_path


def save_torch(obj, path: str | os.PathLike) -> None:
    """torch.save, atomically and byte-stably.

    Saved through an open file, not a path: given a path, torch names the archive's
    inner folder after it, so the temporary name would make two saves of one object differ.
    """
    try:
        with atomic_path(path) as temporary, open(temporary, "wb") as handle:
            torch.save(obj, handle)
    except (RuntimeError, OSError) as error:  # a full disk shows as torch's "unexpected pos ..."
        raise _not_written(path, error) from error


def _not_written(path: str | os.PathLike, error: Exception) -> OSError:
    """What to do when an output could not be written (a full disk, most often), with the room left there."""
    try:
        free = f"{shutil.disk_usage(Path(path).parent).free / 2**30:.2f} GiB"
    except OSError:
        free = "unknown space"
    return OSError(
        f"could not write {path} ({error}); {free} free there: free some space, or point results/ elsewhere, "
        "and rerun (nothing half-written was left)"
    )


class UnreadableResultError(ValueError):
    """A result file that is truncated or corrupt: the message names it and says to delete it."""

    def __init__(self, path: str | os.PathLike, reason: str):
        super().__init__(
            f"{path} is truncated or corrupt ({reason}): delete it and rerun, so that the job that makes it runs again"
        )


def load_torch(path: str | os.PathLike):
    """torch.load of a file this project wrote (plain tensors, dicts, lists, numbers, strings), after
    checking every member of its archive against its stored checksum."""
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, EOFError, ValueError) as error:
        raise UnreadableResultError(path, f"not a complete torch archive: {error}") from None
    if damaged is not None:
        raise UnreadableResultError(path, f"the checksum of its member {damaged} does not match its contents")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, ValueError, KeyError, IndexError, pickle.UnpicklingError) as error:
        raise UnreadableResultError(path, f"torch cannot load it: {str(error).splitlines()[0]}") from None


@contextlib.contextmanager
def _reading_parquet(path: str | os.PathLike):
    """Turn pyarrow's errors on a damaged file into one that names it (a missing file stays missing)."""
    try:
        yield
    except (pa.ArrowException, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise UnreadableResultError(path, f"not a readable Parquet file: {error}") from None


class ChangedResultError(ValueError):
    """A result table whose content is not what its stage wrote (edited by hand, or written by something else)."""


CHECKSUM = b"fact_content_sha256"


def content_checksum(table: pd.DataFrame) -> str:
    """SHA-256 of a table's column names and values (not of its file: Parquet's encoding may vary)."""
    digest = hashlib.sha256(json.dumps([str(column) for column in table.columns]).encode())
    digest.update(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def read_parquet(path: str | os.PathLike) -> pd.DataFrame:
    """A table written by :func:`write_parquet`, refused unless its content is what its stage wrote."""
    with _reading_parquet(path):
        table = pd.read_parquet(path)
        stored = (pq.read_schema(path).metadata or {}).get(CHECKSUM)
    if stored is None:
        raise ChangedResultError(
            f"{path} carries no content checksum, so no stage of this pipeline wrote it as it is: delete it and "
            "rerun, so that the job that makes it runs again"
        )
    if stored.decode() != content_checksum(table):
        raise ChangedResultError(
            f"{path}: its content no longer matches the checksum its stage wrote (it was changed after it was "
            "made): delete it and rerun, so that the job that makes it runs again"
        )
    return table


def write_parquet(table: pd.DataFrame, path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Write a tidy table to Parquet, atomically, with ``metadata`` (JSON) and the checksum of its content
    (``content_checksum``, which :func:`read_parquet` checks) in the file's schema."""
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    merged = dict(arrow.schema.metadata or {})
    merged[CHECKSUM] = content_checksum(arrow.to_pandas()).encode()  # of the table as it will be read back
    if metadata:
        merged[b"fact"] = json.dumps(metadata, sort_keys=True, default=str).encode()
    arrow = arrow.replace_schema_metadata(merged)
    try:
        with atomic_path(path) as temporary:
            pq.write_table(arrow, temporary)
    except (OSError, pa.ArrowException) as error:
        raise _not_written(path, error) from error


def read_parquet_metadata(path: str | os.PathLike) -> dict:
    """The ``metadata`` dict given to :func:`write_parquet`; a table without any is refused, naming it."""
    with _reading_parquet(path):
        raw = pq.read_schema(path).metadata or {}
    if b"fact" not in raw:
        raise ChangedResultError(
            f"{path} has no metadata of this pipeline (the settings it was made with): delete it and rerun, so "
            "that the job that makes it runs again"
        )
    return json.loads(raw[b"fact"])


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (which checkpoint a kept result was computed from)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def reusable_rows(kept: str | os.PathLike, made_by: dict, log) -> pd.DataFrame | None:
    """The rows a killed job left in ``kept``, if made by the same ``made_by`` (settings, code, input) and
    readable; else None, and they are computed again."""
    if not Path(kept).exists():
        return None
    try:
        if read_parquet_metadata(kept).get("made_by") != made_by:
            return None
        return read_parquet(kept)
    except UnreadableResultError as error:  # a cache: recompute what it held
        log.warning("discarding %s, computing its rows again: %s", kept, error)
        return None

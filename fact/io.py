"""Atomic writes of pipeline outputs, and reading them back.

Every output is written to a temporary file beside its final path and renamed into
place only once complete, so a job killed mid-write never leaves a half file that a
later run would mistake for a result.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path; on success rename it to ``path``, on error delete it.

    The temporary name is fixed (``.<name>.tmp`` beside ``path``): a job killed by SIGKILL,
    which no handler sees, leaves that one file, and the job's next run overwrites it
    instead of adding another. Snakemake never runs two jobs for one output at once.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


def save_torch(obj, path: str | os.PathLike) -> None:
    """torch.save, atomically and byte-stably.

    Saved through an open file, not a path: given a path, torch names the archive's
    inner folder after it, so the temporary name would make two saves of one object differ.
    """
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        torch.save(obj, handle)


def load_torch(path: str | os.PathLike):
    """torch.load of a file this project wrote (plain tensors, dicts, lists, numbers, strings)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def write_parquet(table: pd.DataFrame, path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Write a tidy table to Parquet, atomically, with ``metadata`` (JSON) in the file's schema."""
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    if metadata:
        merged = dict(arrow.schema.metadata or {})
        merged[b"fact"] = json.dumps(metadata, sort_keys=True, default=str).encode()
        arrow = arrow.replace_schema_metadata(merged)
    with atomic_path(path) as temporary:
        pq.write_table(arrow, temporary)


def read_parquet_metadata(path: str | os.PathLike) -> dict:
    """The ``metadata`` dict given to :func:`write_parquet`."""
    raw = pq.read_schema(path).metadata or {}
    return json.loads(raw.get(b"fact", b"{}"))


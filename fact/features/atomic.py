"""Files written whole or not at all: to a temporary name beside the target, renamed into place."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


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

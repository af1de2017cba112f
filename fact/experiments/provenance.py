"""Which code and settings produced a result: the git commit, a hash of the exact source files a
module runs, and the settings a family of runs shares (what a caption may state).

The hash covers a module and every ``fact`` module it imports, directly or through others
(found by reading the ``import`` statements, not by importing anything), so a resumable
state or a cached partial result can tell whether it was made by the code that would now
continue it. Only the standard library is used here.
"""

from __future__ import annotations

import ast
import hashlib
import subprocess
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # .../fact
PACKAGE = PACKAGE_ROOT.name


def module_file(module: str) -> Path | None:
    """The source file of a ``fact`` module (``fact.experiments.data.fetch`` ->
    fact/experiments/data/fetch.py), or None."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_ROOT.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path) -> set[str]:
    """Every ``fact`` module that the file imports, at top level or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from fact.experiments.data import uci121` imports the module fact.experiments.data.uci121
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.split(".")[0] == PACKAGE}


def source_files(module: str) -> list[Path]:
    """The source files of ``module`` and of every ``fact`` module it imports, transitively, sorted."""
    start = module_file(module)
    if start is None:
        raise ValueError(f"{module!r} is not a module of the {PACKAGE} package")
    seen = {start}
    pending = [start]
    while pending:
        for name in imported_modules(pending.pop()):
            path = module_file(name)
            if path is not None and path not in seen:
                seen.add(path)
                pending.append(path)
    return sorted(seen)


def code_hash(module: str) -> str:
    """SHA-256 over the paths and contents of :func:`source_files` of ``module``."""
    digest = hashlib.sha256()
    for path in source_files(module):
        digest.update(str(path.relative_to(PACKAGE_ROOT)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def git_sha() -> str:
    """The commit of the code that produced an output ("unknown" outside a git checkout)."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, cwd=PACKAGE_ROOT, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=PACKAGE_ROOT,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# What one run of a family differs from its siblings in; the rest is what a caption may state.
RUN_KEYS = ("seed", "depth", "dataset")


def shared_settings(config: dict) -> dict:
    """A run's settings without what tells the runs of one figure apart (seed, depth, dataset)."""
    return {key: value for key, value in config.items() if key not in RUN_KEYS}


def distinct(settings: list[dict]) -> list[dict]:
    """The different settings among several runs', in first-seen order."""
    unique: list[dict] = []
    for item in settings:
        if item not in unique:
            unique.append(item)
    return unique

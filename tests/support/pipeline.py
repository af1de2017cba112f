"""Editing a workflow copy's config.yaml."""

from __future__ import annotations

from pathlib import Path

import yaml


def edit_config(workdir: Path, change) -> None:
    path = workdir / "config.yaml"
    config = yaml.safe_load(path.read_text())
    change(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False))

"""A toy UCI-121 mirror and manifests, a corrupted file, and a local server of the collection's archive."""

from __future__ import annotations

import hashlib
import shutil
import tarfile
from pathlib import Path

FIXTURE = Path(__file__).parents[1] / "fixtures" / "uci121"


def _manifests_for(tmp_path: Path, mirror: Path, extra_datasets=(), image_lines=()) -> Path:
    """Manifests holding the true checksums of the mirror's UCI-121 files (and the given image lines)."""
    manifests = tmp_path / "manifests"
    manifests.mkdir(exist_ok=True)
    lines = [
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(mirror / 'uci121').as_posix()}"
        for path in sorted((mirror / "uci121").rglob("*"))
        if path.is_file()
    ]
    (manifests / "uci121.sha256").write_text("\n".join(lines) + "\n")
    names = sorted({line.split()[1].split("/")[0] for line in lines} | set(extra_datasets))
    (manifests / "uci121.datasets").write_text("\n".join(names) + "\n")
    (manifests / "images.files").write_text("\n".join(image_lines) + "\n")
    return manifests


def make_toy_mirror(mirror: Path, names=("toy", "toy2")) -> Path:
    """A mirror of UCI-121 datasets in the collection's format, copies of the toy fixture under other names."""
    for name in names:
        shutil.copytree(FIXTURE / "toy", mirror / "uci121" / name)
        for path in (mirror / "uci121" / name).iterdir():
            if path.name.startswith("toy") and name != "toy":
                path.rename(path.with_name(path.name.replace("toy", name)))
        text = (mirror / "uci121" / name / f"{name}.txt").read_text().replace("toy_R.dat", f"{name}_R.dat")
        (mirror / "uci121" / name / f"{name}.txt").write_text(text)
    return mirror


def corrupt(path: Path) -> str:
    """Change one label of a collection data file; return its new SHA-256."""
    path.write_text(path.read_text().replace("\t0\n", "\t1\n", 1))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def serve_uci121_archive(folder: Path, mirror: Path) -> None:
    """The canonical layout: one data.tar.gz holding <dataset>/<files> for every dataset."""
    (folder / "uci121").mkdir()
    with tarfile.open(folder / "uci121" / "data.tar.gz", "w:gz") as tar:
        for dataset in sorted((mirror / "uci121").iterdir()):
            tar.add(dataset, arcname=dataset.name)

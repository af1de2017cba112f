"""`pip install .` is the library alone: its modules import without the pipeline's packages."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIPELINE_ONLY = ("snakemake", "jsonschema", "yaml", "matplotlib", "seaborn")
LIBRARY = (
    "fact.features.matrices",
    "fact.features.losses",
    "fact.features.metrics",
    "fact.experiments.models",
    "fact.experiments.training",
    "fact.experiments.full_batch",
    "fact.kernel_machines.kernels",
    "fact.kernel_machines.kernel_matrices",
    "fact.kernel_machines.updates",
    "fact.kernel_machines.ridge",
    "fact.kernel_machines.rfm",
    "fact.experiments.table1_protocol",
    "fact.experiments.data.fetch",
    "fact.experiments.data.images",
    "fact.experiments.data.uci121",
    "fact.experiments.data.synthetic",
    "fact.experiments.provenance",
)

BLOCKER = """
import importlib.abc, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ImportError(f'{{name}} is a pipeline package, not installed with the library')
sys.meta_path.insert(0, Refuse())
for module in {modules!r}:
    __import__(module)
print('ok')
"""


def test_the_library_imports_without_the_pipeline_packages():
    script = BLOCKER.format(blocked=PIPELINE_ONLY, modules=LIBRARY)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]


def test_the_pipeline_packages_are_an_extra_not_a_requirement():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = " ".join(project["dependencies"])
    assert not any(name in required for name in ("snakemake", "jsonschema", "matplotlib", "seaborn", "pyyaml"))
    assert any(req.startswith("snakemake") for req in project["optional-dependencies"]["pipeline"])

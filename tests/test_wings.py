"""The library's wings import as designed: fact.features and fact.kernel_machines, which any user's
model or data may need, never import fact.experiments, which only the paper's pipeline needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import fact
from fact.experiments.provenance import imported_modules  # how the pipeline reads imports too

PACKAGE = Path(fact.__file__).parent
LIBRARY_WINGS = ("features", "kernel_machines")


@pytest.mark.parametrize("wing", LIBRARY_WINGS)
def test_a_library_wing_imports_nothing_of_the_experiments(wing):
    files = sorted((PACKAGE / wing).rglob("*.py"))
    assert files, f"fact/{wing} has no modules"
    offending = {
        str(path.relative_to(PACKAGE)): sorted(
            name for name in imported_modules(path) if name.startswith("fact.experiments")
        )
        for path in files
    }
    assert not {path: names for path, names in offending.items() if names}


def test_the_features_wing_imports_nothing_of_the_kernel_machines():
    offending = {
        str(path.relative_to(PACKAGE)): names
        for path in sorted((PACKAGE / "features").rglob("*.py"))
        if (names := sorted(n for n in imported_modules(path) if n.startswith("fact.kernel_machines")))
    }
    assert not offending


def test_the_checker_sees_an_import_inside_a_function(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("def f():\n    from fact.experiments.io import load_torch\n")
    assert "fact.experiments.io" in imported_modules(module)


def test_the_public_names_load_on_first_use_and_all_exist():
    code = "import fact; print([name for name in fact.__all__ if getattr(fact, name) is None])"
    missing = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert missing == "[]"  # in a fresh interpreter: nothing imported the names' modules before
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = fact.nope


def test_what_the_workflow_reads_while_building_the_dag_loads_no_torch():
    code = (
        "import sys, fact; from fact.experiments import provenance; from fact.experiments.data import manifest; "
        "from fact.experiments.scorecard.places import RESULT_PLACES; print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('torch', 'numpy', 'pandas')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"

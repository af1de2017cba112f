"""Which code made a result: the import closure of a module and its hash."""

from __future__ import annotations

import shutil

import pytest

from fact.experiments import provenance


def test_the_closure_follows_imports_through_other_modules():
    names = {
        str(path.relative_to(provenance.PACKAGE_ROOT))
        for path in provenance.source_files("fact.experiments.stages.train_mlp")
    }
    # imported directly by the stage, and through fact.experiments.training (fact.experiments.models)
    assert {
        f"experiments/{name}"
        for name in ("stages/train_mlp.py", "training.py", "models.py", "io.py", "data/manifest.py", "jobs.py")
    } <= names
    assert "experiments/table1_protocol.py" not in names and "experiments/plots/table1.py" not in names
    assert "experiments/data/fetch.py" not in names  # the stage reads the fetch's verdict, not the fetch code
    with pytest.raises(ValueError, match="not a module of the fact package"):
        provenance.source_files("numpy")


def test_from_package_import_module_counts_as_importing_the_module():
    names = {
        path.name for path in provenance.source_files("fact.experiments.stages.table1_dataset")
    }  # from fact.experiments.data import uci121
    assert "uci121.py" in names


def test_the_hash_changes_with_any_file_of_the_closure_and_with_nothing_else(tmp_path, monkeypatch):
    copy = tmp_path / "fact"
    shutil.copytree(provenance.PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(provenance, "PACKAGE_ROOT", copy)
    before = provenance.code_hash("fact.experiments.stages.train_mlp")
    (copy / "experiments" / "plots" / "table1.py").write_text("# not imported by the training stage\n")
    assert provenance.code_hash("fact.experiments.stages.train_mlp") == before
    nets = copy / "experiments" / "models.py"  # imported only through fact.experiments.training
    nets.write_text(nets.read_text() + "\n# an edit\n")
    assert provenance.code_hash("fact.experiments.stages.train_mlp") != before

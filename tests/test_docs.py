"""Every Python block of the README and the documentation runs as pasted, each on its own, in a
fresh interpreter; and the README stays a front door, not a manual."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(encoding="utf-8"), flags=re.S | re.M)


BLOCKS = [(page, index, code) for page in PAGES for index, code in enumerate(python_blocks(page))]


def test_the_pages_have_python_blocks_to_check():
    assert {page.name for page, _, _ in BLOCKS} >= {"README.md", "library.md", "estimators.md"}


@pytest.mark.parametrize(
    "page, index, code", BLOCKS, ids=[f"{page.relative_to(ROOT)}[{index}]" for page, index, _ in BLOCKS]
)
def test_a_block_runs_as_pasted_on_its_own(page, index, code, tmp_path):
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{page.relative_to(ROOT)} block {index} failed:\n{code}\n{result.stderr[-3000:]}"


def test_the_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 120, f"the README has {len(lines)} lines: move the detail to docs/"
    linked = set(re.findall(r"\(docs/([\w/]+\.md)\)", "\n".join(lines)))
    assert linked and all((ROOT / "docs" / page).is_file() for page in linked), linked


def test_a_failing_block_is_caught(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "import fact\nfact.no_such_name"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode != 0 and "no attribute 'no_such_name'" in result.stderr

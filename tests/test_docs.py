"""Every Python block of the README and the documentation runs as pasted, each on its own, in a
fresh interpreter, and prints what the ```text block after it says it prints; and the README stays a front
door, not a manual."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.pages import PAGES, ROOT

# A Python block, then optionally one line of prose ("prints"), then its expected output as a ```text block.
BLOCK = re.compile(
    r"^```python\n(.*?)^```\n(?:\s*\n)*(?:[^\n`][^\n]*\n(?:\s*\n)*)?(?:^```text\n(.*?)^```)?", flags=re.S | re.M
)
NUMBER = re.compile(r"([-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)")


def python_blocks(page: Path) -> list[tuple[str, str | None]]:
    """Each Python block of ``page`` with the output the page says it prints (None where it shows none)."""
    return [(code, output or None) for code, output in BLOCK.findall(page.read_text(encoding="utf-8"))]


def same_output(printed: str, expected: str) -> bool:
    """The lines the page shows, in order, a line ``...`` standing for any lines (a library's own log line);
    within them, the words the same (spacing aside) and each number within 0.01 + 10% of the page's."""
    lines = printed.strip().split("\n")
    parts = [part.strip("\n").split("\n") for part in f"\n{expected.strip()}\n".split("\n...\n")]
    position = 0
    for index, part in enumerate(parts):
        if part == [""]:  # a leading or a trailing "...": nothing to match
            continue
        places = range(position, len(lines) - len(part) + 1) if index > 0 else [0]
        if index == len(parts) - 1:  # the last part ends the output
            places = [at for at in places if at == len(lines) - len(part)]
        found = next((at for at in places if _same_lines("\n".join(lines[at : at + len(part)]), "\n".join(part))), None)
        if found is None:
            return False
        position = found + len(part)
    return True


def _same_lines(printed: str, expected: str) -> bool:
    """The words the same (spacing aside), each number within 0.01 + 10% of the page's: a model trained on
    another CPU or PyTorch build rounds its last digits its own way."""
    printed_parts, expected_parts = NUMBER.split(printed.strip()), NUMBER.split(expected.strip())
    if len(printed_parts) != len(expected_parts):
        return False
    for index, (got, want) in enumerate(zip(printed_parts, expected_parts)):
        if index % 2 == 0 and got.split() != want.split():
            return False
        if index % 2 == 1 and not abs(float(got) - float(want)) <= 0.01 + 0.1 * abs(float(want)):
            return False
    return True


BLOCKS = [(page, index, *block) for page in PAGES for index, block in enumerate(python_blocks(page))]


def test_the_pages_have_python_blocks_to_check():
    assert {page.name for page, *_ in BLOCKS} >= {"README.md", "library.md", "estimators.md"}


@pytest.mark.parametrize(
    "page, index, code, output", BLOCKS, ids=[f"{page.relative_to(ROOT)}[{index}]" for page, index, *_ in BLOCKS]
)
def test_a_block_runs_as_pasted_on_its_own_and_prints_what_the_page_shows(page, index, code, output, tmp_path):
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    where = f"{page.relative_to(ROOT)} block {index}"
    assert result.returncode == 0, f"{where} failed:\n{code}\n{result.stderr[-3000:]}"
    if output is not None:
        assert same_output(result.stdout, output), f"{where} printed\n{result.stdout}\nwhere the page shows\n{output}"


def test_every_block_that_prints_shows_its_output():
    silent = [f"{page.relative_to(ROOT)}[{i}]" for page, i, code, output in BLOCKS if "print(" in code and not output]
    assert not silent, f"these blocks print but the page does not show what: {silent}"


def test_outputs_are_compared_word_for_word_and_number_by_number():
    assert same_output("step 300  tau 2.53\nFACT 0.997", "step 300 tau 2.5\n FACT 0.998")
    assert not same_output("step 300 tau 2.53", "step 300 tau 3.1")  # a number off by more than 10%
    assert not same_output("at a critical point", "not at a critical point")
    assert not same_output("0.99 0.98", "0.99")
    assert same_output("{'train_runtime': 34.7}\nTrue ['AdamW']", "...\nTrue ['AdamW']")
    assert same_output("a\nlog\nlog\nb\nc", "a\n...\nb\nc") and not same_output("a\nb\nc\nd", "a\n...\nc")
    assert not same_output("x\nTrue", "True") and not same_output("True\nx", "True")


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


# Numbers that a run produces: a decimal fraction (a correlation, an accuracy), a percentage, a duration.
RESULT_LIKE = re.compile(
    r"(?<![\w.])(\d[\d,]*\.\d+|\d+(?:\.\d+)?\s?%|\d[\d,.]*\s?(?:ms|s|min|minutes?|h|hours?|seconds?)\b)"
)
THE_PAPERS = ROOT / "docs" / "paper-settings.md"  # the paper's own values, which ours are compared with


def typed_results(text: str) -> list[str]:
    """The result-like numbers of a page's prose: outside code blocks and code spans (commands, settings, the
    outputs the docs test runs) and arXiv numbers."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    prose = re.sub(r"`[^`\n]*`", "", prose)
    prose = re.sub(r"arXiv \d{4}\.\d{4,5}", "", prose)
    return RESULT_LIKE.findall(prose)


def test_no_result_is_typed_into_the_docs():
    typed = {
        str(page.relative_to(ROOT)): found
        for page in PAGES
        if page != THE_PAPERS
        for found in [typed_results(page.read_text(encoding="utf-8"))]
        if found
    }
    assert not typed, (
        f"numbers a run produced, typed by hand: {typed}; say it in words, point to the scorecard or bench/README.md, "
        "or put a setting in a code span"
    )


def test_the_check_finds_typed_results():
    assert typed_results("FACT 0.987 on 97% of layers, in 16 min 44 s") == ["0.987", "97%", "16 min", "44 s"]
    assert typed_results("Figure 7 at `lr = 0.05`, 3 seeds, arXiv 2507.05644\n```\n0.5\n```\n") == []

"""The README and the documentation pages, and their fenced blocks, as the docs tests read them."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATED = "<!-- generated"  # a page written by a program (docs/results/), checked by that program's tests
PAGES = [
    page
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    if not page.read_text(encoding="utf-8").startswith(GENERATED)
]


def fenced_blocks(page: Path) -> list[tuple[str, str]]:
    """Each fenced block of ``page`` as (its language, or "" for none; its text)."""
    blocks, lines, index = [], page.read_text(encoding="utf-8").split("\n"), 0
    while index < len(lines):
        if lines[index].startswith("```"):
            end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
            blocks.append((lines[index][3:].strip(), "\n".join(lines[index + 1 : end]) + "\n"))
            index = end
        index += 1
    return blocks


def commands(page: Path) -> list[str]:
    """The command lines of the page's ```bash blocks, comments and blank lines left out."""
    lines = [line for language, text in fenced_blocks(page) if language == "bash" for line in text.splitlines()]
    return [line.split(" #")[0].strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]

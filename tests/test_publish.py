"""The published results (docs/results/) were written by fact.experiments.publish from the pipeline's results.

tests/test_pipeline.py publishes a quick-scale run of its own; here the committed page is checked: its
provenance block parses, names the commit and data of every result, and every figure it names is there.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from fact.experiments.publish import GENERATED, WRITTEN_BY

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT / "docs" / "results"


def provenance(page: str) -> dict:
    """The page's provenance block, which must open with the line naming its writer."""
    blocks = [block.split("```", 1)[0] for block in page.split("```yaml\n")[1:]]
    written = [block for block in blocks if block.startswith(f"# {WRITTEN_BY}\n")]
    assert len(written) == 1, f"the page holds {len(written)} provenance blocks written by the publisher"
    return yaml.safe_load(written[0])


def test_the_published_page_was_written_by_the_publisher_and_holds_every_figure_it_names():
    page = (PUBLISHED / "index.md").read_text(encoding="utf-8")
    assert page.startswith(GENERATED) and (PUBLISHED / "scorecard.md").read_text().startswith(GENERATED)
    block = provenance(page)
    assert block["scale"] == "paper" and len(block["published_at_commit"]) == 40
    assert block["figures"], "no figure published"
    for figure in block["figures"]:
        assert (PUBLISHED / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", figure
        assert f"]({figure})" in page
    assert sorted(path.name for path in PUBLISHED.glob("*.png")) == sorted(block["figures"])
    for result in block["results"]:
        assert result["file"].startswith("results/paper/") and result["data"]
        # the commit of the code that wrote it ("-dirty": with changes not committed, as git describe says)
        assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", result["commit"]) and isinstance(
            result["differs_from_config"], dict
        )


def test_the_front_page_and_the_site_link_the_results():
    assert "results/index.md" in (ROOT / "docs" / "index.md").read_text()
    assert "results/index.md" in (ROOT / "mkdocs.yml").read_text()


def test_a_page_without_its_writers_block_is_refused():
    with pytest.raises(AssertionError, match="0 provenance blocks"):
        provenance("# Results\n```yaml\nscale: paper\n```\n")

r"""Judge the paper's claims on the pipeline's results and write the scorecard (Markdown and HTML).

    python -m fact.experiments.stages.scorecard --inputs results/quick/... results/paper/... \
        --markdown figures/scorecard.md --html figures/scorecard.html

The inputs may hold several scales' results; each claim gets a row per scale that has its experiment.
"""

from __future__ import annotations

import argparse

from fact.experiments.jobs import require_writable, setup_logging, stop_if_unreadable
from fact.experiments.scorecard import card, results
from fact.features.atomic import atomic_path


def main(argv: list[str] | None = None) -> None:
    """Judge every claim on the results given (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", nargs="+", required=True, help="result files under results/<scale>/")
    parser.add_argument("--markdown", required=True)
    parser.add_argument("--html", required=True)
    args = parser.parse_args(argv)
    log = setup_logging("scorecard")
    for path in (args.markdown, args.html):
        require_writable(path, log)
    with stop_if_unreadable(log):
        rows = card.score(results.load(args.inputs))
    for path, text in ((args.markdown, card.markdown(rows)), (args.html, card.html_page(rows))):
        with atomic_path(path) as temporary:
            temporary.write_text(text, encoding="utf-8")
    for row in rows:
        log.info("%s at %s scale: %s", row.claim, row.scale or "no", row.verdict)
    log.info("wrote %s and %s (%s)", args.markdown, args.html, card.tally(rows))


if __name__ == "__main__":
    main()

"""The shared figure style: byte-stable PDFs and report captions that rst shows as written."""

from __future__ import annotations

import docutils.core
import matplotlib.pyplot as plt

from fact.experiments.plots import style


def test_a_caption_with_rst_and_template_markup_renders_as_written():
    details = "target f*(x) = W*x, layers W_L and x_i, |A*|^{2/3}, {{seed}} and {% raw %}, a \\ b"
    text = style.report_caption("Figure 9: about.", details)
    body = docutils.core.publish_parts(text, writer="html")["body"]
    assert "<em>" not in body and "<a " not in body and "problematic" not in body
    for fragment in ("f*(x) = W*x", "W_L and x_i", "|A*|^{2/3}", "a \\ b"):
        assert fragment in body.replace("&amp;", "&")
    assert "{{" not in text and "{%" not in text  # Snakemake renders captions with Jinja first


def test_saving_writes_the_report_caption_beside_the_figure(tmp_path):
    figure, _ = plt.subplots()
    style.caption(figure, "Scale: quick. d = 30 (chosen here).")
    style.save(figure, tmp_path / "fig3.pdf", about="Figure 3: what it shows.")
    caption = (tmp_path / "fig3.caption.rst").read_text()
    assert caption == "Figure 3: what it shows.\n\nScale: quick. d = 30 (chosen here).\n"
    first = (tmp_path / "fig3.pdf").read_bytes()
    figure, _ = plt.subplots()
    style.caption(figure, "Scale: quick. d = 30 (chosen here).")
    style.save(figure, tmp_path / "fig3.pdf", about="Figure 3: what it shows.")
    assert (tmp_path / "fig3.pdf").read_bytes() == first

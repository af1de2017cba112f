"""One function per figure or table of the paper; each reads results/ only, never a model."""

from fact.plots.deep_linear import render as fig11
from fact.plots.fig1 import render as fig1
from fact.plots.fig7 import render as fig7
from fact.plots.mlp import render_fig2, render_fig8, render_fig9, render_fig10
from fact.plots.modular import render_fig5, render_fig6
from fact.plots.parity import render_fig3, render_fig4

FIGURES = {"fig1": fig1, "fig2": render_fig2, "fig3": render_fig3, "fig4": render_fig4, "fig5": render_fig5, "fig6": render_fig6,
           "fig7": fig7, "fig8": render_fig8, "fig9": render_fig9, "fig10": render_fig10, "fig11": fig11}

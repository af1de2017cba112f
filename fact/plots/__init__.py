"""One function per figure or table of the paper; each reads results/ only, never a model."""

from fact.plots.fig7 import render as fig7

FIGURES = {"fig7": fig7}

# The fact pipeline: every figure and table of the FACT paper from one command.
#   snakemake all                    everything that exists so far (profiles/default sets the cores)
#   snakemake figures/fig7.pdf       one figure, and only what it needs
#   snakemake all --config scale=paper
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/config_checks.smk"
include: "workflow/rules/common.smk"
include: "workflow/rules/networks.smk"
include: "workflow/rules/rfm.smk"
include: "workflow/rules/tabular.smk"
include: "workflow/rules/figures.smk"


rule all:
    input:
        "figures/fig1.pdf",
        "figures/fig2.pdf",
        "figures/fig3.pdf",
        "figures/fig4.pdf",
        "figures/fig5.pdf",
        "figures/fig6.pdf",
        "figures/fig7.pdf",
        "figures/fig8.pdf",
        "figures/fig9.pdf",
        "figures/fig10.pdf",
        "figures/fig11.pdf",
        "figures/fig12.pdf",
        "figures/fig13.pdf",
        "figures/fig14.pdf",
        "figures/table1.md",
        "figures/table1.tex",
        "figures/table1.pdf",
        "figures/table1_scatter.pdf",
        "figures/scorecard.md",
        "figures/scorecard.html",
        "figures/config.yaml",
    default_target: True

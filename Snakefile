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


# Every figure and table of the scale in use, as figures/<name> (the rules' outputs under
# figures/<scale>/, captions aside: FIGURE_NAMES in figures.smk).
rule all:
    default_target: True
    input:
        [f"figures/{name}" for name in FIGURE_NAMES if not name.endswith(".caption.rst")],

#!/usr/bin/env bash
# Paper-scale experiments that fit on a small CPU machine, one figure at a time, with each one's wall time.
#   bash bench/paper_on_cpu.sh [figure ...]      (default: fig7 fig11 fig5 fig6)
#   CONFIGFILE=bench/paper_mlp_on_mirror.yaml bash bench/paper_on_cpu.sh fig2 fig8 fig9 fig10
# Times go to stdout as "<figure> <seconds> s"; the results stay in results/paper/ for the scorecard.
set -uo pipefail
cores=${CORES:-2}
# Without a GPU, the one-GPU-slot limit of profiles/default would run the "GPU" jobs one at a time.
gpus=$(command -v nvidia-smi > /dev/null && nvidia-smi -L | wc -l || echo "$cores")
for figure in "${@:-fig7 fig11 fig5 fig6}"; do
    for name in $figure; do
        start=$(date +%s)
        if snakemake --cores "$cores" --resources gpu="$gpus" --rerun-incomplete --config scale=paper ${CONFIGFILE:+--configfile "$CONFIGFILE"} -- "figures/paper/$name.pdf" > "logs/paper_on_cpu_$name.log" 2>&1; then
            echo "$name $(( $(date +%s) - start )) s"
        else
            echo "$name FAILED after $(( $(date +%s) - start )) s (see logs/paper_on_cpu_$name.log)"
        fi
    done
done

#!/usr/bin/env bash
# On a machine with a CUDA GPU: the CUDA tests, then every GPU benchmark, in one go.
#   bash bench/gpu.sh [mirror]        (mirror: a folder with uci121/, e.g. ../shared/data)
# Assumes torch with CUDA is installed; installs this package (no dependencies pulled) if it is not.
set -euo pipefail
cd "$(dirname "$0")/.."
mirror=${1:-${FACT_DATA_MIRROR:-}}
python3 -c "import fact" 2>/dev/null || python3 -m pip install --quiet --no-deps -e .
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -m pytest -q -k "cuda" tests
export PYTHONPATH=.
python3 bench/bench_matrices.py --n 60000 --width 1024 --batch-size 4096
python3 bench/bench_rfm.py --device cuda --sizes 4000 8000 16000 32000
python3 bench/bench_mlp.py --device cuda
python3 bench/bench_tabular.py --synthetic 130064 --device cuda
if [ -n "$mirror" ]; then
    python3 bench/bench_tabular.py --mirror "$mirror" --device cuda
fi

#!/usr/bin/env bash
# On a machine with a CUDA GPU: the CUDA tests, then every GPU benchmark, each step under its own
# time limit, each step's output kept in <out>/<step>.log (a step that fails or runs out of time
# does not stop the next).
#   bash bench/gpu.sh [mirror] [out]
# mirror: a folder with uci121/ (e.g. ../shared/data) or a .tar.gz of one; out: default bench/gpu-logs.
# Uses the python3 that holds torch with CUDA; runs this checkout through PYTHONPATH (nothing installed).
set -uo pipefail
cd "$(dirname "$0")/.."
mirror=${1:-${FACT_DATA_MIRROR:-}}
out=${2:-bench/gpu-logs}
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
if [[ "$mirror" == *.tar.gz ]]; then
    mkdir -p /tmp/fact-mirror && tar -xzf "$mirror" -C /tmp/fact-mirror && mirror=/tmp/fact-mirror
fi

step() {  # step <name> <seconds> <command...>
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit} s): $*"
    local start=$SECONDS
    timeout "$limit" "$@" > "$out/$name.log" 2>&1
    local status=$?
    tail -n 40 "$out/$name.log"
    echo "== $name: exit $status after $((SECONDS - start)) s"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
step cuda_tests 120 python3 -m pytest -q -p no:cacheprovider -k cuda tests
if [ -n "$mirror" ]; then
    step table1_sweep 240 python3 bench/bench_tabular.py --mirror "$mirror" --device cuda
fi
step large_n 100 python3 bench/bench_large_n.py --n 97548 --device cuda
step mlp_budget 45 python3 bench/bench_mlp.py --device cuda
step matrices 30 python3 bench/bench_matrices.py --n 60000 --width 1024 --batch-size 4096
step rfm 45 python3 bench/bench_rfm.py --device cuda --sizes 4000 8000 16000 32000
step monitor 90 python3 bench/bench_monitor.py --device cuda --steps 2000 --repeats 1

#!/usr/bin/env bash
# The GPU check, one command on a CUDA machine (under 8 minutes): install the carried wheels, run the
# tests marked cuda, print the GPU table (benchmarks/device_figures.py) and write it to RESULTS_DIR.
#     bash benchmarks/device_wheels.sh                 # here, once: the wheels into .whl/
#     bash benchmarks/device_check.sh RESULTS_DIR      # there (the device tool: carry [".whl"], RESULTS_DIR=$OUT)
set -uo pipefail
results="${1:?usage: benchmarks/device_check.sh RESULTS_DIR}"
cd "$(dirname "$0")/.."
mkdir -p "$results"
python="${PYTHON:-python3}"
if compgen -G ".whl/*.whl" > /dev/null; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-/tmp/torch_extensions}"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true; } | tee "$results/gpu.txt"
timeout 150 "$python" -m pytest tests/cuda_tests -m cuda -q -p no:cacheprovider -o addopts="-ra --strict-markers" 2>&1 \
    | tee "$results/cuda-tests.txt"
tests=${PIPESTATUS[0]}
timeout 320 "$python" benchmarks/device_figures.py --out "$results" --budget-s 300 2>&1 | tee "$results/figures.log"
figures=${PIPESTATUS[0]}
echo "cuda tests exit $tests, figures exit $figures (results in $results)"
[ "$tests" -eq 0 ] && [ "$figures" -eq 0 ]

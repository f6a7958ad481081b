#!/usr/bin/env bash
# Download, here, the wheels the GPU machine lacks (it has torch, numpy, pandas, scipy, pyyaml, tqdm, pytest,
# but no network) into .whl/ (ignored by git), at the versions this checkout's .venv runs. The device
# tool carries .whl/ (name it in `carry`); benchmarks/device_check.sh installs them there.
#     bash benchmarks/device_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
names="optuna sqlalchemy alembic mako colorlog plotly narwhals psycopg psycopg-binary"
mkdir -p .whl
for name in $names; do
    version=$(.venv/bin/python -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name")
    .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d .whl "$name==$version"
done
ls -l .whl

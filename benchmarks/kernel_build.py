"""What a fresh install pays for the C++ CPU kernels, and what a cached start pays.

    /work/main/.venv/bin/python benchmarks/kernel_build.py

Builds the kernels (tuner/models/native.py) into a new temporary cache folder, in a child process as
``make install`` does, and prints its wall time, the CPU seconds of the compiler processes and the
load average around it (on a shared machine other work stretches the wall time; the CPU seconds
divided by the cores are what a quiet machine would wait, give or take the slowest file); then the
time a second process takes to find and load that build. The folder is removed afterwards.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

LOAD = (
    "import logging, sys, time; logging.basicConfig(level=logging.INFO, format='%(message)s'); t = time.monotonic(); "
    "from tuner.models.native import cpu_kernels; ok = cpu_kernels() is not None; "
    "print(f'loaded {ok} in {time.monotonic() - t:.2f} s', file=sys.stderr); sys.exit(0 if ok else 1)"
)


def child(cache: str) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds of it and its children, and its stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", LOAD], env={**os.environ, "TUNER_KERNEL_DIR": cache},
                          capture_output=True, text=True)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"the kernels did not build:\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stderr


def main() -> None:
    cache = tempfile.mkdtemp(prefix="tuner-kernels-")
    try:
        load_before = os.getloadavg()[0]
        wall, cpu, log = child(cache)
        load_after = os.getloadavg()[0]
        cached_wall, _, cached_log = child(cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    cores = os.cpu_count() or 1
    print(f"machine: {cores} cores, load average {load_before:.1f} before, {load_after:.1f} after")
    print(f"fresh build: {wall:.0f} s wall, {cpu:.0f} CPU s ({cpu / cores:.0f} s of {cores} cores)")
    print(f"cached start: {cached_wall:.1f} s wall ({cached_log.strip().splitlines()[-1]}); "
          f"build message printed: {'building the C++' in cached_log}")
    print(log.strip().splitlines()[-1])


if __name__ == "__main__":
    main()

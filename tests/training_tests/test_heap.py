"""The heap settings training relies on for its speed (glibc: the Linux machines this runs on)."""

import ctypes
import resource
import subprocess
import sys

import pytest

from tuner.training.heap import keep_freed_memory, release_freed_memory

glibc_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")

# 40 rounds of a training step's pattern: the 14 MB scores, their 14 MB softmax, both freed
# glibc adapts its thresholds to what a process frees, so whether the default settings fault here
# depends on history; the program first pins glibc's documented static defaults (128 KiB each), a
# state that faults on every round, then, for "keep", applies the trainer's settings over them.
_PROGRAM = """
import ctypes, ctypes.util, resource, sys, torch
from tuner.training.heap import keep_freed_memory
libc = ctypes.CDLL(ctypes.util.find_library("c"))
assert libc.mallopt(-3, 128 * 1024) and libc.mallopt(-1, 128 * 1024)  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
if sys.argv[1] == "keep":
    keep_freed_memory()
def step():
    scores = torch.empty(2048, 1683).fill_(1)
    softmax = torch.empty(2048, 1683).fill_(1)
    del scores, softmax
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(40):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@glibc_only
def test_freed_score_matrices_are_reused_instead_of_faulted_in_again():
    faults = {}
    for mode in ("static defaults", "keep"):
        done = subprocess.run([sys.executable, "-c", _PROGRAM, mode], capture_output=True, text=True, check=True)
        faults[mode] = int(done.stdout.strip())
    assert faults["static defaults"] > 40 * 3000  # 28 MB = 6,800 pages per round, faulted in again each time
    assert faults["keep"] < 40 * 300  # at most a first round's worth: the blocks are reused


@glibc_only
def test_settings_apply_once_and_release_runs():
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True  # cached: a second call changes nothing
    release_freed_memory()

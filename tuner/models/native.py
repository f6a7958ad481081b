"""C++ CPU kernels, compiled on first use by torch's extension builder and cached.

Caser's horizontal convolutions (``csrc/horizontal.cpp``): the float32 forward with eight examples
per vector and the max over starts taken in registers; for float64, the max over the grouped
products' window starts, one pass where torch ops take four; and the max-pool backward, a scatter
of the winning windows, which torch ops can only do as two ``embedding_bag`` gathers over index
tables rebuilt every step. Caser's vertical convolution (``csrc/vertical.cpp``, float32), in place
of ``bmm``'s thousands of tiny products.

The full-softmax cross-entropy of both models (``csrc/cross_entropy.cpp``, float32): scores, softmax
and both gradients per block of 64 rows while they sit in a core's cache, where torch ops stream
the (batch, items) score matrix through memory six times; 13.6 against 22.6 ms at batch 2048 and
ml-100k's 1683 items on a 2-core AMD EPYC. The gradient of an embedding lookup
(``csrc/embedding.cpp``): rows added in place in index order, where torch sorts the indices first.
Dropout's keep mask (``csrc/dropout.cpp``): splitmix64 of each word's counter, from one seed.
GRU4RecF's bias-free GRU layers (``csrc/gru.cpp``): per step two products and one pass that forms
the gates, where torch's CPU GRU records a dozen ops per step for autograd.
``module.cpp`` binds them all. Interleaved Caser epochs there (ml-100k, L=10): 2.53 s with the
cross-entropy, horizontal forward and vertical kernels, 3.56 s with none.

The torch-op forms (tuner/models/horizontal.py, vertical.py, losses.py, embedding.py, dropout.py,
and nn.GRU for gru.py) stay the path on CUDA, in float64 (but for the max over starts and the
backward) and wherever this module can't build.

The build needs a C++ compiler and ninja and takes about half a minute, once per machine and torch
version (torch caches it under ``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``, and
rebuilds when a source file changes, or a header: a flag names the headers' digest). Anything that
stops it leaves the torch-op path, with one warning.
``TUNER_NATIVE_KERNELS=0`` turns the kernels off.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

from tuner.environment import NATIVE_KERNELS as SWITCH

logger = logging.getLogger(__name__)

_NAMES = ("horizontal.cpp", "vertical.cpp", "cross_entropy.cpp", "embedding.cpp", "dropout.cpp", "gru.cpp", "module.cpp")
SOURCES = [Path(__file__).resolve().parent / "csrc" / name for name in _NAMES]
HEADERS = [Path(__file__).resolve().parent / "csrc" / name for name in ("vector.h", "chunks.h")]

# Vector instructions by the CPU capability torch itself detected: part of the module's name, so a
# build cached on a shared home directory is never loaded on a machine that lacks them.
_VECTOR_FLAGS = {
    "AVX512": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mfma", "-mprefer-vector-width=512"],
    "AVX2": ["-mavx2", "-mfma"],
}


def enabled() -> bool:
    return os.environ.get(SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


@functools.lru_cache(maxsize=None)
def cpu_kernels() -> ModuleType | None:
    """The compiled kernels, or None where they can't be built (callers then use torch ops)."""
    if not enabled():
        return None
    try:
        import torch
        from torch.utils.cpp_extension import load

        _put_venv_ninja_on_path()
        capability = torch.backends.cpu.get_cpu_capability()
        logger.info("loading the C++ CPU kernels (a first build on this machine takes about 30 s)")
        return load(
            name=f"tuner_cpu_kernels_{capability.lower()}",
            sources=[str(path) for path in SOURCES],
            extra_cflags=["-O3", "-fopenmp", *_VECTOR_FLAGS.get(capability, []), _headers_flag()],
            extra_ldflags=["-fopenmp"],
            verbose=False,
        )
    except Exception as error:  # no compiler, no ninja, unwritable cache: torch ops still work
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        logger.warning("C++ CPU kernels unavailable (%s); using torch ops, slower on the CPU", reason[:300])
        return None


def _headers_flag() -> str:
    """A define naming the headers' digest: torch rebuilds a cached module only when a source file
    or a flag changes, so without it an edit to a header alone would leave the old build loaded."""
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in HEADERS)).hexdigest()[:16]
    return f"-DTUNER_HEADERS_DIGEST={digest}"


def _put_venv_ninja_on_path() -> None:
    """torch looks for ``ninja`` on PATH; the pip-installed one sits beside this Python."""
    if shutil.which("ninja") is None:
        os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


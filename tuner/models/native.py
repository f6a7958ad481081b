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

The build needs a C++ compiler and ninja and takes about 106 CPU seconds (a minute on two cores;
the kernel files include ``torch/types.h``, not ``torch/extension.h``, which doubled that). It happens
once per content of the sources and headers, compiler flags, torch and Python version: that digest names the
module and its folder under ``$TUNER_KERNEL_DIR`` (default ``~/.cache/seqrec-tuner/kernels``), so two
checkouts, or hosts sharing a home directory, share one build, and an edit to any source builds anew.
A build holds a file lock; another process that needs the same build waits on it instead of building
again. ``make install`` and every worker slot build before their first trial, so no trial pays for it.
Anything that stops it leaves the torch-op path, with one warning.
``TUNER_NATIVE_KERNELS=0`` turns the kernels off.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from tuner.environment import NATIVE_KERNELS as SWITCH
from tuner.environment import kernel_dir

logger = logging.getLogger(__name__)

_NAMES = ("horizontal.cpp", "vertical.cpp", "cross_entropy.cpp", "embedding.cpp", "dropout.cpp", "gru.cpp", "module.cpp")
SOURCES = [Path(__file__).resolve().parent / "csrc" / name for name in _NAMES]
HEADERS = [Path(__file__).resolve().parent / "csrc" / name for name in ("vector.h", "chunks.h")]

# Vector instructions by the CPU capability torch itself detected: part of the build's key, so a
# build cached on a shared home directory is never loaded on a machine that lacks them.
_VECTOR_FLAGS = {
    "AVX512": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mfma", "-mprefer-vector-width=512"],
    "AVX2": ["-mavx2", "-mfma"],
}


@dataclass(frozen=True)
class KernelBuild:
    """What one compiled module is made of. Its :attr:`key` digests all of it, with the torch, Python
    and compiler it is built for: the module's name and cache folder carry the key, so a build is
    found by what it is made of, never by where its sources lie."""

    prefix: str  # the module's name before the key
    sources: tuple[Path, ...]
    headers: tuple[Path, ...] = ()  # included by the sources: only their content matters to the key
    cflags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()

    @functools.cached_property
    def key(self) -> str:
        import torch

        digest = hashlib.sha256()
        for path in (*self.sources, *self.headers):
            digest.update(f"{path.name}\0".encode() + path.read_bytes() + b"\0")
        target = (torch.__version__, torch.version.git_version, sys.implementation.cache_tag, platform.machine(),
                  os.environ.get("CXX", "c++"), *self.cflags, "|", *self.ldflags)
        digest.update("\0".join(map(str, target)).encode())
        return digest.hexdigest()[:16]

    @property
    def name(self) -> str:
        return f"{self.prefix}_{self.key}"


def enabled() -> bool:
    return os.environ.get(SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def kernel_build() -> KernelBuild:
    """The project's kernels, with the vector flags of this machine's CPU."""
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    return KernelBuild(
        prefix="tuner_cpu_kernels", sources=tuple(SOURCES), headers=tuple(HEADERS),
        cflags=("-O3", "-fopenmp", *_VECTOR_FLAGS.get(capability, [])), ldflags=("-fopenmp",),
    )


@functools.lru_cache(maxsize=None)
def cpu_kernels() -> ModuleType | None:
    """The compiled kernels, or None where they can't be built (callers then use torch ops)."""
    if not enabled():
        return None
    try:
        return load_or_build(kernel_build(), kernel_dir())
    except Exception as error:  # no compiler, no ninja, unwritable cache: torch ops still work
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        logger.warning("C++ CPU kernels unavailable (%s); using torch ops, slower on the CPU", reason[:300])
        return None


def load_or_build(build: KernelBuild, root: Path) -> ModuleType:
    """The module ``build`` describes, from ``root/<key>/`` where it is cached, else built there first.
    A build under way in another process is waited for, not repeated."""
    from filelock import FileLock, Timeout

    folder = root / build.key
    library = folder / f"{build.name}.so"
    if not library.exists():
        folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(folder / "build.lock"))  # an flock: released by the OS if its holder dies
        try:
            lock.acquire(timeout=0)
        except Timeout:
            logger.info("waiting for another process to finish building the C++ CPU kernels in %s", folder)
            lock.acquire()
        try:
            if not library.exists():  # else it was built while this process waited
                sys.modules[build.name] = _build(build, folder, library)
        finally:
            lock.release()
    return _import(build.name, library)


def _build(build: KernelBuild, folder: Path, library: Path) -> ModuleType:
    from torch.utils.cpp_extension import load

    _put_venv_ninja_on_path()
    logger.info("building the C++ CPU kernels into %s (once for these sources, flags and torch version; "
                "about 106 CPU seconds: a minute on 2 cores)", folder)
    started = time.monotonic()
    work = folder / "build"
    shutil.rmtree(work, ignore_errors=True)  # whatever a killed build left, torch's own lock file included
    work.mkdir()
    module = load(name=build.name, sources=[str(p) for p in build.sources], extra_cflags=list(build.cflags),
                  extra_ldflags=list(build.ldflags), build_directory=str(work), verbose=False)
    partial = library.with_suffix(".so.partial")
    shutil.copyfile(work / library.name, partial)
    os.replace(partial, library)  # appears whole: a process that finds it never reads half a file
    shutil.rmtree(work, ignore_errors=True)
    logger.info("built the C++ CPU kernels in %.0f s", time.monotonic() - started)
    return module


def _import(name: str, library: Path) -> ModuleType:
    """The extension module at ``library`` (torch's libraries loaded first: it links against them)."""
    import torch  # noqa: F401

    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, library)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


def _put_venv_ninja_on_path() -> None:
    """torch looks for ``ninja`` on PATH; the pip-installed one sits beside this Python."""
    if shutil.which("ninja") is None:
        os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])

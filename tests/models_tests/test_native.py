"""The C++ kernels' build: keyed by what it is made of, built once even when two processes ask at once,
found without a word when cached. A one-function extension stands in for the real kernels (seconds to
build, not minutes)."""

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
from filelock import FileLock

from tuner.models import native

ROOT = Path(__file__).resolve().parents[2]
TINY = '#include <pybind11/pybind11.h>\nPYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("answer", [] { return %d; }); }\n'
# A process that loads the tiny build from a cache folder, announcing that it is about to.
LOADER = """
import logging, sys
from pathlib import Path
from tuner.models import native
logging.basicConfig(level=logging.INFO, format="%(message)s")
build = native.KernelBuild("tiny", (Path(sys.argv[1]),), cflags=("-O0",))
Path(sys.argv[3]).touch()
print(native.load_or_build(build, Path(sys.argv[2])).answer())
"""


def tiny_build(folder: Path, answer: int = 42, cflags: tuple[str, ...] = ("-O0",)) -> native.KernelBuild:
    source = folder / "tiny.cpp"
    source.write_text(TINY % answer)
    return native.KernelBuild("tiny", (source,), cflags=cflags)


def test_the_key_follows_the_sources_headers_and_flags_not_their_place(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    header = tmp_path / "vector.h"
    header.write_text("inline int width() { return 8; }\n")
    first = tiny_build(tmp_path / "a")
    twin = tiny_build(tmp_path / "b")  # the same source in another checkout
    assert first.key == twin.key and first.name == f"tiny_{first.key}"
    assert tiny_build(tmp_path / "b", answer=43).key != first.key
    assert tiny_build(tmp_path / "b", cflags=("-O3",)).key != first.key
    with_header = native.KernelBuild("tiny", twin.sources, (header,), twin.cflags)
    before = with_header.key
    header.write_text("inline int width() { return 16; }\n")
    assert native.KernelBuild("tiny", twin.sources, (header,), twin.cflags).key != before


def test_every_header_the_sources_include_is_keyed():
    included = {
        line.split('"')[1]
        for source in native.SOURCES
        for line in source.read_text().splitlines()
        if line.startswith('#include "')
    }
    assert included == {path.name for path in native.HEADERS}
    assert set(native.kernel_build().headers) == set(native.HEADERS)


def test_the_cache_folder_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNER_KERNEL_DIR", str(tmp_path / "k"))
    assert native.kernel_dir() == tmp_path / "k"
    monkeypatch.delenv("TUNER_KERNEL_DIR")
    monkeypatch.setenv("TUNER_CACHE_DIR", str(tmp_path / "c"))
    assert native.kernel_dir() == tmp_path / "c" / "kernels"


def test_two_processes_asking_at_once_build_once(tmp_path):
    source = tiny_build(tmp_path).sources[0]
    cache = tmp_path / "cache"
    build = native.KernelBuild("tiny", (source,), cflags=("-O0",))
    (cache / build.key).mkdir(parents=True)
    # Holding the build lock makes both processes find no build and wait, then one builds and one loads.
    lock = FileLock(str(cache / build.key / "build.lock"))
    lock.acquire()
    try:
        started = [tmp_path / f"started-{i}" for i in range(2)]
        processes = [
            subprocess.Popen([sys.executable, "-c", LOADER, str(source), str(cache), str(flag)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for flag in started
        ]
        deadline = time.monotonic() + 60
        while not all(flag.exists() for flag in started) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # both now wait on the lock
    finally:
        lock.release()
    outputs = []
    for process in processes:
        try:
            out, err = process.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("a process building the tiny extension overran 180 s")
        assert process.returncode == 0, err[-3000:]
        outputs.append((out, err))
    assert [out.strip() for out, _ in outputs] == ["42", "42"]
    logs = "".join(err for _, err in outputs)
    assert logs.count("building the C++ CPU kernels into") == 1, logs
    assert logs.count("waiting for another process") == 2, logs
    assert sorted(p.name for p in (cache / build.key).iterdir()) == ["build.lock", f"{build.name}.so"]


def test_a_cached_build_loads_without_a_build_message(tmp_path, caplog):
    build = tiny_build(tmp_path)
    cache = tmp_path / "cache"
    loaded = subprocess.run([sys.executable, "-c", LOADER, str(build.sources[0]), str(cache), str(tmp_path / "s")],
                            cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert loaded.returncode == 0 and "building the C++ CPU kernels into" in loaded.stderr, loaded.stderr[-3000:]
    with caplog.at_level(logging.DEBUG, logger="tuner.models.native"):
        assert native.load_or_build(build, cache).answer() == 42
    assert caplog.records == []


def test_a_build_left_half_done_by_a_killed_process_is_redone(tmp_path):
    build = tiny_build(tmp_path, answer=7)
    cache = tmp_path / "cache"
    work = cache / build.key / "build"
    work.mkdir(parents=True)
    (work / "lock").write_text("")  # torch's own lock file, which would make its builder wait forever
    (cache / build.key / f"{build.name}.so.partial").write_text("half a file")
    assert native.load_or_build(build, cache).answer() == 7

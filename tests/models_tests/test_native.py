"""How the C++ kernels' build is keyed."""

from tuner.models import native


def test_a_header_edit_changes_the_build_flags(tmp_path, monkeypatch):
    # torch rebuilds a cached extension only when a source file or a flag changes; the headers
    # reach the key through this flag
    header = tmp_path / "vector.h"
    header.write_text("inline int width() { return 8; }\n")
    monkeypatch.setattr(native, "HEADERS", [header])
    before = native._headers_flag()
    assert before == native._headers_flag() and before.startswith("-DTUNER_HEADERS_DIGEST=")
    header.write_text("inline int width() { return 16; }\n")
    assert native._headers_flag() != before


def test_every_header_the_sources_include_is_keyed():
    included = {
        line.split('"')[1]
        for source in native.SOURCES
        for line in source.read_text().splitlines()
        if line.startswith('#include "')
    }
    assert included == {path.name for path in native.HEADERS}

"""The runnable shell commands of README.md and docs/*.md run as written.

Convention: a fenced ```bash or ```sh block right after a line `<!-- runnable -->` (blank lines between are
allowed) is runnable: it must run, as written, from the repository root once the project is installed (and, for
`tuner report`/`export`/`status` on a job, after `make demo`). Blocks without the marker are illustrations
(placeholders such as JOB, a dataset of yours) and are not checked.

Checked here, in seconds: every runnable block parses (`bash -n`); every `tuner ...` command in one is accepted
by the real argument parser (argparse rejects an unknown command or flag, a missing argument, a bad choice);
and the read-only, fast ones (`tuner space`, `tuner data`) run for real and exit 0.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tuner.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = "<!-- runnable -->"
_RUNNABLE = re.compile(re.escape(MARKER) + r"\s*\n(?:\s*\n)*```(?:bash|sh)\n(.*?)```", re.DOTALL)
_SEPARATORS = {";", "&&", "||", "|", "&", "do", "done", "then", "fi", "(", ")"}
RUN_FOR_REAL = {"space", "data"}


def runnable_blocks() -> list[tuple[str, str]]:
    """(page:line, block text) for every runnable block of the README and the docs."""
    found = []
    for page in PAGES:
        text = page.read_text()
        for match in _RUNNABLE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{page.relative_to(ROOT)}:{line}", match.group(1)))
    return found


def tuner_commands(block: str) -> list[list[str]]:
    """The argument lists of the `tuner` (or `.venv/bin/tuner`) commands in a shell block."""
    tokens = []
    for line in block.replace("\\\n", " ").splitlines():  # a line ends a command, as in bash
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens += [*lexer, ";"]
    commands, current = [], None
    for token in tokens:
        if token in _SEPARATORS:
            if current is not None:
                commands.append(current)
            current = None
        elif current is not None:
            current.append(token)
        elif token in ("tuner", ".venv/bin/tuner"):
            current = []
    return commands


def parse_error(argv: list[str]) -> str | None:
    """What argparse says about argv (its message on stderr), or None when it accepts it."""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            build_parser().parse_args(argv)
    except SystemExit as exit:  # argparse exits 2 on an error, 0 after --help
        if exit.code:
            return stderr.getvalue().strip().splitlines()[-1]
    return None


BLOCKS = runnable_blocks()
COMMANDS = [(where, argv) for where, block in BLOCKS for argv in tuner_commands(block)]


def test_the_readme_and_several_pages_mark_runnable_commands():
    pages = {where.split(":")[0] for where, _ in BLOCKS}
    assert "README.md" in pages and len(pages) >= 5, pages
    assert len(COMMANDS) >= 10


@pytest.mark.parametrize("where, block", BLOCKS, ids=[where for where, _ in BLOCKS])
def test_runnable_blocks_parse_as_bash(where, block):
    result = subprocess.run(["bash", "-n"], input=block, text=True, capture_output=True)
    assert result.returncode == 0, f"{where}: {result.stderr}"


@pytest.mark.parametrize("where, argv", COMMANDS, ids=[f"{w}:{' '.join(a[:2])}" for w, a in COMMANDS])
def test_tuner_commands_are_accepted_by_the_parser(where, argv):
    assert parse_error(argv) is None, f"{where}: tuner {shlex.join(argv)}: {parse_error(argv)}"


def test_the_parser_check_rejects_what_tuner_would_reject():
    assert parse_error(["report", "caser-ml100k", "--colour"]) is not None
    assert parse_error(["worker", "--devices"]) is not None
    assert parse_error(["frobnicate"]) is not None
    assert parse_error(["space", "search_spaces/caser.hyper", "--model", "Caser"]) is None
    assert tuner_commands("for s in 0 1; do tuner train --set seed=$s --json; done  # two\n") == [
        ["train", "--set", "seed=$s", "--json"]]


REAL = [(where, argv) for where, argv in COMMANDS if argv and argv[0] in RUN_FOR_REAL]


@pytest.mark.parametrize("where, argv", REAL, ids=[f"{w}:{' '.join(a[:2])}" for w, a in REAL])
def test_read_only_commands_run_as_written(where, argv, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, f"{where}: tuner {shlex.join(argv)} exited {code}: {err}"
    assert out.strip(), f"{where}: tuner {shlex.join(argv)} printed nothing"

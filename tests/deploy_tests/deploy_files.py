"""Readers for the deployment files: compose variables and environments, Dockerfile instructions.

Docker is not installed where the tests run, so the files are checked by reading them; the compose
file is also validated against the Compose Specification's JSON schema (test_compose_schema.py).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}; "$$" is a literal dollar.
_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<default>[^}]*))?\}")


def interpolate(text: str, env: dict[str, str] | None = None) -> str:
    """Compose's variable substitution for the forms the project's compose file uses."""
    env = env or {}

    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, default = match.group("name"), match.group("op"), match.group("default")
        value = env.get(name)
        if op == ":-" and not value:
            return default
        if op == "-" and value is None:
            return default
        if op and op.endswith("?") and not value:
            raise KeyError(name)
        return value or ""

    return _VARIABLE.sub(substitute, text)


def variable_names(text: str) -> set[str]:
    return {m.group("name") for m in _VARIABLE.finditer(text) if m.group("name")}


def environment_of(service: dict) -> dict[str, str]:
    """A service's ``environment`` (mapping or ``KEY=VALUE`` list form) with compose's defaults filled in."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {key: interpolate(str(value)) for key, value in raw.items()}


def walk_strings(node):
    """Every string (keys and values) in a parsed YAML document."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from walk_strings(key)
            yield from walk_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk_strings(item)


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined and comments dropped."""
    instructions, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        piece = stripped.removesuffix("\\").strip()
        pending = f"{pending} {piece}" if pending else piece
        if not stripped.endswith("\\"):
            keyword, _, arguments = pending.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
            pending = ""
    return instructions


def check_compose(path) -> subprocess.CompletedProcess:
    """check-jsonschema with the Compose Specification schema it vendors; exit code 1 on a violation."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
    )

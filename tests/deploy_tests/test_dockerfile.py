"""Dockerfile at lint level, .dockerignore, and that what the Dockerfile copies builds the package."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
import zipfile

from tests.deploy_tests.deploy_files import ROOT, dockerfile_instructions
from tuner import environment

SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|PASSPHRASE|CREDENTIAL|API_?KEY", re.IGNORECASE)


def first(instructions, keyword, predicate=lambda arguments: True) -> int:
    return next(i for i, (k, a) in enumerate(instructions) if k == keyword and predicate(a))


def copy_sources(instructions) -> list[str]:
    sources = []
    for keyword, arguments in instructions:
        if keyword == "COPY":
            words = [w for w in arguments.split() if not w.startswith("--")]
            sources += words[:-1]
    return sources


def build_args(instructions) -> dict[str, str]:
    return dict(a.split("=", 1) if "=" in a else (a, "") for k, a in instructions if k == "ARG")


def test_the_base_image_is_pinned_and_justified(dockerfile):
    bases = [a.split()[0] for k, a in dockerfile if k == "FROM"]
    assert bases, "no FROM"
    for base in bases:
        name, _, tag = base.partition(":")
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{base} is not pinned to a version"
        assert "$" not in base, "the base is readable without resolving build args"
    # python:3.11 slim (torch's wheels bring CUDA) or an nvidia/cuda runtime image.
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", bases[-1]) or bases[-1].startswith("nvidia/cuda:")


def test_it_runs_as_a_non_root_user_through_the_tuner_command(dockerfile):
    users = [a for k, a in dockerfile if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert first(dockerfile, "USER") < first(dockerfile, "ENTRYPOINT")
    # Exec form: the worker is the process Docker's SIGTERM reaches, not a shell in front of it.
    assert json.loads(dict(dockerfile)["ENTRYPOINT"]) == ["tuner"]


def test_dependencies_are_installed_in_a_layer_before_the_source(dockerfile):
    copy_source = first(dockerfile, "COPY", lambda a: a.split()[0] in ("tuner", ".", "./tuner"))
    copy_pyproject = first(dockerfile, "COPY", lambda a: a.split()[0] == "pyproject.toml")
    install_torch = first(dockerfile, "RUN", lambda a: "TORCH_SPEC" in a)
    install_deps = first(dockerfile, "RUN", lambda a: "pyproject.toml" in a and "pip install" in a)
    install_project = first(dockerfile, "RUN", lambda a: "pip install --no-deps ." in a)
    assert install_torch < copy_pyproject < install_deps < copy_source < install_project
    assert copy_sources(dockerfile[:install_deps]) == ["pyproject.toml"], "only pyproject.toml decides that layer"


def test_torch_is_a_cuda_12_build_chosen_by_build_args(dockerfile):
    args = build_args(dockerfile)
    assert args["TORCH_SPEC"].startswith("torch==")
    assert re.fullmatch(r"https://download\.pytorch\.org/whl/cu12\d", args["TORCH_INDEX_URL"])


def test_no_secret_is_baked_into_the_image(dockerfile):
    for keyword, arguments in dockerfile:
        if keyword in ("ARG", "ENV"):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", arguments) or [arguments.split("=")[0]]
            assert not [n for n in names if SECRET_NAME.search(n)], f"{keyword} {arguments}"
        assert not re.search(r"://[^/@\s:]+:[^/@\s]+@", arguments), f"a URL with a password: {arguments}"
        assert environment.STORAGE not in arguments.replace(environment.STORAGE_FILE, "")


def test_the_image_env_matches_the_contract(dockerfile):
    env = dict(
        pair.split("=", 1) for k, a in dockerfile if k == "ENV" for pair in a.split() if "=" in pair
    )
    assert {environment.DATA_DIR, environment.CACHE_DIR} <= set(env)
    created = " ".join(a for k, a in dockerfile if k == "RUN" and "install -d" in a)
    assert env[environment.DATA_DIR] in created and env[environment.CACHE_DIR] in created, (
        "the folders exist in the image, so new named volumes take their owner"
    )


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern that matches decides; ``!`` re-includes."""
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
            excluded = not negated
    return excluded


def test_dockerignore_keeps_secrets_out_and_lets_the_sources_in(dockerfile):
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for path in ("secrets/postgres_password", "secrets/tuner_storage", ".env", ".git/config", ".venv/bin/python"):
        assert dockerignore_excludes(path, patterns), f"{path} would enter the build context"
    for source in copy_sources(dockerfile):
        assert not dockerignore_excludes(source, patterns), f"COPY {source} is excluded by .dockerignore"


def test_the_copied_files_build_the_package_with_its_data(tmp_path, dockerfile):
    """What the Dockerfile copies is enough for `pip install .`, and the wheel holds every module and dataset."""
    context = tmp_path / "context"
    for source in copy_sources(dockerfile):
        target = context / source
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / source, target)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), "."],
        cwd=context,
        check=True,
    )
    (wheel,) = tmp_path.glob("seqrec_tuner-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(["git", "ls-files", "tuner"], cwd=ROOT, capture_output=True, text=True, check=True)
    wanted = [p for p in tracked.stdout.split() if p.endswith(".py") or p.startswith("tuner/data/builtin/")]
    assert "tuner/environment.py" in wanted
    assert [p for p in wanted if p not in names] == [], "files missing from the installed package"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "tuner = tuner.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_the_instruction_reader_joins_continued_lines():
    text = "FROM a:1\n# note\nRUN one \\\n  # inside\n  && two\nUSER x\n"
    assert dockerfile_instructions(text) == [("FROM", "a:1"), ("RUN", "one && two"), ("USER", "x")]

"""Fixtures: the parsed docker-compose.yml and Dockerfile (readers in deploy_files.py)."""

from __future__ import annotations

import pytest
import yaml

from tests.deploy_tests.deploy_files import ROOT, dockerfile_instructions


@pytest.fixture(scope="session")
def compose_text() -> str:
    return (ROOT / "docker-compose.yml").read_text()


@pytest.fixture(scope="session")
def compose(compose_text) -> dict:
    return yaml.safe_load(compose_text)


@pytest.fixture(scope="session")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="session")
def dockerfile() -> list[tuple[str, str]]:
    return dockerfile_instructions((ROOT / "Dockerfile").read_text())

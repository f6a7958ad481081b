"""docs/deployment.md: it documents the whole environment contract, and its compose snippets are valid."""

from __future__ import annotations

import re

import yaml

from tests.deploy_tests.deploy_files import ROOT, check_compose
from tuner import environment

DOC = ROOT / "docs" / "deployment.md"


def test_every_variable_of_the_contract_is_documented():
    text = DOC.read_text()
    assert [v for v in environment.VARIABLES if f"`{v}`" not in text] == []


def test_the_compose_snippets_follow_the_compose_specification(tmp_path):
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 2
    for number, block in enumerate(blocks):
        path = tmp_path / f"snippet{number}.yml"
        # Compose's own "!override" tag: plain YAML loaders do not know it, the schema check only needs the mapping.
        path.write_text(block.replace("!override", ""))
        assert "services" in yaml.safe_load(path.read_text())
        result = check_compose(path)
        assert result.returncode == 0, block + result.stdout

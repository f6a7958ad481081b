"""docker-compose.yml against the Compose Specification's JSON schema, as check-jsonschema ships it.

Docker Compose itself validates with that schema before anything else; `docker compose config` needs the
compose plugin, which these machines lack, so the schema is the validator every test run has.
"""

from __future__ import annotations

from tests.deploy_tests.deploy_files import ROOT, check_compose


def test_compose_file_follows_the_compose_specification():
    result = check_compose(ROOT / "docker-compose.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_misspelt_key(tmp_path, compose_text):
    # A typo compose would refuse ("healthchek"): proves the check above can fail.
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(compose_text.replace("    healthcheck:", "    healthchek:", 1))
    result = check_compose(broken)
    assert result.returncode == 1 and "healthchek" in result.stdout

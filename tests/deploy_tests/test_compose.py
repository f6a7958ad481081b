"""docker-compose.yml: the services, the GPU reservation, what is exposed and where secrets live."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.deploy_tests.deploy_files import ROOT, environment_of, interpolate, variable_names, walk_strings
from tuner import environment

TOOL_SERVICES = ("worker", "optuna-dashboard", "tuner")  # the services that run the project's image
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|PASSPHRASE|CREDENTIAL|API_?KEY", re.IGNORECASE)
URL_WITH_PASSWORD = re.compile(r"://[^/@\s:]+:[^/@\s]+@")


def published_ports(service: dict) -> list[dict]:
    """Each published port as {host_ip, published, target}, compose's defaults filled in."""
    ports = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            ports.append({k: interpolate(str(entry.get(k, ""))) for k in ("host_ip", "published", "target")})
            continue
        parts = interpolate(str(entry)).rsplit(":", 2)
        if len(parts) == 3:
            ports.append(dict(zip(("host_ip", "published", "target"), parts)))
        else:  # "HOST:CONTAINER" or "CONTAINER" alone: every interface
            ports.append({"host_ip": "", "published": parts[0], "target": parts[-1]})
    return ports


def test_the_stack_has_its_four_services(services):
    assert {"postgres", "worker", "optuna-dashboard", "tuner"} <= set(services)
    # The one-shot CLI is not started by `docker compose up`.
    assert services["tuner"].get("profiles") == ["tools"]
    assert all("profiles" not in services[name] for name in ("postgres", "worker", "optuna-dashboard"))


def test_postgres_has_a_pinned_major_version_a_healthcheck_and_a_named_volume(compose, services):
    postgres = services["postgres"]
    assert re.fullmatch(r"postgres:\d+(\.\d+)?(-[a-z0-9]+)?(@sha256:[0-9a-f]{64})?", postgres["image"])
    test = postgres["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL") and "pg_isready" in " ".join(test)
    assert {"interval", "retries"} <= set(postgres["healthcheck"])
    named = [v.split(":")[0] for v in postgres["volumes"] if v.split(":")[1] == "/var/lib/postgresql/data"]
    assert named and named[0] in compose["volumes"], "the database lives in a named volume"


def test_every_image_is_pinned(services):
    for name, service in services.items():
        image = interpolate(service["image"])
        assert ":" in image.rsplit("/", 1)[-1], f"{name}: {image} has no tag"
        assert not image.endswith(":latest"), f"{name}: {image} uses :latest"


def test_no_port_is_published_beyond_loopback(services):
    for name, service in services.items():
        for port in published_ports(service):
            assert port["host_ip"] == "127.0.0.1", f"{name} publishes {port} on every interface"
    assert [p["target"] for p in published_ports(services["postgres"])] == ["5432"]


def test_worker_reserves_nvidia_gpus_and_can_be_scaled(services):
    worker = services["worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert len(devices) == 1
    assert devices[0]["driver"] == "nvidia" and devices[0]["capabilities"] == ["gpu"]
    assert "count" in devices[0] or "device_ids" in devices[0]
    # `--scale worker=N` needs no fixed name and no published port.
    assert "container_name" not in worker and "ports" not in worker
    assert worker.get("init") is True, "tini forwards SIGTERM to the worker and reaps its slot processes"


@pytest.mark.parametrize("name", TOOL_SERVICES)
def test_tuner_services_wait_for_a_healthy_database(services, name):
    assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_the_one_shot_cli_sees_studies_and_writes_reports(services):
    mounts = {v.split(":")[1]: v.split(":")[0] for v in services["tuner"]["volumes"]}
    assert mounts["/work/studies"] == "./studies"
    assert mounts["/work/reports"] == "./reports"
    assert "command" not in services["tuner"], "`compose run --rm tuner submit ...` passes the CLI's arguments"


def test_compose_sets_only_variables_of_the_environment_contract(compose_text, services):
    named = set(re.findall(r"\bTUNER_[A-Z0-9_]+\b", compose_text))
    assert named, "the compose file passes the contract to the containers"
    assert named <= set(environment.VARIABLES), f"unknown to tuner/environment.py: {named - set(environment.VARIABLES)}"


def test_workers_get_everything_they_need(services):
    worker = environment_of(services["worker"])
    needed = {environment.STORAGE_FILE, environment.DEVICES, environment.TRIALS_PER_DEVICE}
    assert needed | {environment.DATA_DIR, environment.CACHE_DIR} <= set(worker)
    assert environment.STORAGE_FILE in environment_of(services["optuna-dashboard"])
    assert {environment.STORAGE_FILE, environment.DATA_DIR, environment.CACHE_DIR} <= set(
        environment_of(services["tuner"])
    )


@pytest.mark.parametrize("name", TOOL_SERVICES)
def test_the_cli_reads_what_compose_sets(services, compose, name, tmp_path, monkeypatch):
    """Each container's variables, given to tuner.environment, yield the storage and folders compose means."""
    env = environment_of(services[name])
    secret_path = env[environment.STORAGE_FILE]
    secret = secret_path.removeprefix("/run/secrets/")
    assert secret in services[name]["secrets"] and secret in compose["secrets"], "the file is a mounted secret"
    url = "postgresql+psycopg://tuner:pw@postgres:5432/tuner"
    (tmp_path / "url").write_text(url + "\n")
    for variable in environment.VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(environment.STORAGE_FILE, str(tmp_path / "url"))

    assert environment.storage_url() == url
    if environment.DATA_DIR in env:
        assert str(environment.data_dir()) == env[environment.DATA_DIR]
        assert str(environment.cache_dir()) == env[environment.CACHE_DIR]
        targets = {v.split(":")[1] for v in services[name]["volumes"]}
        assert {env[environment.DATA_DIR], env[environment.CACHE_DIR]} <= targets, "data and cache are volumes"


def test_no_secret_value_is_written_in_the_compose_file(compose, services):
    for text in walk_strings(compose):
        assert not URL_WITH_PASSWORD.search(text), f"a URL with a password: {text!r}"
    for name, service in services.items():
        assert "env_file" not in service, f"{name}: settings come from .env interpolation, secrets from files"
        for key, value in environment_of(service).items():
            if SECRET_NAME.search(key):
                assert key.endswith("_FILE") and value.startswith("/run/secrets/"), f"{name}: {key}={value!r}"
        # The storage URL carries the password: only ever passed as a file.
        assert environment.STORAGE not in environment_of(service), f"{name} sets {environment.STORAGE} in the clear"


def test_secret_files_and_env_file_are_never_committed(compose):
    paths = [secret["file"] for secret in compose["secrets"].values()] + [".env"]
    for path in paths:
        ignored = subprocess.run(["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT)
        assert ignored.returncode == 0, f"{path} is not in .gitignore"
    tracked = subprocess.run(["git", "ls-files", "--", *paths], cwd=ROOT, capture_output=True, text=True, check=True)
    assert tracked.stdout == ""


def test_env_example_holds_knobs_not_secrets(compose_text):
    settings = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    assert not [key for key in settings if SECRET_NAME.search(key)]
    assert not [value for value in settings.values() if URL_WITH_PASSWORD.search(value)]
    # Every knob it documents is one the compose file reads, and the other way round, with the same default.
    assert set(settings) == variable_names(compose_text)
    defaults = dict(re.findall(r"\$\{([A-Z0-9_]+):-([^}]*)\}", compose_text))
    assert defaults == settings

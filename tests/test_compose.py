"""docker-compose.yml, the Dockerfile and .env.example agree with each other and with the
settings the app reads. (No Docker engine runs here, so the files are parsed.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from vault.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")


def _compose() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(document, dict)
    return document


def _service(name: str) -> dict[str, Any]:
    service = _compose()["services"][name]
    assert isinstance(service, dict)
    return service


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):  # the KEY=value list form
        return dict(item.split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


def _example_env() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` against ``env``."""

    def substitute(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        given = env.get(name, "")
        if operator in (":-", "-") and not given:
            return argument
        return given

    return _INTERPOLATION.sub(substitute, value)


def _setting_variables() -> set[str]:
    """Every environment variable :class:`Settings` reads."""
    prefix = Settings.model_config.get("env_prefix", "")
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.add(alias if isinstance(alias, str) else f"{prefix}{name}".upper())
    return names


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def _image_env() -> dict[str, str]:
    """The ``ENV`` of the Dockerfile's final stage."""
    final = _dockerfile().split("\nFROM ")[-1].replace("\\\n", " ")
    values: dict[str, str] = {}
    for line in final.splitlines():
        if line.startswith("ENV "):
            for item in shlex.split(line[4:]):
                key, _, value = item.partition("=")
                values[key] = value
    return values


# -- services ----------------------------------------------------------------------------


AWS_SETTINGS = {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"}


def test_the_services_are_the_api_and_postgresql_15() -> None:
    services = _compose()["services"]
    assert set(services) - S3_SERVICES == {"api", "db"}
    assert str(services["db"]["image"]).startswith("postgres:15")
    build = services["api"]["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (ROOT / context / dockerfile).is_file()


def test_postgresql_is_health_checked_with_pg_isready() -> None:
    check = _service("db")["healthcheck"]
    assert "pg_isready" in " ".join(check["test"])
    assert {"interval", "timeout", "retries"} <= set(check)


def test_the_api_is_health_checked_on_healthz_and_waits_for_a_healthy_db() -> None:
    api = _service("api")
    check = api["healthcheck"]
    assert "/healthz" in " ".join(check["test"])
    assert {"interval", "timeout", "retries"} <= set(check)
    assert api["depends_on"]["db"]["condition"] == "service_healthy"


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Named-volume mounts of ``service``: target → volume."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume["source"], volume["target"]
        mounts[target] = source
    return mounts


def test_keyring_blobs_and_pgdata_live_on_named_volumes() -> None:
    declared = set(_compose()["volumes"])
    assert {"keyring", "blobs", "pgdata"} <= declared
    data_dir = _environment(_service("api")).get("CROSSVAULT_DATA_DIR")
    data_dir = data_dir or _image_env()["CROSSVAULT_DATA_DIR"]
    blob_dir = str(Settings(data_dir=Path(data_dir)).blob_dir)
    assert _mounts(_service("api")) == {data_dir: "keyring", blob_dir: "blobs"}
    assert _mounts(_service("db")) == {"/var/lib/postgresql/data": "pgdata"}
    assert set(_mounts(_service("api")).values()) | {"pgdata"} <= declared


# -- environment -------------------------------------------------------------------------


def test_every_api_variable_is_a_setting_the_app_reads() -> None:
    unknown = set(_environment(_service("api"))) - _setting_variables() - AWS_SETTINGS
    assert not unknown, f"compose sets variables the app never reads: {sorted(unknown)}"
    assert set(_image_env()) - _setting_variables() <= {
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONUNBUFFERED",
        "PROMETHEUS_MULTIPROC_DIR",
    }


def test_a_deployment_sets_every_setting_it_requires() -> None:
    environment = _environment(_service("api"))
    # DATABASE_URL makes it a deployment: it must supply the operator secret (several
    # workers must not each generate one), and demo mode must stay off.
    assert {"DATABASE_URL", "CROSSVAULT_OPERATOR_SECRET", "CROSSVAULT_DATA_DIR"} <= set(environment)
    assert environment.get("CROSSVAULT_DEMO", "0") in ("0", "false")
    assert "CROSSVAULT_KEYRING" not in environment  # the keyring is a file on its volume


def test_secrets_come_from_the_env_file_and_are_required() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    used = {match.group(1): match.group(2) for match in _INTERPOLATION.finditer(text)}
    example = _example_env()
    assert set(used) == set(example), "every ${VAR} of the compose file is in .env.example"
    for secret in ("POSTGRES_PASSWORD", "CROSSVAULT_OPERATOR_SECRET"):
        assert used[secret] == ":?", f"{secret} must be required (${{{secret}:?...}})"
        assert example[secret] == "", f".env.example must not ship a value for {secret}"


def test_the_database_url_reaches_the_db_service_as_its_user() -> None:
    env = {**_example_env(), "POSTGRES_PASSWORD": "0123456789abcdef0123456789abcdef"}
    env["CROSSVAULT_OPERATOR_SECRET"] = "uV8q3ZmT1xw6Lr0pKc4sYb9NfEa2HdJg"
    api = {k: _interpolate(v, env) for k, v in _environment(_service("api")).items()}
    db = {k: _interpolate(v, env) for k, v in _environment(_service("db")).items()}
    settings = Settings(
        database_url=api["DATABASE_URL"],
        operator_secret=api["CROSSVAULT_OPERATOR_SECRET"],
        clock=api["CROSSVAULT_CLOCK"],
    )
    url = make_url(settings.resolved_database_url())
    assert (url.host, url.port) == ("db", 5432)
    assert (url.username, url.password) == (db["POSTGRES_USER"], db["POSTGRES_PASSWORD"])
    assert url.database == db["POSTGRES_DB"]
    assert not settings.demo and not settings.embedded


S3_SERVICES = {"objects", "objects-init"}


def test_an_s3_compatible_store_runs_only_in_the_s3_profile_and_the_api_can_reach_it() -> None:
    for name in S3_SERVICES:
        assert _service(name).get("profiles") == ["s3"], name
    assert _mounts(_service("objects")) == {"/data": "objects"}
    api = _service("api")
    assert api["depends_on"]["objects-init"] == {
        "condition": "service_completed_successfully",
        "required": False,
    }
    env = {
        **_example_env(),
        "CROSSVAULT_BLOB_STORE": "s3://crossvault/blobs",
        "AWS_ACCESS_KEY_ID": "crossvault",
        "AWS_SECRET_ACCESS_KEY": "0123456789abcdef",
    }
    values = {k: _interpolate(v, env) for k, v in _environment(api).items()}
    assert set(values) >= AWS_SETTINGS
    assert values["AWS_ENDPOINT_URL"] == "http://objects:9000"  # the objects service
    objects = {k: _interpolate(v, env) for k, v in _environment(_service("objects")).items()}
    assert (objects["MINIO_ROOT_USER"], objects["MINIO_ROOT_PASSWORD"]) == (
        values["AWS_ACCESS_KEY_ID"],
        values["AWS_SECRET_ACCESS_KEY"],
    )
    assert (
        Settings(blob_store=values["CROSSVAULT_BLOB_STORE"]).blob_store == "s3://crossvault/blobs"
    )
    # Unset, it means the local blob volume (an empty value is no bucket).
    assert Settings(blob_store=_interpolate("${CROSSVAULT_BLOB_STORE:-}", {})).blob_store is None
    assert "mc mb" in " ".join(_service("objects-init")["entrypoint"])


# -- image -------------------------------------------------------------------------------


def test_the_image_is_python_311_slim_run_by_an_unprivileged_user() -> None:
    dockerfile = _dockerfile()
    stages = re.findall(r"^FROM (\S+)", dockerfile, flags=re.MULTILINE)
    assert stages and all(stage == "python:3.11-slim" for stage in stages)
    users = re.findall(r"^USER (\S+)", dockerfile, flags=re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")


def test_the_image_migrates_then_serves_several_workers_on_all_interfaces() -> None:
    dockerfile = _dockerfile()
    command = re.findall(r"^CMD (.+)$", dockerfile, flags=re.MULTILINE)[-1]
    serve = yaml.safe_load(command)  # the exec form is a JSON (so YAML) list
    assert serve[:2] == ["crossvault", "serve"]
    assert serve[serve.index("--host") + 1] == "0.0.0.0"
    assert int(serve[serve.index("--workers") + 1]) > 1
    entrypoint = re.findall(r"^ENTRYPOINT (.+)$", dockerfile, flags=re.MULTILINE)[-1]
    script = yaml.safe_load(entrypoint)[0]
    copied = re.search(rf"^COPY .*?(\S+) \S*{re.escape(script)}$", dockerfile, re.MULTILINE)
    assert copied is not None
    body = (ROOT / copied.group(1)).read_text()
    assert body.index("crossvault db upgrade") < body.index('exec "$@"')


@pytest.mark.parametrize("ignored", [".env", ".venv/", "data/", ".git/"])
def test_the_build_context_leaves_out_secrets_and_local_state(ignored: str) -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored in lines


def test_the_one_time_set_up_is_the_init_command() -> None:
    """The header's provisioning step is ``crossvault init`` (a real command of the CLI),
    not a line of Python."""
    from typer.main import get_command

    from crossvault.cli import app

    header = [
        line.lstrip("#").strip()
        for line in (ROOT / "docker-compose.yml").read_text().splitlines()
        if line.startswith("#")
    ]
    runs = [shlex.split(line) for line in header if line.startswith("docker compose run")]
    assert runs == [["docker", "compose", "run", "--rm", "api", "crossvault", "init"]]
    assert "python -c" not in "\n".join(header)
    assert "init" in get_command(app).commands  # type: ignore[attr-defined]

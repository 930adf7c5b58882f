"""Configuration from the environment (and matching CLI flags), via pydantic-settings.

| variable | default |
|---|---|
| ``CROSSVAULT_DATA_DIR`` | ``./data`` |
| ``DATABASE_URL`` | SQLite ``crossvault.db`` in the data dir (the *embedded default*) |
| ``CROSSVAULT_POLICY`` | the packaged ``policies/default.toml`` |
| ``CROSSVAULT_OPERATOR_SECRET`` | generated on first run into the data dir (0600) |
| ``CROSSVAULT_KEYRING`` | unset: ``keyring.json`` in the data dir |
| ``CROSSVAULT_DEMO`` | ``0`` |
| ``CROSSVAULT_CLOCK`` | ``system`` (or ``simulated``) |
| ``CROSSVAULT_RADIOLOGY_MAX_FILE_BYTES`` | 4 GiB: the largest file a radiology deposit takes |
| ``CROSSVAULT_METRICS_TOKEN`` | unset: ``/metrics`` only for the operator's token |
| ``CROSSVAULT_OPERATORS`` | ``{}``: more operators, ``{"client id": "secret"}`` (JSON) |
| ``CROSSVAULT_CHECKPOINT_SECONDS`` | ``60``: how often to sign an audit checkpoint (``0``: never) |
| ``CROSSVAULT_BLOB_STORE`` | unset: blobs under the data dir; ``s3://bucket/prefix``: in S3 |

With ``CROSSVAULT_BLOB_STORE=s3://...`` the client takes the standard AWS settings
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``...).

Settings fail closed (see :class:`Settings`): a bad value is a one-line
:class:`ConfigurationError` at construction, before anything is opened or written.

Two ways to run, told apart by ``DATABASE_URL``:

* **Embedded default** (``DATABASE_URL`` unset): SQLite in the data dir. Start-up migrates
  the schema to the code's revision and generates a keyring on first run.
* **Deployment** (``DATABASE_URL`` set, normally PostgreSQL): run ``crossvault db upgrade``
  first (start-up only checks the schema revision and refuses if it differs), and supply
  the keyring (``CROSSVAULT_KEYRING`` or an existing ``keyring.json`` in the data dir):
  a keyring is never generated, unless ``CROSSVAULT_DEMO=1``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from vault.core.errors import VaultError

MIN_OPERATOR_SECRET_LENGTH = 24
DEFAULT_RADIOLOGY_MAX_FILE_BYTES = 4 << 30  # 4 GiB: a large CT study's single file
PLACEHOLDER_SECRETS = frozenset(
    {"changeme", "secret", "operator", "password", "admin", "crossvault", "example", "test"}
)
# Seconds libpq waits for a PostgreSQL server before giving up (added to URLs without one),
# so an unreachable host is a prompt one-line refusal rather than a hang.
DEFAULT_CONNECT_TIMEOUT = 10

_SUPPORTED_URLS = "postgresql+psycopg://user:password@host:5432/name or sqlite:////absolute/path"
_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg"}
_SQLITE_SCHEMES = {"sqlite", "sqlite+pysqlite"}


class ConfigurationError(VaultError):
    """A setting is missing, malformed or unsafe. One line naming the variable, never its
    value (it may hold a password or a secret)."""

    code = "configuration_invalid"


class Settings(BaseSettings):
    """crossvault's configuration; construction raises :class:`ConfigurationError`.

    Outside demo mode a placeholder ``CROSSVAULT_OPERATOR_SECRET`` (shorter than
    ``MIN_OPERATOR_SECRET_LENGTH`` or a well-known word) is refused. ``DATABASE_URL``
    must name PostgreSQL through psycopg 3 (``postgres://`` and ``postgresql://`` are
    taken to mean it) or an SQLite file.
    """

    model_config = SettingsConfigDict(env_prefix="CROSSVAULT_", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    policy: Path | None = None
    operator_secret: str | None = None
    keyring: str | None = None
    demo: bool = False
    clock: Literal["system", "simulated"] = "system"
    radiology_max_file_bytes: int = Field(default=DEFAULT_RADIOLOGY_MAX_FILE_BYTES, gt=0)
    metrics_token: str | None = None
    checkpoint_seconds: float = Field(default=60.0, ge=0)  # 0: only on demand
    # Operators besides ``operator`` (CROSSVAULT_OPERATOR_SECRET): {client id: secret}, as
    # JSON. Giving an institution its admin credential takes two of them (R9: four eyes).
    operators: dict[str, str] = Field(default_factory=dict)
    blob_store: str | None = None  # s3://bucket[/prefix]; unset: the data dir

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise ConfigurationError(_describe(error)) from None

    @model_validator(mode="after")
    def _fail_closed(self) -> Settings:
        if self.database_url is not None:
            self.database_url = normalise_database_url(self.database_url)
        if not self.demo and self.operator_secret is not None:
            _refuse_placeholder(self.operator_secret)
        if not self.demo and self.metrics_token is not None:
            _refuse_placeholder(self.metrics_token, "CROSSVAULT_METRICS_TOKEN")
        if self.blob_store is not None and not self.blob_store.strip():
            self.blob_store = None  # set but empty (compose's ${VAR:-}): the data dir
        if self.blob_store is not None:
            bucket_and_prefix(self.blob_store)
        for client_id, secret in self.operators.items():
            if not re.fullmatch(r"[A-Za-z0-9._-]{1,60}", client_id):
                raise ConfigurationError(
                    "CROSSVAULT_OPERATORS: client ids are 1-60 of A-Z a-z 0-9 . _ -"
                )
            if not self.demo:
                _refuse_placeholder(secret, "CROSSVAULT_OPERATORS")
        return self

    @property
    def embedded(self) -> bool:
        """True for the embedded default: ``DATABASE_URL`` unset, SQLite in the data dir."""
        return self.database_url is None

    @property
    def may_generate_keyring(self) -> bool:
        """A missing keyring may be generated only for the embedded default or a demo."""
        return self.embedded or self.demo

    def resolved_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'crossvault.db').resolve()}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"


_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX = re.compile(r"[A-Za-z0-9._/-]{0,200}")


def bucket_and_prefix(value: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` as (bucket, prefix without slashes at its ends)."""
    scheme, _, rest = value.strip().partition("://")
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    if scheme != "s3" or not _BUCKET.fullmatch(bucket) or not _PREFIX.fullmatch(prefix):
        raise ConfigurationError(
            "CROSSVAULT_BLOB_STORE is not s3://bucket/prefix (a valid bucket name, "
            "a prefix of A-Z a-z 0-9 . _ - /); unset it to keep blobs in the data dir"
        )
    return bucket, prefix


def normalise_database_url(value: str) -> str:
    """Check ``value`` and return the URL crossvault connects with.

    ``postgres://`` and ``postgresql://`` become ``postgresql+psycopg://`` (the driver
    installed), and PostgreSQL URLs without ``connect_timeout`` get
    ``DEFAULT_CONNECT_TIMEOUT``. Messages never include the URL: it may hold a password.
    """
    if not value.strip():
        raise ConfigurationError("DATABASE_URL is set but empty; unset it for the embedded default")
    try:
        url = make_url(value.strip())
    except (ArgumentError, ValueError):
        raise ConfigurationError(
            f"DATABASE_URL is not a database URL; expected {_SUPPORTED_URLS}"
        ) from None
    scheme = url.drivername.lower()
    if scheme in _POSTGRES_SCHEMES:
        return _postgres_url(url)
    if scheme in _SQLITE_SCHEMES:
        return _sqlite_url(url)
    raise ConfigurationError(
        f"DATABASE_URL scheme {scheme!r} is not supported; expected {_SUPPORTED_URLS}"
    )


def _postgres_url(url: URL) -> str:
    if not url.database:
        raise ConfigurationError("DATABASE_URL names no PostgreSQL database")
    url = url.set(drivername="postgresql+psycopg")
    if "connect_timeout" not in url.query:
        url = url.update_query_dict({"connect_timeout": str(DEFAULT_CONNECT_TIMEOUT)})
    return url.render_as_string(hide_password=False)


def _sqlite_url(url: URL) -> str:
    if not url.database or url.database == ":memory:" or url.database.startswith("file::memory"):
        raise ConfigurationError(
            "DATABASE_URL names an in-memory SQLite database; give a file (sqlite:////path)"
        )
    return url.render_as_string(hide_password=False)


def is_placeholder_secret(secret: str) -> bool:
    """Shorter than ``MIN_OPERATOR_SECRET_LENGTH``, made only of well-known words
    (``changemechangeme...``), or of fewer than 8 distinct characters."""
    if len(secret) < MIN_OPERATOR_SECRET_LENGTH or len(set(secret)) < 8:
        return True
    rest = re.sub(r"[\W_]+", "", secret.lower())
    for word in PLACEHOLDER_SECRETS:
        rest = rest.replace(word.replace("-", "").replace("_", ""), "")
    return not rest


def _refuse_placeholder(secret: str, variable: str = "CROSSVAULT_OPERATOR_SECRET") -> None:
    if is_placeholder_secret(secret):
        raise ConfigurationError(
            f"{variable} looks like a placeholder (well-known words, or "
            f"shorter than {MIN_OPERATOR_SECRET_LENGTH} characters); set a random one "
            "(`openssl rand -base64 32`) or unset it to have one generated"
        )


def _describe(error: ValidationError) -> str:
    """One line naming each bad variable and what is wrong, without the input value."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        field = str(item["loc"][0]) if item["loc"] else "settings"
        problems.append(f"{_variable(field)}: {item['msg']}")
    return "invalid configuration: " + "; ".join(problems).replace("\n", " ")


def _variable(field: str) -> str:
    if field.upper() == "DATABASE_URL" or field == "database_url":
        return "DATABASE_URL"
    return f"CROSSVAULT_{field.upper()}"

"""An S3 server speaking the real protocol on loopback: moto's server mode
(``moto_server``), started once per test session in a process of its own, and a fresh
bucket per use. The vault reaches it through the standard AWS settings, as a deployment
reaches its object store."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import httpx
import pytest

from sim.server import free_port

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

REGION = "us-east-1"


@dataclass
class S3Server:
    endpoint: str
    _client: S3Client | None = None

    def env(self) -> dict[str, str]:
        """The standard AWS settings that point a client at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
        }

    def client(self) -> S3Client:
        """The test process's own client (one, closed with the server)."""
        if self._client is None:
            self._client = boto3.client(
                "s3",
                endpoint_url=self.endpoint,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                region_name=REGION,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def bucket(self) -> Bucket:
        name = f"vault-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return Bucket(self, name)


@dataclass(frozen=True)
class Bucket:
    server: S3Server
    name: str

    @property
    def url(self) -> str:
        return f"s3://{self.name}/crossvault"

    def object_keys(self, prefix: str = "") -> list[str]:
        client = self.server.client()
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.server.client().get_object(Bucket=self.name, Key=key)["Body"].read()

    def uploads(self) -> list[str]:
        """Keys of multipart uploads begun and neither completed nor aborted."""
        answer = self.server.client().list_multipart_uploads(Bucket=self.name)
        return sorted(item["Key"] for item in answer.get("Uploads", []))


def _moto_command(port: int) -> list[str]:
    script = Path(sys.executable).with_name("moto_server")
    found = str(script) if script.exists() else shutil.which("moto_server")
    assert found, "moto[server] is not installed (pip install -e '.[dev]')"
    return [found, "-H", "127.0.0.1", "-p", str(port)]


@contextmanager
def moto_server(log: Path) -> Iterator[S3Server]:
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(_moto_command(port), stdout=out, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{endpoint}/", timeout=1)
                break
            except httpx.HTTPError:
                assert process.poll() is None, log.read_text(errors="replace")
                assert time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.05)
        server = S3Server(endpoint)
        yield server
        server.close()
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server


@contextmanager
def aws_environment(server: S3Server) -> Iterator[None]:
    """The AWS settings in this process's environment (the in-process server reads them)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in server.env().items():
            patch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            patch.delenv(name, raising=False)
        yield


def environment_for(server: S3Server) -> dict[str, str]:
    """A child process's environment: this one's plus the AWS settings."""
    return {**os.environ, **server.env()}

"""An S3 bucket for a benchmark: ``CROSSVAULT_BENCH_S3_ENDPOINT`` (with the environment's
AWS settings) if set, else moto's S3 server started on loopback when ``moto[server]`` is
installed (the dev extra), else none."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import httpx

from sim.server import free_port

_MOTO_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextmanager
def s3_bucket() -> Iterator[str | None]:
    """``s3://bucket/bench`` of a fresh bucket, the AWS settings in ``os.environ`` (the
    servers the benchmark starts inherit them); ``None`` when no S3 server is at hand."""
    endpoint = os.environ.get("CROSSVAULT_BENCH_S3_ENDPOINT")
    if endpoint:
        yield _bucket(endpoint)
        return
    script = Path(sys.executable).with_name("moto_server")
    command = str(script) if script.exists() else shutil.which("moto_server")
    if command is None:
        yield None
        return
    port = free_port()
    process = subprocess.Popen(
        [command, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    saved = {name: os.environ.get(name) for name in (*_MOTO_ENV, "AWS_ENDPOINT_URL")}
    try:
        os.environ.update({**_MOTO_ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"})
        _wait(f"http://127.0.0.1:{port}")
        yield _bucket(f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(10)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _wait(endpoint: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(endpoint, timeout=1)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _bucket(endpoint: str) -> str:
    name = f"crossvault-bench-{secrets.token_hex(4)}"
    client = boto3.client("s3", endpoint_url=endpoint)
    try:
        client.create_bucket(Bucket=name)
    finally:
        client.close()
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    return f"s3://{name}/bench"

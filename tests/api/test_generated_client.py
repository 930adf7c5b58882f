"""A client generated from ``/openapi.json`` works (issue 17, item 4).

``openapi-python-client`` generates ``crossvault_client`` from the live server's document
into a temporary directory; pip installs it there (``--target``, no dependencies: httpx,
attrs and python-dateutil are the project's own); and
:mod:`tests.api.generated_walkthrough` drives the README's cross-border walkthrough with it
over real HTTP: register, log in, list, apply, the doctor's token, the viewing session, its
records (the lookback only), the access log, revocation, and the session's plain 404.
Runs in the SQLite run only (it is about the document, not the database).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from tests.api.conftest import PASSWORD, World
from tests.support.databases import DatabaseKind

BIN = Path(sys.executable).parent
# Bytes answers (record content, QR codes) and uploads become ``File``s (docs/integrating.md).
CONFIG = """\
content_type_overrides:
  "*/*": application/octet-stream
  image/png: application/octet-stream
  application/dicom: application/octet-stream
  application/pdf: application/octet-stream
  text/plain: application/octet-stream
"""


def _run(*command: str | Path, cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


@pytest.fixture
def generated(world: World, tmp_path: Path, db_kind: DatabaseKind) -> Iterator[Path]:
    """The generated client, installed under ``tmp_path/site`` and importable."""
    if db_kind != "sqlite":
        pytest.skip("the generated client is tested in the SQLite run only")
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(world.http.get("/openapi.json").json()))
    config = tmp_path / "client.yml"
    config.write_text(CONFIG)
    said = _run(
        BIN / "openapi-python-client", "generate", "--path", spec, "--meta", "setup",
        "--config", config, cwd=tmp_path,
    )  # fmt: skip
    # every operation and every documented answer made it into the client
    assert "WARNING" not in said, said
    site = tmp_path / "site"
    _run(
        sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
        "--target", site, tmp_path / "crossvault-client", cwd=tmp_path,
    )  # fmt: skip
    sys.path.insert(0, str(site))
    try:
        yield site
    finally:
        sys.path.remove(str(site))
        for name in [m for m in sys.modules if m.split(".")[0] in ("crossvault_client",)]:
            del sys.modules[name]
        sys.modules.pop("tests.api.generated_walkthrough", None)


def test_the_generated_client_walks_the_cross_border_flow(world: World, generated: Path) -> None:
    assert (generated / "crossvault_client" / "models" / "token_form.py").is_file()
    walkthrough = importlib.import_module("tests.api.generated_walkthrough")
    base_url = str(world.http.base_url).rstrip("/")
    ha = walkthrough.Staff(
        *world.registry.client("ha"), world.registry.professional_id("ha", "doctor")
    )
    hku_sz = walkthrough.Staff(
        *world.registry.client("hku_sz"), world.registry.professional_id("hku_sz", "doctor")
    )
    walked = walkthrough.walk(base_url, (ha, hku_sz), PASSWORD)
    assert walked.own_records == 2
    assert walked.content == b"HbA1c 6.1%"
    assert [day for day, _ in walked.seen_by_doctor] == [date(2025, 6, 1)]
    assert walked.visible_since > date(2021, 1, 15)
    mainland = [(action, allowed) for kind, action, allowed in walked.logged if "mainland" in kind]
    assert mainland and all(allowed for _, allowed in mainland), walked.logged
    assert (walked.after_revocation.status, walked.after_revocation.code) == (404, "not_found")

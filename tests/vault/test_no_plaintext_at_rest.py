"""A byte scan of the SQLite files (WAL included) and the blob directory finds no plaintext."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.vault.conftest import NOW, lab_report, make_person
from vault.core.settings import Settings
from vault.crypto import aad
from vault.crypto.streams import StreamSealer
from vault.records.sealed import add_record
from vault.runtime.opening import Vault
from vault.store.engine import transaction

MARKER = b"ZQX-MARKER-7781-plaintext"


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_no_marker_in_database_or_blobs(vault: Vault, settings: Settings, db_kind: str) -> None:
    if db_kind != "sqlite":
        pytest.skip("scans the embedded SQLite files; PostgreSQL's files are the server's")
    pid = make_person(vault, "MARKER " + MARKER.decode())
    with transaction(vault.engine) as session:
        add_record(session, vault.keys, pid, lab_report(MARKER * 3), now=NOW)
        key = vault.keys.get(session, pid)
    sealer = StreamSealer(key.raw(), aad=aad.blob(pid, "r1", "image.dcm"))
    with vault.blobs.writing() as pending:
        pending.write(sealer.header)
        pending.write(sealer.update(MARKER * 100_000))
        pending.write(sealer.finalize())
        vault.blobs.commit(pending, pid, "r1-image")
    files = _files_under(settings.data_dir.parent)  # the database file and the data dir
    assert any(p.name.endswith("-wal") for p in files), "expected the WAL to be scanned"
    assert any("blobs" in p.parts for p in files)
    for path in files:
        data = path.read_bytes()
        assert MARKER not in data, f"plaintext found in {path}"
        assert MARKER[:12] not in data, f"plaintext prefix found in {path}"

"""Blobs are published atomically; a failed write leaves nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vault.store.blobs import BlobStore


def test_put_is_atomic_and_private(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    path = store.put("p1", "obj", b"sealed")
    assert path.read_bytes() == b"sealed"
    assert os.stat(path).st_mode & 0o077 == 0
    assert list(store.tmp.iterdir()) == []


def test_a_failed_write_leaves_no_object_and_no_temporary(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    with pytest.raises(RuntimeError), store.writing() as pending:
        pending.write(b"half")
        raise RuntimeError("connection dropped")
    assert list(store.tmp.iterdir()) == []
    assert not store.exists("p1", "obj")


def test_abandoned_temporaries_are_collected(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    (store.tmp / "abandoned.part").write_bytes(b"x")
    assert store.collect_temporaries(3600) == 0
    assert store.collect_temporaries(3600, now=10**10) == 1


def test_unsafe_names_are_refused(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    with pytest.raises(ValueError):
        store.put("../etc", "passwd", b"x")

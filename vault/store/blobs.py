"""Sealed large objects on the local filesystem, written atomically.

Layout under the blob root: ``tmp/`` for uploads in progress, ``objects/<person>/<name>``
for finished objects. A finished object appears only through ``rename`` after ``fsync``,
so a crash leaves either the whole object or nothing (plus a temporary that
:meth:`BlobStore.collect_temporaries` removes).

A finished object is published *before* the database row that names it is committed (and
removed only *after* the row's deletion is committed), so a crash between the two leaves
an object no row names: sealed, so it discloses nothing, but never read again.
:meth:`BlobStore.collect_orphans` removes such objects once they are older than a grace
period (longer than any publish-then-commit can take), so it never races a live writer.
Publishing stamps the object's mtime, so the grace period counts from the rename.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,120}$")


def _checked(name: str) -> str:
    if not _SAFE_NAME.fullmatch(name):
        raise ValueError(f"unsafe blob name component: {name!r}")
    return name


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PendingBlob:
    """A temporary file being written; :meth:`BlobStore.commit` publishes it."""

    def __init__(self, path: Path, handle: BinaryIO) -> None:
        self.path = path
        self.handle = handle
        self.size = 0

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.size += len(data)

    def discard(self) -> None:
        """Drop what was written (a refused or failed upload)."""
        self.handle.close()
        self.path.unlink(missing_ok=True)


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.objects = root / "objects"
        for directory in (root, self.tmp, self.objects):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def close(self) -> None:
        """Release what the store holds open (nothing, for local files)."""

    def path_of(self, person_id: str, name: str) -> Path:
        return self.objects / _checked(person_id) / _checked(name)

    def pending(self, person_id: str, name: str) -> PendingBlob:
        """A fresh temporary for the object ``person_id/name``, written by its holder and
        then published with :meth:`commit` (or dropped with :meth:`PendingBlob.discard`)."""
        _checked(person_id), _checked(name)
        path = self.tmp / f"{secrets.token_hex(16)}.part"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        return PendingBlob(path, os.fdopen(fd, "wb"))

    @contextmanager
    def writing(self) -> Iterator[PendingBlob]:
        """A temporary file; removed if the block raises and not committed."""
        path = self.tmp / f"{secrets.token_hex(16)}.part"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        pending = PendingBlob(path, os.fdopen(fd, "wb"))
        try:
            yield pending
        except BaseException:
            pending.handle.close()
            path.unlink(missing_ok=True)
            raise
        finally:
            pending.handle.close()

    def commit(self, pending: PendingBlob, person_id: str, name: str) -> Path:
        """fsync the temporary, rename it into place, fsync the directory."""
        if not pending.handle.closed:
            pending.handle.flush()
            os.fsync(pending.handle.fileno())
            pending.handle.close()
        else:
            with open(pending.path, "rb+") as handle:
                os.fsync(handle.fileno())
        target = self.path_of(person_id, name)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.utime(pending.path)  # the orphan grace period counts from publication
        os.replace(pending.path, target)
        _fsync_dir(target.parent)
        return target

    def put(self, person_id: str, name: str, data: bytes) -> Path:
        with self.writing() as pending:
            pending.write(data)
            pending.handle.flush()
            os.fsync(pending.handle.fileno())
            pending.handle.close()
            return self.commit(pending, person_id, name)

    def open(self, person_id: str, name: str) -> BinaryIO:
        return open(self.path_of(person_id, name), "rb")

    def size_of(self, person_id: str, name: str) -> int:
        """The sealed object's size; :class:`FileNotFoundError` if there is none."""
        return self.path_of(person_id, name).stat().st_size

    def exists(self, person_id: str, name: str) -> bool:
        return self.path_of(person_id, name).exists()

    def delete(self, person_id: str, name: str) -> None:
        self.path_of(person_id, name).unlink(missing_ok=True)

    def delete_person(self, person_id: str) -> None:
        """Remove every object of the person (crypto-shredding's second half)."""
        shutil.rmtree(self.objects / _checked(person_id), ignore_errors=True)

    def collect_temporaries(self, older_than_seconds: float, *, now: float | None = None) -> int:
        """Delete abandoned uploads; returns how many were removed."""
        cutoff = (time.time() if now is None else now) - older_than_seconds
        removed = 0
        for path in self.tmp.glob("*.part"):
            if _mtime(path) <= cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def collect_orphans(
        self,
        named: Callable[[str], Collection[str]],
        older_than_seconds: float,
        *,
        now: float | None = None,
    ) -> int:
        """Delete finished objects that no record names, once older than
        ``older_than_seconds``; returns how many were removed.

        ``named(person_id)`` gives the blob names the database holds for the person. It
        is asked after the candidates are listed, so a record committed meanwhile still
        saves its object (whose fresh mtime keeps it out of the candidates anyway).
        """
        cutoff = (time.time() if now is None else now) - older_than_seconds
        removed = 0
        for folder in sorted(self.objects.iterdir()):
            if not folder.is_dir() or not _SAFE_NAME.fullmatch(folder.name):
                continue
            try:
                stale = [p for p in folder.iterdir() if p.is_file() and _mtime(p) <= cutoff]
            except FileNotFoundError:  # the person was erased meanwhile
                continue
            if not stale:
                continue
            known = named(folder.name)
            for path in stale:
                if path.name not in known:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # removed meanwhile (an erasure): nothing to collect
        return float("inf")

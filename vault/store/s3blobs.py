"""Sealed large objects in S3-compatible object storage (``CROSSVAULT_BLOB_STORE=s3://...``).

The same contract as the local :class:`~vault.store.blobs.BlobStore` (which this extends:
resumable uploads still stage their sealed stream and tail in its local ``tmp/``):

* **Writing** streams: a file uploaded in one request is sealed straight into a *multipart
  upload* under its final key, one part (:data:`PART_SIZE`) buffered in memory at a time;
  the object exists only once :meth:`S3BlobStore.commit` completes the upload (atomic
  publication, as ``rename`` is locally). A refused file's upload is aborted; one that a
  crash left behind is aborted by :meth:`S3BlobStore.collect_temporaries` once older than
  the grace period (as local ``tmp/*.part`` files are). A resumable upload's staged
  file is copied up part by part when it completes.
* **Reading** streams with HTTP ``Range``: :class:`S3Reader` is a seekable file over one
  object, holding one ranged ``GET`` open and reopening it where a seek lands.
* Erasure deletes every object under the person's prefix (and aborts their uploads).

Only sealed bytes (the stream header, AES-GCM chunks) ever reach the bucket; object keys
are ``<prefix>/objects/<person id>/<record id>``, ids that are random and name nobody.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from vault.core.settings import ConfigurationError
from vault.store.blobs import BlobStore, PendingBlob, _checked

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PART_SIZE = 8 << 20  # bytes buffered before a part goes up (S3's minimum is 5 MiB)
_DELETE_BATCH = 1000  # S3's DeleteObjects limit


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/prefix``: where the objects live."""

    bucket: str
    prefix: str = ""

    def key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)


def connect(location: S3Location) -> S3Client:
    """A client for the bucket, after checking the bucket answers (``HeadBucket``: nothing
    is written). A one-line :class:`ConfigurationError` naming the setting otherwise."""
    config = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 2})
    try:
        client = boto3.client("s3", config=config)
    except (BotoCoreError, ValueError) as error:
        raise _refusal(location, f"no client ({type(error).__name__}; see AWS_REGION)") from None
    try:
        _check(client, location)
    except BaseException:
        client.close()
        raise
    return client


def _check(client: S3Client, location: S3Location) -> None:
    try:
        client.head_bucket(Bucket=location.bucket)
    except NoCredentialsError:
        raise _refusal(location, "no AWS credentials (AWS_ACCESS_KEY_ID, ...)") from None
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        reason = {404: "no such bucket", 403: "access denied"}.get(status or 0, f"HTTP {status}")
        raise _refusal(location, reason) from None
    except (BotoCoreError, ValueError) as error:
        reason = f"unreachable ({type(error).__name__}; see AWS_ENDPOINT_URL, AWS_REGION)"
        raise _refusal(location, reason) from None


def _refusal(location: S3Location, reason: str) -> ConfigurationError:
    return ConfigurationError(
        f"CROSSVAULT_BLOB_STORE: bucket {location.bucket!r} cannot be used: {reason}"
    )


@dataclass(frozen=True)
class Target:
    """Where a multipart upload goes: the object's key, and its *marker*, an empty object
    whose ``LastModified`` says when the upload began (``ListMultipartUploads``'s
    ``Initiated`` is not reliable across S3 implementations). The marker exists before
    the upload and goes after it, so a crash anywhere leaves a marker to collect by."""

    bucket: str
    key: str
    marker: str


class MultipartSink(io.RawIOBase):
    """A write-only stream into one multipart upload: parts of :data:`PART_SIZE` go up as
    they fill; :meth:`complete` publishes the object, :meth:`abort` drops every part."""

    def __init__(self, client: S3Client, target: Target, part_size: int) -> None:
        super().__init__()
        self._client, self._target = client, target
        self._bucket, self._key = target.bucket, target.key
        self._part_size = part_size
        self._buffer = bytearray()
        self._parts: list[dict[str, Any]] = []
        client.put_object(Bucket=target.bucket, Key=target.marker, Body=b"")
        started = client.create_multipart_upload(Bucket=target.bucket, Key=target.key)
        self.upload_id = started["UploadId"]

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        while view:
            room = self._part_size - len(self._buffer)
            self._buffer += view[:room]
            view = view[room:]
            if len(self._buffer) == self._part_size:
                full, self._buffer = self._buffer, bytearray()
                self._send(full)
        return len(memoryview(data).cast("B"))

    def _send(self, body: bytes | bytearray) -> None:
        number = len(self._parts) + 1
        answer = self._client.upload_part(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=cast(bytes, body),  # a bytearray is sent as is, uncopied
        )
        self._parts.append({"ETag": answer["ETag"], "PartNumber": number})

    def complete(self) -> None:
        if self._buffer or not self._parts:
            last, self._buffer = self._buffer, bytearray()
            self._send(last)
        self._client.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": cast(Any, self._parts)},
        )
        self.close()
        self._forget_marker()

    def _forget_marker(self) -> None:
        with suppress(ClientError, BotoCoreError):  # else collected with the stale ones
            self._client.delete_object(Bucket=self._bucket, Key=self._target.marker)

    def abort(self) -> None:
        self._buffer.clear()
        self.close()
        with suppress(ClientError, BotoCoreError):  # else left for collect_temporaries
            self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=self._key, UploadId=self.upload_id
            )
            self._forget_marker()


class S3Pending(PendingBlob):
    """A blob being sealed straight into a multipart upload under its final key."""

    def __init__(self, sink: MultipartSink, person_id: str, name: str) -> None:
        super().__init__(Path("/dev/null"), cast(BinaryIO, sink))
        self.sink = sink
        self.person_id, self.name = person_id, name

    def discard(self) -> None:
        self.sink.abort()


class S3Reader(io.RawIOBase):
    """A seekable read-only file over one object: one ranged GET held open, reopened at
    the position a seek lands on."""

    def __init__(self, client: S3Client, bucket: str, key: str, size: int) -> None:
        super().__init__()
        self._client, self._bucket, self._key, self._size = client, bucket, key, size
        self._position = 0
        self._body: Any = None
        self._body_at = -1

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self._size - self._position)
        if wanted <= 0:
            return 0
        if self._body is None or self._body_at != self._position:
            self._reopen()
        data = self._body.read(wanted)
        if not data:
            raise FileNotFoundError("the object ended early")
        buffer[: len(data)] = data
        self._position += len(data)
        self._body_at = self._position
        return len(data)

    def _reopen(self) -> None:
        self._drop()
        try:
            answer = self._client.get_object(
                Bucket=self._bucket, Key=self._key, Range=f"bytes={self._position}-"
            )
        except ClientError:
            raise FileNotFoundError("the object is gone") from None
        self._body, self._body_at = answer["Body"], self._position

    def _drop(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        self._drop()
        super().close()


class S3BlobStore(BlobStore):
    """Finished objects in a bucket; uploads in progress staged locally under ``root``."""

    def __init__(
        self, root: Path, location: S3Location, client: S3Client, *, part_size: int = PART_SIZE
    ) -> None:
        super().__init__(root)
        self.location, self.client, self.part_size = location, client, part_size

    def close(self) -> None:
        self.client.close()

    def object_key(self, person_id: str, name: str) -> str:
        return self.location.key("objects", _checked(person_id), _checked(name))

    def _target(self, person_id: str, name: str) -> Target:
        marker = self.location.key("uploads", _checked(person_id), _checked(name))
        return Target(self.location.bucket, self.object_key(person_id, name), marker)

    def pending(self, person_id: str, name: str) -> PendingBlob:
        sink = MultipartSink(self.client, self._target(person_id, name), self.part_size)
        return S3Pending(sink, person_id, name)

    def commit(self, pending: PendingBlob, person_id: str, name: str) -> Path:
        if isinstance(pending, S3Pending):
            if (pending.person_id, pending.name) != (person_id, name):
                pending.discard()
                raise ValueError("a multipart upload is committed under the key it started")
            pending.sink.complete()
            return Path(self.object_key(person_id, name))
        return self._copy_up(pending, person_id, name)

    def _copy_up(self, pending: PendingBlob, person_id: str, name: str) -> Path:
        """A locally staged temporary (a resumable upload) goes up part by part."""
        if not pending.handle.closed:
            pending.handle.close()
        sink = MultipartSink(self.client, self._target(person_id, name), self.part_size)
        try:
            with open(pending.path, "rb") as source:
                while part := source.read(self.part_size):
                    sink.write(part)
            sink.complete()
        except BaseException:
            sink.abort()
            raise
        pending.path.unlink(missing_ok=True)
        return Path(self.object_key(person_id, name))

    def put(self, person_id: str, name: str, data: bytes) -> Path:
        key = self.object_key(person_id, name)
        self.client.put_object(Bucket=self.location.bucket, Key=key, Body=data)
        return Path(key)

    def size_of(self, person_id: str, name: str) -> int:
        key = self.object_key(person_id, name)
        try:
            answer = self.client.head_object(Bucket=self.location.bucket, Key=key)
        except ClientError:
            raise FileNotFoundError("no such object") from None
        return int(answer["ContentLength"])

    def open(self, person_id: str, name: str) -> BinaryIO:
        size = self.size_of(person_id, name)
        reader = S3Reader(self.client, self.location.bucket, self.object_key(person_id, name), size)
        return cast(BinaryIO, io.BufferedReader(reader, buffer_size=1 << 20))

    def exists(self, person_id: str, name: str) -> bool:
        try:
            self.size_of(person_id, name)
        except FileNotFoundError:
            return False
        return True

    def delete(self, person_id: str, name: str) -> None:
        key = self.object_key(person_id, name)
        self.client.delete_object(Bucket=self.location.bucket, Key=key)

    def delete_person(self, person_id: str) -> None:
        """Every object of the person, and any upload still open under their prefix."""
        prefix = self.location.key("objects", _checked(person_id)) + "/"
        keys = [key for key, _ in self._objects(prefix)]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start : start + _DELETE_BATCH]]
            self.client.delete_objects(
                Bucket=self.location.bucket, Delete={"Objects": cast(Any, batch), "Quiet": True}
            )
        for key, upload_id in self._uploads(prefix):
            self._abort(key, upload_id)
        marker_prefix = self.location.key("uploads", _checked(person_id)) + "/"
        for marker, _ in self._objects(marker_prefix):
            self.client.delete_object(Bucket=self.location.bucket, Key=marker)

    def collect_temporaries(self, older_than_seconds: float, *, now: float | None = None) -> int:
        """Local staged temporaries, and multipart uploads whose marker is older than the
        cutoff (a crash or a lost connection left them): their parts are aborted."""
        removed = super().collect_temporaries(older_than_seconds, now=now)
        cutoff = _cutoff(older_than_seconds, now)
        markers = self.location.key("uploads") + "/"
        for marker, modified in list(self._objects(markers)):
            if modified.timestamp() > cutoff:
                continue
            key = self.location.key("objects", marker[len(markers) :])
            for upload_key, upload_id in self._uploads(key):
                if upload_key == key:
                    self._abort(upload_key, upload_id)
            self.client.delete_object(Bucket=self.location.bucket, Key=marker)
            removed += 1
        return removed

    def collect_orphans(
        self,
        named: Callable[[str], Collection[str]],
        older_than_seconds: float,
        *,
        now: float | None = None,
    ) -> int:
        cutoff = _cutoff(older_than_seconds, now)
        stale: dict[str, list[str]] = {}
        root = self.location.key("objects") + "/"
        for key, modified in self._objects(root):
            person_id, _, name = key[len(root) :].partition("/")
            if modified.timestamp() <= cutoff and name:
                stale.setdefault(person_id, []).append(name)
        removed = 0
        for person_id, names in sorted(stale.items()):
            known = named(person_id)
            for name in names:
                if name not in known:
                    self.delete(person_id, name)
                    removed += 1
        return removed

    def _objects(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        pages = self.client.get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self.location.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"], item["LastModified"]

    def _uploads(self, prefix: str) -> Iterator[tuple[str, str]]:
        pages = self.client.get_paginator("list_multipart_uploads")
        for page in pages.paginate(Bucket=self.location.bucket, Prefix=prefix):
            for item in page.get("Uploads", []):
                yield item["Key"], item["UploadId"]

    def _abort(self, key: str, upload_id: str) -> None:
        with suppress(ClientError):  # aborted meanwhile (another process's collection)
            self.client.abort_multipart_upload(
                Bucket=self.location.bucket, Key=key, UploadId=upload_id
            )


def _cutoff(older_than_seconds: float, now: float | None) -> float:
    return (time.time() if now is None else now) - older_than_seconds

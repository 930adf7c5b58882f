"""``multipart/related`` bodies (DICOMweb STOW-RS and WADO-RS), read as they stream in."""

from __future__ import annotations

from collections.abc import AsyncIterator

MAX_PART_HEADERS = 8 * 1024


class MultipartError(Exception):
    """The body is not the multipart message its Content-Type announces."""


class MultipartReader:
    """Reads the parts of a ``multipart/related`` body from an async byte stream,
    holding at most a few stream pieces (plus a boundary's length) in memory."""

    def __init__(self, stream: AsyncIterator[bytes], boundary: bytes) -> None:
        self._stream = stream
        self._delimiter = b"\r\n--" + boundary
        self._buffer = bytearray(b"\r\n")  # the first boundary may open the body
        self._in_part = False
        self._done = False

    async def next_part(self) -> dict[str, str] | None:
        """The next part's headers (lower-case names), or ``None`` after the last."""
        while self._in_part:
            await self.read()
        if self._done:
            return None
        start = await self._find(self._delimiter, limit=MAX_PART_HEADERS)
        del self._buffer[: start + len(self._delimiter)]
        await self._need(2)
        if self._buffer[:2] == b"--":
            self._done = True
            return None
        end = await self._find(b"\r\n\r\n", limit=MAX_PART_HEADERS)
        headers = _part_headers(bytes(self._buffer[:end]))
        del self._buffer[: end + 4]
        self._in_part = True
        return headers

    async def read(self) -> bytes | None:
        """The next piece of the current part's body; ``None`` at its end."""
        if not self._in_part:
            return None
        while True:
            found = self._buffer.find(self._delimiter)
            if found >= 0:
                piece = bytes(self._buffer[:found])
                del self._buffer[:found]  # the delimiter stays for next_part
                self._in_part = False
                return piece
            keep = len(self._delimiter) - 1
            if len(self._buffer) > keep:
                piece = bytes(self._buffer[:-keep])
                del self._buffer[:-keep]
                return piece
            await self._more()

    async def _find(self, needle: bytes, *, limit: int) -> int:
        while (found := self._buffer.find(needle)) < 0:
            if len(self._buffer) > limit:
                raise MultipartError("no boundary where one was expected")
            await self._more()
        return found

    async def _need(self, size: int) -> None:
        while len(self._buffer) < size:
            await self._more()

    async def _more(self) -> None:
        try:
            piece = await anext(self._stream)
        except StopAsyncIteration:
            raise MultipartError("the body ends inside the multipart message") from None
        self._buffer += piece


def _part_headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in raw.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip():
            headers[name.strip().lower()] = value.strip()
    return headers


def content_type_parameters(content_type: str) -> tuple[str, dict[str, str]]:
    media_type, *rest = content_type.split(";")
    parameters: dict[str, str] = {}
    for item in rest:
        name, _, value = item.partition("=")
        parameters[name.strip().lower()] = value.strip().strip('"')
    return media_type.strip().lower(), parameters

"""One write per answer (``api/transport.py``): a response's head is held until its body
and sent with it; interim heads are not held; an answer without a body still gets its
head. Over real uvicorn servers with both of crossvault's protocols, each answer must
reach the client whole, in order, on one keep-alive connection."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest
import uvicorn
from fastapi import FastAPI, Response
from fastapi.responses import StreamingResponse

from api.transport import NoDelayH11Protocol, NoDelayHttpToolsProtocol, OneWrite

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class Recording:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"extra:{name}"


def _one_write() -> tuple[OneWrite, Recording]:
    recording = Recording()
    return OneWrite(cast(asyncio.Transport, recording)), recording


def test_a_head_is_sent_with_its_body_in_one_write() -> None:
    wrapped, recording = _one_write()
    wrapped.write(HEAD)
    assert recording.writes == []
    wrapped.write(b"ok")
    wrapped.flush()
    assert recording.writes == [HEAD + b"ok"]


def test_a_head_without_a_body_is_sent_by_flush_or_close() -> None:
    wrapped, recording = _one_write()
    wrapped.write(HEAD)
    wrapped.flush()
    assert recording.writes == [HEAD]
    wrapped.write(HEAD)
    wrapped.close()
    assert recording.writes == [HEAD, HEAD] and recording.closed


def test_interim_heads_and_other_bytes_pass_at_once() -> None:
    wrapped, recording = _one_write()
    for data in (b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 101 Switching\r\n\r\n", b"body"):
        wrapped.write(data)
    wrapped.write(memoryview(b"view"))  # not bytes: never taken for a head
    assert recording.writes == [
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 101 Switching\r\n\r\n",
        b"body",
        b"view",
    ]
    assert wrapped.get_extra_info("socket") == "extra:socket"


def _app() -> FastAPI:
    app = FastAPI()

    @app.api_route("/json", methods=["GET", "HEAD"])
    def json_answer() -> dict[str, str]:
        return {"answer": "yes"}

    @app.get("/empty", status_code=204)
    def empty() -> Response:
        return Response(status_code=204)

    @app.get("/stream")
    def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for n in range(3):
                await asyncio.sleep(0.01)
                yield f"chunk{n};".encode()

        return StreamingResponse(chunks(), media_type="text/plain")

    return app


@contextmanager
def _serving(protocol: type[asyncio.Protocol]) -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config: dict[str, Any] = {"http": protocol, "log_level": "warning", "lifespan": "off"}
        server = uvicorn.Server(uvicorn.Config(_app(), **config))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            while not server.started:
                thread.join(0.05)
                assert thread.is_alive()
            yield port
        finally:
            server.should_exit = True
            thread.join(10)


def _answer(stream: socket.socket) -> bytes:
    """One whole answer off the connection: head, then its body by length or chunks."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += stream.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lower = head.lower()
    if b"content-length:" in lower:
        length = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
        while len(body) < length:
            body += stream.recv(65536)
    elif b"transfer-encoding: chunked" in lower:
        while not body.endswith(b"0\r\n\r\n"):
            body += stream.recv(65536)
    return head + b"\r\n\r\n" + body


@pytest.mark.parametrize("protocol", [NoDelayH11Protocol, NoDelayHttpToolsProtocol])
def test_answers_arrive_whole_on_one_keep_alive_connection(
    protocol: type[asyncio.Protocol],
) -> None:
    with _serving(protocol) as port, socket.create_connection(("127.0.0.1", port)) as client:
        client.settimeout(10)
        for method, path in [("GET", "/json"), ("HEAD", "/json"), ("GET", "/empty")] * 2 + [
            ("GET", "/stream"),
            ("GET", "/json"),
        ]:
            client.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            answer = _answer(client) if method == "GET" else _head_only(client)
            status = b"204" if path == "/empty" else b"200"
            assert answer.startswith(b"HTTP/1.1 " + status), answer
            if method == "GET" and path == "/json":
                assert answer.endswith(b'{"answer":"yes"}')
            if path == "/stream":
                assert b"chunk0;" in answer and b"chunk2;" in answer


def _head_only(stream: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += stream.recv(65536)
    assert data.endswith(b"\r\n\r\n"), data  # no body after a HEAD's head
    return data

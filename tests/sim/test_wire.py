"""The simulator's HTTP/1.1 connections against a real uvicorn server: bodies and queries
arrive as sent, a connection the server closed while it idled is replaced without
sending anything twice, and a server that is not there is one ``WireError``."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest
from fastapi import FastAPI, Request

from sim.server import free_port
from sim.simulation.wire import Connections, WireError, encoded
from tests.support.http import serving


def _echo_app(seen: list[str]) -> FastAPI:
    app = FastAPI()

    @app.api_route("/echo", methods=["GET", "POST"])
    async def echo(request: Request) -> dict[str, Any]:
        seen.append(request.method)
        return {
            "method": request.method,
            "query": dict(request.query_params),
            "type": request.headers.get("content-type"),
            "body": (await request.body()).decode(),
            "port": request.client.port if request.client else None,
        }

    return app


def _answer(connections: Connections, method: str, **how: Any) -> dict[str, Any]:
    reply = connections.request(method, "/echo", **how)
    assert reply.status == 200 and "json" in reply.content_type
    answer: dict[str, Any] = json.loads(reply.body)
    return answer


def test_json_forms_bytes_and_queries_arrive_as_sent() -> None:
    seen: list[str] = []
    with serving(_echo_app(seen)) as base:
        connections = Connections(base + "/")  # a trailing slash is no prefix
        try:
            body, kind = encoded(json_body={"name": "陳大文", "n": 1})
            got = _answer(connections, "POST", body=body, headers={"Content-Type": kind or ""})
            assert json.loads(got["body"]) == {"name": "陳大文", "n": 1}
            assert got["type"] == "application/json"
            body, kind = encoded(form={"grant_type": "password", "username": "a b&c"})
            got = _answer(connections, "POST", body=body, headers={"Content-Type": kind or ""})
            assert got["body"] == "grant_type=password&username=a+b%26c"
            assert encoded(content=b"\x00DICM") == (b"\x00DICM", None)
            got = _answer(connections, "GET", params={"limit": 50, "cursor": "a/b=="})
            assert got["query"] == {"limit": "50", "cursor": "a/b=="}
        finally:
            connections.close()
    assert seen == ["POST", "POST", "GET"]


def test_a_connection_closed_while_idle_is_replaced_and_nothing_is_sent_twice() -> None:
    seen: list[str] = []
    with serving(_echo_app(seen), keep_alive_seconds=1) as base:
        connections = Connections(base)
        try:
            _answer(connections, "POST", body=b"first")
            time.sleep(1.6)  # the server closes the idle connection after 1 s
            assert _answer(connections, "POST", body=b"second")["body"] == "second"
            other = threading.Thread(target=_answer, args=(connections, "GET"))
            other.start()  # another thread: a connection of its own
            other.join()
        finally:
            connections.close()
    assert seen == ["POST", "POST", "GET"]


def test_a_connection_is_reused_until_it_has_idled_too_long() -> None:
    """Within ``idle_seconds`` a thread's calls share one connection (one client port);
    after it, a new connection is opened before the server's keep-alive could end."""
    with serving(_echo_app([])) as base:
        connections = Connections(base, idle_seconds=0.3)
        try:
            ports = [_answer(connections, "GET")["port"] for _ in range(3)]
            time.sleep(0.5)
            ports.append(_answer(connections, "GET")["port"])
        finally:
            connections.close()
    assert ports[0] == ports[1] == ports[2] != ports[3]


def _slow_app(name: str) -> FastAPI:
    app = FastAPI()

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(0.5)  # long enough for all four calls to be in flight
        return {"server": name}

    return app


def test_calls_in_flight_together_are_spread_over_the_workers_ports() -> None:
    """With ``workers_at``, each call goes to the origin with the fewest calls in flight:
    four slow calls made together from four threads land two on each of two servers, and
    one thread's calls one after another all on the first."""
    answered: list[str] = []

    def ask(connections: Connections, start: threading.Barrier) -> None:
        start.wait()
        answered.append(json.loads(connections.request("GET", "/slow").body)["server"])

    with serving(_slow_app("a")) as a, serving(_slow_app("b")) as b:
        connections = Connections("http://unused.invalid", workers_at=[a, b])
        try:
            start = threading.Barrier(4)
            threads = [threading.Thread(target=ask, args=(connections, start)) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            alone = [json.loads(connections.request("GET", "/slow").body) for _ in range(2)]
        finally:
            connections.close()
    assert sorted(answered) == ["a", "a", "b", "b"]
    assert alone == [{"server": "a"}, {"server": "a"}]


def test_no_server_is_one_wire_error() -> None:
    connections = Connections(f"http://127.0.0.1:{free_port()}", timeout=5)
    with pytest.raises(WireError):
        connections.request("GET", "/echo")
    with pytest.raises(ValueError, match="not an http"):
        Connections("ftp://example.org")

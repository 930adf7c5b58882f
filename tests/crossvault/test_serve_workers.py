"""``crossvault serve --workers N`` spreads connections over its workers, each listening
on its own socket of the port (``api/workers.py``), replaces a worker that dies, and
refuses a port in use in one line.

With uvicorn's one shared socket, eight keep-alive connections opened together landed on
a single worker in most runs (the other idled); here sixteen are opened together and each
worker must hold some (with the kernel's hash, all sixteen on one of two workers has odds
of 2 in 65,536)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from api.workers import _Supervisor
from sim.server import ServerOptions, listening_sockets, running_server

CONNECTIONS = 16


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _server_side_inodes(server_port: int, client_ports: set[int]) -> set[str]:
    """The inodes of the server's ends of the connections from ``client_ports``."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(a.split(":")[1], 16) for a in fields[1:3])
        if local == server_port and remote in client_ports:
            inodes.add(fields[9])
    return inodes


def test_connections_opened_together_are_spread_over_the_workers(tmp_path: Path) -> None:
    with running_server(tmp_path / "data", ServerOptions(workers=2)) as served:
        port = int(served.base.rsplit(":", 1)[1])
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNECTIONS)]
        try:
            for client in clients:  # one answered request each: every connection accepted
                client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            for client in clients:
                assert client.recv(4096).startswith(b"HTTP/1.1 200")
            ours = _server_side_inodes(port, {c.getsockname()[1] for c in clients})
            holders = Counter(
                worker for worker in _children(served.pid) for _ in _socket_inodes(worker) & ours
            )
        finally:
            for client in clients:
                client.close()
    assert sum(holders.values()) == CONNECTIONS
    assert len(holders) == 2, f"connections per worker: {dict(holders)}"


def test_a_worker_that_dies_is_replaced(tmp_path: Path) -> None:
    with (
        running_server(tmp_path / "data", ServerOptions(workers=2)) as served,
        httpx.Client(base_url=served.base, timeout=10) as http,
    ):
        port = int(served.base.rsplit(":", 1)[1])
        before = set(_children(served.pid))
        os.kill(max(w for w in before if _socket_inodes(w)), signal.SIGKILL)
        deadline = time.monotonic() + 60
        replaced: set[int] = set()
        while not replaced and time.monotonic() < deadline:
            time.sleep(0.2)
            replaced = set(_children(served.pid)) - before
        assert replaced, "no new worker"
        while listening_sockets(port) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert listening_sockets(port) == 2
        assert all(http.get("/healthz").status_code == 200 for _ in range(20))


def test_a_port_in_use_is_refused_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "CROSSVAULT_DATA_DIR": str(tmp_path / "data")}
        done = subprocess.run(
            [sys.executable, "-m", "crossvault", "serve", "--workers", "2", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == f"crossvault: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert "Traceback" not in done.stderr


def test_a_worker_that_cannot_start_stops_the_server_instead_of_restarting() -> None:
    """An app factory that raises (not only uvicorn's own start-up failures) ends the
    server with uvicorn's status 3; without the rule the supervisor would restart it
    for ever."""
    start = (
        "from api.workers import run_workers; "
        "run_workers(2, host='127.0.0.1', port=0, app='tests.crossvault.failing_app:app',"
        " factory=True)"
    )
    done = subprocess.run(
        [sys.executable, "-c", start], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 3, done.stderr[-2000:]


def test_each_worker_also_listens_on_a_port_of_its_own(tmp_path: Path) -> None:
    """The simulator's deployment: each worker process answers on its own port too (the
    simulator spreads its calls over them itself), and no two ports share a worker."""
    options = ServerOptions(
        workers=2, module="sim.simulation.serving", simulated_clock=True, own_ports=True
    )
    with running_server(tmp_path / "data", options) as served:
        assert len(served.workers_at) == 2
        holders = []
        for base in served.workers_at:
            port = int(base.rsplit(":", 1)[1])
            with socket.create_connection(("127.0.0.1", port)) as client:
                client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                assert client.recv(4096).startswith(b"HTTP/1.1 200")
                ours = _server_side_inodes(port, {client.getsockname()[1]})
                holders += [w for w in _children(served.pid) if _socket_inodes(w) & ours]
    assert len(holders) == 2 and len(set(holders)) == 2, holders


def test_the_simulators_workers_are_forked_with_the_app_imported(tmp_path: Path) -> None:
    """A forked worker runs the parent's command line (a spawned one runs
    ``multiprocessing.spawn``'s) and has the app's modules from before the fork."""
    options = ServerOptions(
        workers=2, module="sim.simulation.serving", simulated_clock=True, own_ports=True
    )
    with running_server(tmp_path / "data", options) as served:
        parent = Path(f"/proc/{served.pid}/cmdline").read_bytes()
        workers = _children(served.pid)
        assert len(workers) == 2
        for worker in workers:
            assert Path(f"/proc/{worker}/cmdline").read_bytes() == parent
        assert all(httpx.get(f"{base}/healthz").status_code == 200 for base in served.workers_at)


def test_a_stop_signal_wakes_the_supervisor_at_once() -> None:
    """The signal's handler writes to the pipe the supervisor waits on: the wait ends
    then, not at its timeout (an hour here; the test would time out instead)."""
    supervisor = _Supervisor("127.0.0.1", 0, (), {})
    waiting = threading.Thread(target=supervisor._replace_the_dead, args=([], 3600.0), daemon=True)
    waiting.start()
    supervisor._stop_on(signal.SIGTERM, None)
    waiting.join(timeout=30)
    assert not waiting.is_alive()
    assert supervisor.status == 0
    os.close(supervisor._woken)  # run() closes them; this test never called it
    os.close(supervisor._wake)

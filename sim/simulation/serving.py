"""The server ``crossvault simulate`` starts for itself: the real app (``crossvault
serve``'s, with ``TCP_NODELAY``), with these choices of the simulator's deployment,
written down here because they are not production's:

* **cheaper argon2id** for the hashes it makes (:data:`SIM_TIME_COST`,
  :data:`SIM_MEMORY_KIB`): the simulated people register and log in tens of thousands of
  times (every simulated day moves the clock and ends every token), and at production
  cost (19 MiB, t=2) those checks were about a fifth of the server's time. The same code
  runs — register, hash, verify, the constant-work dummy for unknown accounts — only the
  parameters differ; a deployment never runs this module.
* **no access log line per request** (the ``crossvault.access`` logger at ``WARNING``,
  as uvicorn's own log is): tens of thousands of JSON lines nobody reads cost the server
  their formatting and the simulator their reading; warnings and errors still reach it.
* **httptools and uvloop** (uvicorn's C parser and event loop, as ``uvicorn[standard]``
  installs them) instead of h11 and asyncio's loop: the same ASGI app, less CPU a call.
* **the data directory in memory** (``/dev/shm`` where there is one): the database and
  its WAL live on tmpfs, so the group commit's fsync costs nothing. Durability is not
  what a throwaway simulation measures; every write still goes through SQLite, the audit
  chain and the notifications exactly as served.

With several worker processes (``--server-workers``, default 2) the simulated clock is a
:class:`SharedClock` and ``/metrics`` adds up every worker's counts. Each worker runs its
endpoints **on its event loop's thread** (:func:`run_endpoints_on_the_loop`), one at a
time, instead of on anyio's 40 threads: SQLite has one writer, and a writer whose process
also runs other requests' Python waits for the GIL while it holds the write turn, so every
other writer waits too; and a hop to a thread and back costs more than the work of many
calls. Two such processes (and six client threads) keep the turn short and the two cores
busy; a third costs more CPU a call than it adds (measured in ``docs/simulation.md``).

The workers are **forked** from the process that provisioned the data directory, after it
imported the app's modules (:data:`PRELOADED`): a spawned worker spent about two seconds
importing them again, each run, before it could answer.

Each worker also listens on a port of its own, and the simulator sends each call to the
worker with the fewest of its calls in flight (:class:`sim.simulation.wire.Connections`):
the kernel spreads a shared port's connections over the workers by a hash of their
addresses, so the simulator's seven keep-alive connections fell 4:3, 5:2 or 6:1 by chance,
and a worker answers one call at a time.

Run as ``python -m sim.simulation.serving PORT [WORKERS [OWN_PORT ...]]`` with the
environment of :func:`sim.server.running_server` (data dir, operator secret, policy,
simulated clock).
"""

from __future__ import annotations

import importlib
import logging
import mmap
import os
import struct
import sys
import tempfile
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sim.simulation.defaults import SERVER_WORKERS
from vault.core.clock import SimulatedClock

if TYPE_CHECKING:
    from fastapi import FastAPI

_T = TypeVar("_T")
APP = "sim.simulation.serving:app"
PRELOADED = ("api.app", "sim.simulation.serving")  # the app's modules, the factory's own

SIM_TIME_COST = 1
SIM_MEMORY_KIB = 1024  # 1 MiB, t=1: about 1 ms a hash instead of ~30 ms
ACCESS_LOGGER = "crossvault.access"  # api.observability's line per request
MEMORY_DIR = Path("/dev/shm")
CLOCK_FILE = "simulated-clock"
_OFFSET = struct.Struct("<q")  # the clock's offset from real time, in microseconds


def data_parent() -> Path | None:
    """Where the throwaway data dir goes: tmpfs if this machine has it, else the default."""
    return MEMORY_DIR if MEMORY_DIR.is_dir() else None


class SharedClock(SimulatedClock):
    """A simulated clock the server's worker processes share: its offset from real time
    lives in a small memory-mapped file of the data dir, so that the operator's
    ``POST /v1/admin/clock`` (answered by one worker) moves every worker's time."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        if not path.exists() or path.stat().st_size < _OFFSET.size:
            path.write_bytes(_OFFSET.pack(0))
        with path.open("r+b") as file:
            self._map = mmap.mmap(file.fileno(), _OFFSET.size)

    def _get(self) -> timedelta:
        return timedelta(microseconds=_OFFSET.unpack_from(self._map)[0])

    def _put(self, offset: timedelta) -> None:
        _OFFSET.pack_into(self._map, 0, offset // timedelta(microseconds=1))

    def now(self) -> datetime:
        return datetime.now(UTC) + self._get()

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("the simulated clock takes aware instants only")
        with self._lock:
            self._put(instant - datetime.now(UTC))

    def advance(self, by: timedelta) -> None:
        if by < timedelta(0):
            raise ValueError("the simulated clock only moves forward")
        with self._lock:  # (one worker answers a clock call at a time: the simulator's)
            self._put(self._get() + by)


def app() -> FastAPI:
    """One worker's app (a uvicorn factory): the real one, on the vault :func:`main`
    provisioned, with the cheaper argon2id cost and the shared clock."""
    from api.app import create_app
    from vault.core.settings import Settings
    from vault.crypto.passwords import use_cost
    from vault.runtime.opening import Vault

    use_cost(time_cost=SIM_TIME_COST, memory_kib=SIM_MEMORY_KIB)
    settings = Settings()
    vault = Vault.open(settings)
    vault.clock = SharedClock(settings.data_dir / CLOCK_FILE)
    served = create_app(settings, vault)
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.WARNING)  # no line per request
    run_endpoints_on_the_loop()
    return served


def run_endpoints_on_the_loop() -> None:
    """In this process, run what Starlette and FastAPI hand to a worker thread (every
    plain ``def`` endpoint and dependency, through ``anyio.to_thread.run_sync``) on the
    event loop's own thread instead, one at a time (:func:`on_the_loop`).

    A simulator's worker gains nothing from the hop but pays for it on every call: a
    wake-up of the thread, a GIL hand-over each way, a wake-up of the loop. At ``--scale
    0.03`` it saves about a tenth of the run (``docs/simulation.md``).
    """
    import anyio.to_thread

    anyio.to_thread.run_sync = on_the_loop


async def on_the_loop(
    func: Callable[..., _T],
    *args: object,
    abandon_on_cancel: bool = False,
    cancellable: bool | None = None,
    limiter: object = None,
) -> _T:
    """``anyio.to_thread.run_sync``'s signature; calls ``func(*args)`` right here."""
    return func(*args)


def main(argv: list[str]) -> None:
    """Provision the data dir once (schema, keyring), then serve ``app`` on port
    ``argv[0]`` with ``argv[1]`` worker processes (default :data:`SERVER_WORKERS`), each
    also on its own port of ``argv[2:]`` when given."""
    from vault.core.settings import Settings
    from vault.runtime.opening import Vault

    settings = Settings()
    Vault.open(settings).close()  # migrates and makes the keyring: not raced by workers
    metrics = tempfile.mkdtemp(prefix="metrics-", dir=settings.data_dir)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics  # every worker's counts in /metrics
    for module in PRELOADED:  # imported once here: each forked worker starts with them
        importlib.import_module(module)
    # Python 3.12+ warns of fork in a process with threads: the one here is numpy's
    # OpenBLAS pool (numpy comes with pydicom), which re-creates itself in a forked child.
    warnings.filterwarnings("ignore", r".*multi-threaded.*fork", DeprecationWarning)
    from api.transport import NoDelayHttpToolsProtocol
    from api.workers import run_workers

    run_workers(
        int(argv[1]) if len(argv) > 1 else SERVER_WORKERS,
        host="127.0.0.1",
        port=int(argv[0]),
        own_ports=[int(port) for port in argv[2:]],
        app=APP,
        factory=True,
        start="fork",
        access_log=False,
        server_header=False,
        http=NoDelayHttpToolsProtocol,
        loop="uvloop",
        log_level="warning",
    )


if __name__ == "__main__":  # pragma: no cover (run as a subprocess)
    main(sys.argv[1:])

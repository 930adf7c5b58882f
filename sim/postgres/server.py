"""A throw-away PostgreSQL server for the test suite and the benchmarks.

``running_postgres()`` initialises a fresh cluster in a temporary directory, starts
``postgres`` on a free loopback port, and yields a SQLAlchemy URL for a database named
``crossvault`` owned by the superuser ``crossvault`` (trust authentication, no password).
On exit the server is stopped and the directory removed. ``throwaway_cluster()`` yields
the server itself, which can also be restarted with the operating system's page cache
dropped (the volume benchmark measures each size cold).

Binaries are looked up in this order:

1. ``$CROSSVAULT_PG_BINDIR`` (a directory holding ``initdb`` and ``postgres``), if set;
2. ``initdb`` on ``PATH`` (symlinks resolved; ``postgres`` must sit beside it);
3. ``/usr/lib/postgresql/<version>/bin`` (Debian/Ubuntu), highest version first.

PostgreSQL refuses to run as root. When the tests run as root (as in CI), ``initdb`` and
``postgres`` run as the ``postgres`` system user (override: ``$CROSSVAULT_PG_OS_USER``),
and the temporary directory is handed over to that user.

Leak protection, from the common to the rare case:

* the context manager's ``finally`` (normal exit, exceptions, Ctrl-C in pytest);
* an ``atexit`` hook (interpreter shutdown without the ``finally`` having run);
* on Linux, ``PR_SET_PDEATHSIG``: if the Python process dies without running either
  (SIGKILL, SIGTERM with the default handler), the kernel sends the postmaster SIGQUIT
  (immediate shutdown). The temporary directory (``$TMPDIR/crossvault-pg-*``) is then left
  behind.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from sim.postgres.binaries import PostgresBinaries, PostgresHarnessError, find_postgres_binaries

__all__ = [
    "ADMIN_DATABASE",
    "SUPERUSER",
    "Cluster",
    "PostgresBinaries",
    "PostgresHarnessError",
    "find_postgres_binaries",
    "running_postgres",
    "throwaway_cluster",
]

SUPERUSER = "crossvault"
ADMIN_DATABASE = "crossvault"
HOST = "127.0.0.1"

STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 10.0
INITDB_TIMEOUT = 120.0
PORT_ATTEMPTS = 5
# sun_path is 108 bytes on Linux (104 on macOS); the socket file is ".s.PGSQL.NNNNN".
_MAX_SOCKET_DIR_LEN = 80

_SERVER_SETTINGS = {"listen_addresses": HOST, "max_connections": "200"}
# The test suite's server trades durability for speed; a benchmark of commits does not.
_FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}

_PORT_IN_USE = re.compile(r"Address already in use|could not create any TCP/IP sockets")


# --------------------------------------------------------------------------- OS user


@dataclass(frozen=True)
class _RunAs:
    """Who the server processes run as: ``None`` fields mean "the current user"."""

    name: str
    uid: int | None = None
    gid: int | None = None

    def popen_kwargs(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def chown(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)


def _server_os_user() -> _RunAs:
    if os.geteuid() != 0:
        return _RunAs(pwd.getpwuid(os.geteuid()).pw_name)
    name = os.environ.get("CROSSVAULT_PG_OS_USER", "postgres")
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise PostgresHarnessError(
            f"running as root, and PostgreSQL refuses to: the server must run as an "
            f"unprivileged user, but the user {name!r} does not exist "
            "(create it, set CROSSVAULT_PG_OS_USER, or run the tests as a normal user)"
        ) from None
    if entry.pw_uid == 0:
        raise PostgresHarnessError(f"CROSSVAULT_PG_OS_USER={name!r} is root")
    return _RunAs(name, entry.pw_uid, entry.pw_gid)


def _traversable_by_others(path: Path) -> bool:
    return all(os.stat(directory).st_mode & stat.S_IXOTH for directory in (path, *path.parents))


def _make_base_dir(run_as: _RunAs) -> Path:
    parent = Path(tempfile.gettempdir())
    if run_as.uid is not None and not _traversable_by_others(parent):
        # e.g. TMPDIR=/root/tmp: the postgres user could not reach its data directory.
        parent = Path("/tmp")
    base = Path(tempfile.mkdtemp(prefix="crossvault-pg-", dir=parent))
    run_as.chown(base)
    return base


# --------------------------------------------------------------------------- processes


def _parent_death_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` making the kernel SIGQUIT the child when this process dies."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    parent = os.getpid()

    def hook() -> None:  # runs in the child after fork, after setuid: keep it minimal
        prctl(pr_set_pdeathsig, int(signal.SIGQUIT), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGQUIT)

    # preexec_fn is only safe from the main thread; elsewhere, do without.
    return hook if threading.current_thread() is threading.main_thread() else None


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"  # English server messages: the log is parsed (port collisions)
    env.pop("LANGUAGE", None)
    return env


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<no server log: {exc}>"
    return "\n".join(text.splitlines()[-lines:]) or "<empty server log>"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL; always reaps."""
    for sig, timeout in (
        (signal.SIGINT, SHUTDOWN_TIMEOUT),
        (signal.SIGQUIT, 5.0),
        (signal.SIGKILL, None),
    ):
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            process.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            continue


def _drop_page_cache() -> bool:
    """``sync`` and ``echo 3 > /proc/sys/vm/drop_caches`` (Linux, as root); False if the
    platform does not allow it."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def _remove_tree(path: Path) -> None:
    # A just-killed process group may still be going away; retry briefly.
    for _attempt in range(20):
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return
        time.sleep(0.05)


class Cluster:
    """Owns the postmaster process and the temporary directory."""

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable  # fsync on and every commit flushed, as a deployment runs
        self.binaries = find_postgres_binaries()
        self.run_as = _server_os_user()
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.base = _make_base_dir(self.run_as)
        self.data_dir = self.base / "data"
        self.log_path = self.base / "server.log"
        self.socket_dir = self.base / "sock"
        self._cleaned = False
        atexit.register(self.cleanup)

    def _popen_kwargs(self) -> dict[str, Any]:
        return {
            "cwd": self.base,  # the server user may not be able to read our cwd
            "env": _child_env(),
            "preexec_fn": _parent_death_hook(),
            **self.run_as.popen_kwargs(),
        }

    def initdb(self) -> None:
        command = [
            str(self.binaries.initdb),
            "--pgdata",
            str(self.data_dir),
            "--auth=trust",
            "--username",
            SUPERUSER,
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
        if self.binaries.major >= 13:
            command.append("--no-instructions")
        # Own process group: initdb forks "postgres --boot/--single" children that keep
        # writing into the directory if only initdb is killed; on any interruption the
        # whole group is killed before the directory is removed.
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            process_group=0,
            **self._popen_kwargs(),
        )
        try:
            output, _ = process.communicate(timeout=INITDB_TIMEOUT)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
        if process.returncode != 0:
            raise PostgresHarnessError(
                f"initdb failed (exit {process.returncode}, as OS user {self.run_as.name}):\n"
                f"$ {' '.join(command)}\n{output.decode(errors='replace')}"
            )

    def start(self) -> None:
        self.socket_dir.mkdir(exist_ok=True)
        self.run_as.chown(self.socket_dir)
        socket_dir = str(self.socket_dir)
        if len(socket_dir) > _MAX_SOCKET_DIR_LEN:
            socket_dir = ""  # no Unix socket at all: we only use TCP
        for _attempt in range(PORT_ATTEMPTS):
            self.port = _free_port()
            if self._start_on(self.port, socket_dir):
                return
        raise PostgresHarnessError(
            f"postgres could not bind a free port after {PORT_ATTEMPTS} attempts; log tail:\n"
            + _tail(self.log_path)
        )

    def _start_on(self, port: int, socket_dir: str) -> bool:
        """Start and wait until ready; False if the port was taken meanwhile."""
        command = [str(self.binaries.postgres), "-D", str(self.data_dir), "-p", str(port)]
        command += ["-k", socket_dir]
        settings = _SERVER_SETTINGS if self.durable else {**_SERVER_SETTINGS, **_FAST_SETTINGS}
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0,  # Ctrl-C reaches pytest only; our teardown stops the server
                **self._popen_kwargs(),
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if _PORT_IN_USE.search(_tail(self.log_path, 10)):
                    self.process = None
                    return False
                raise PostgresHarnessError(
                    f"postgres exited during startup (exit {self.process.returncode}, as OS "
                    f"user {self.run_as.name}); log tail:\n{_tail(self.log_path)}"
                )
            if not self._postmaster_ready():
                # Not connecting before then: were the port taken by someone else, a
                # connection to it could hang for connect_timeout (at least 2 s in libpq).
                time.sleep(0.01)
                continue
            try:
                psycopg.connect(
                    host=HOST, port=port, user=SUPERUSER, dbname="postgres", connect_timeout=2
                ).close()
                return True
            except psycopg.OperationalError as exc:
                last_error = exc
                time.sleep(0.02)
        raise PostgresHarnessError(
            f"postgres did not accept connections on {HOST}:{port} within "
            f"{STARTUP_TIMEOUT:.0f} s (last error: {last_error}); log tail:\n"
            + _tail(self.log_path)
        )

    def restart(self) -> str:
        """Stop the server (a clean shutdown), drop the OS page cache where allowed, and
        start it again on a new port (see :attr:`url`). Says which caches were dropped."""
        assert self.process is not None
        _stop(self.process)
        self.process = None
        dropped = "PostgreSQL's shared buffers (restart)"
        if _drop_page_cache():
            dropped += " and the OS page cache"
        self.start()
        return dropped

    def _postmaster_ready(self) -> bool:
        """Whether postmaster.pid names our process and says "ready" (PostgreSQL 10+)."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except (OSError, UnicodeDecodeError):
            return False
        assert self.process is not None
        if not lines or lines[0].strip() != str(self.process.pid):
            return False
        if self.binaries.major < 10:  # no status line: let the connection attempts decide
            return True
        # The file is written in steps; line 8 (the status) says "ready" once accepting.
        return len(lines) >= 8 and lines[7].strip() == "ready"

    def create_admin_database(self) -> None:
        with psycopg.connect(
            host=HOST, port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(ADMIN_DATABASE)))

    @property
    def url(self) -> str:
        return URL.create(
            "postgresql+psycopg",
            username=SUPERUSER,
            host=HOST,
            port=self.port,
            database=ADMIN_DATABASE,
        ).render_as_string(hide_password=False)

    def cleanup(self) -> None:
        if self._cleaned:
            return
        self._cleaned = True
        atexit.unregister(self.cleanup)
        try:
            if self.process is not None:
                _stop(self.process)
        finally:
            _remove_tree(self.base)


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    """Run a throw-away server; yield the SQLAlchemy URL of its ``crossvault`` database."""
    with throwaway_cluster() as server:
        yield server.url


@contextlib.contextmanager
def throwaway_cluster(*, durable: bool = False) -> Iterator[Cluster]:
    """Run a throw-away server with its ``crossvault`` database; stop and remove it after.
    ``durable``: PostgreSQL's own defaults (fsync, synchronous commit, full-page writes)
    instead of the test suite's unsafe but fast ones."""
    server = Cluster(durable=durable)
    try:
        server.initdb()
        server.start()
        server.create_admin_database()
        yield server
    finally:
        server.cleanup()

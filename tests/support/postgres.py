"""A throw-away PostgreSQL server for the test suite.

``running_postgres()`` initialises a fresh cluster in a temporary directory, starts
``postgres`` on a free loopback port, and yields a SQLAlchemy URL for a database named
``crossvault`` owned by the superuser ``crossvault`` (trust authentication, no password).
On exit the server is stopped and the directory removed.

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
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

__all__ = [
    "ADMIN_DATABASE",
    "SUPERUSER",
    "PostgresBinaries",
    "PostgresHarnessError",
    "create_database",
    "drop_database",
    "find_postgres_binaries",
    "running_postgres",
]

SUPERUSER = "crossvault"
ADMIN_DATABASE = "crossvault"
HOST = "127.0.0.1"

DEBIAN_PG_ROOT = Path("/usr/lib/postgresql")
STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 10.0
INITDB_TIMEOUT = 120.0
PORT_ATTEMPTS = 5
# sun_path is 108 bytes on Linux (104 on macOS); the socket file is ".s.PGSQL.NNNNN".
_MAX_SOCKET_DIR_LEN = 80

_SERVER_SETTINGS = {
    "listen_addresses": HOST,
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}

_PORT_IN_USE = re.compile(r"Address already in use|could not create any TCP/IP sockets")


class PostgresHarnessError(RuntimeError):
    """The throw-away PostgreSQL server could not be found, started or used."""


# --------------------------------------------------------------------------- binaries


@dataclass(frozen=True)
class PostgresBinaries:
    bindir: Path
    version: tuple[int, ...]  # e.g. (15, 18)

    @property
    def initdb(self) -> Path:
        return self.bindir / "initdb"

    @property
    def postgres(self) -> Path:
        return self.bindir / "postgres"

    @property
    def major(self) -> int:
        return self.version[0]


def _has_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in ("initdb", "postgres"))


def _version_key(name: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in name.split("."))
    except ValueError:
        return ()


def _probe_version(postgres: Path) -> tuple[int, ...]:
    result = subprocess.run(
        [str(postgres), "--version"], capture_output=True, text=True, check=False, timeout=30
    )
    # "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)", "postgres (PostgreSQL) 17beta1"
    match = re.search(r"\)\s*(\d+)(?:\.(\d+))?", result.stdout)
    if result.returncode != 0 or match is None:
        raise PostgresHarnessError(
            f"could not determine the version of {postgres}: {result.stdout}{result.stderr}"
        )
    return tuple(int(group) for group in match.groups() if group is not None)


def find_postgres_binaries() -> PostgresBinaries:
    """Locate a directory holding matching ``initdb`` and ``postgres`` executables."""
    candidates: list[Path] = []
    override = os.environ.get("CROSSVAULT_PG_BINDIR")
    if override:
        if not _has_binaries(Path(override)):
            raise PostgresHarnessError(
                f"CROSSVAULT_PG_BINDIR={override} does not contain executable "
                "'initdb' and 'postgres'"
            )
        candidates.append(Path(override))
    on_path = shutil.which("initdb")
    if on_path is not None:
        # initdb runs the postgres binary of its own (real) directory, so keep them together.
        candidates.append(Path(on_path).resolve().parent)
    if DEBIAN_PG_ROOT.is_dir():
        versions = sorted(
            (p for p in DEBIAN_PG_ROOT.iterdir() if _version_key(p.name)),
            key=lambda p: _version_key(p.name),
            reverse=True,
        )
        candidates.extend(p / "bin" for p in versions)
    for bindir in candidates:
        if _has_binaries(bindir):
            return PostgresBinaries(bindir, _probe_version(bindir / "postgres"))
    raise PostgresHarnessError(
        "PostgreSQL server binaries not found: need 'initdb' and 'postgres' in the same "
        f"directory, looked at $CROSSVAULT_PG_BINDIR, PATH and {DEBIAN_PG_ROOT}/*/bin "
        f"(checked: {', '.join(map(str, candidates)) or 'nothing'}). "
        "Install them (Debian: apt-get install postgresql-15) or run with --db=sqlite."
    )


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


def _remove_tree(path: Path) -> None:
    # A just-killed process group may still be going away; retry briefly.
    for _attempt in range(20):
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return
        time.sleep(0.05)


class _Server:
    """Owns the postmaster process and the temporary directory."""

    def __init__(self) -> None:
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
        self.socket_dir.mkdir()
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
        for name, value in _SERVER_SETTINGS.items():
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
    server = _Server()
    try:
        server.initdb()
        server.start()
        server.create_admin_database()
        yield server.url
    finally:
        server.cleanup()


# --------------------------------------------------------------------------- databases


def _connect_admin(admin_url: str) -> psycopg.Connection[Any]:
    url = make_url(admin_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    return psycopg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=url.database,
        autocommit=True,
    )


def create_database(admin_url: str, name: str, *, template: str | None = None) -> str:
    """Create database ``name`` on ``admin_url``'s server — empty, or a copy of
    ``template`` (which must have no open connections) — and return its URL."""
    with _connect_admin(admin_url) as conn:
        if template is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        else:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    """Drop ``name`` if it exists, terminating any connection still open to it."""
    with _connect_admin(admin_url) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextlib.contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A fresh, empty database ``t_<prefix>_<random>`` on ``admin_url``'s server, for
    fixtures that outlive one test; dropped afterwards."""
    name = f"t_{prefix}_{uuid.uuid4().hex[:12]}"
    url = create_database(admin_url, name)
    try:
        yield url
    finally:
        drop_database(admin_url, name)

"""Starting ``crossvault`` processes quickly, many times over: a *zygote*.

The crash tests start a server, SIGKILL it, and start it again, dozens of times. A fresh
``python -m crossvault serve`` spends about two seconds importing FastAPI, SQLAlchemy,
pydicom and the rest before it serves anything. The zygote pays that once: it is a Python
process (``python -m tests.security.support_zygote``) that imports crossvault, then forks
one child per command. Each child is a real, separate ``crossvault`` process — its own
environment, stdout/stderr in a log file, run through :func:`crossvault.cli.main` exactly
as the ``crossvault`` script runs it — and is killed with a real ``SIGKILL``.

Set ``CROSSVAULT_CRASH_EXEC=1`` to start every process with a plain
``python -m crossvault ...`` instead (slower; same behaviour expected).

Protocol (one JSON object per line, on the zygote's stdin/stdout):

* ``{"op": "spawn", "argv": [...], "env": {...}, "log": "/path"}`` → ``{"pid": N}``
* ``{"op": "wait", "pid": N, "timeout": S}`` → ``{"status": code}``; ``code`` is the
  exit code, ``-signal`` if killed, ``null`` if still running after ``S`` seconds.

When its stdin closes (the test process ended, however), the zygote SIGKILLs and reaps
every child still running, then exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn

REPO = Path(__file__).resolve().parents[2]
EXEC_ENV = "CROSSVAULT_CRASH_EXEC"
# Never inherited by the zygote: each child gets exactly the environment it is given.
_SCRUBBED_PREFIXES = ("CROSSVAULT_", "DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR")


def clean_environment() -> dict[str, str]:
    """The test process's environment without crossvault's own settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}


# --- the zygote itself (runs in its own process) ---------------------------------------------


def _preload() -> None:
    import uvicorn.lifespan.on
    import uvicorn.loops.auto
    import uvicorn.protocols.http.auto
    import uvicorn.protocols.websockets.auto  # noqa: F401

    import api.app  # noqa: F401
    import crossvault.cli  # noqa: F401

    _warm_up()


def _warm_up() -> None:
    """Build an app once over a throw-away embedded installation, so the children start
    with SQLAlchemy's and pydantic's caches already filled. Leaves no thread, connection
    or file behind (children must not share any)."""
    import shutil
    import tempfile

    from api.app import create_app
    from vault.core.settings import Settings

    scratch = tempfile.mkdtemp(prefix="crossvault-zygote-")
    try:
        settings = Settings(data_dir=Path(scratch), operator_secret="zygote-warm-up-9f8e7d6c5b4a")
        app = create_app(settings)
        app.state.services.vault.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _child(argv: list[str], env: dict[str, str], log: str) -> NoReturn:
    code = 1
    try:
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        for name in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            signal.signal(name, signal.SIG_DFL)
        os.environ.clear()
        os.environ.update(env)
        sys.argv = ["crossvault", *argv]
        from crossvault.cli import main

        main()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
    os._exit(code)


def _status(raw: int) -> int:
    return -os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else os.WEXITSTATUS(raw)


def _serve() -> None:
    _preload()
    children: dict[int, int | None] = {}
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command: dict[str, Any] = json.loads(line)
        reply: dict[str, Any]
        if command["op"] == "spawn":
            reply = _spawn(command, children)
        elif command["op"] == "wait":
            reply = {"status": _wait(int(command["pid"]), float(command["timeout"]), children)}
        else:
            reply = {"error": f"unknown op {command['op']!r}"}
        print(json.dumps(reply), flush=True)
    _kill_left(children)


def _spawn(command: dict[str, Any], children: dict[int, int | None]) -> dict[str, Any]:
    pid = os.fork()
    if pid == 0:
        _child(command["argv"], command["env"], command["log"])
    children[pid] = None
    return {"pid": pid}


def _wait(pid: int, timeout: float, children: dict[int, int | None]) -> int | None:
    deadline = time.monotonic() + timeout
    while children.get(pid) is None:
        done, raw = os.waitpid(pid, os.WNOHANG)
        if done:
            children[pid] = _status(raw)
        elif time.monotonic() >= deadline:
            break
        else:
            time.sleep(0.005)
    return children.get(pid)


def _kill_left(children: dict[int, int | None]) -> None:
    for pid, status in children.items():
        if status is None:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


# --- the client side (runs in the test process) ----------------------------------------------


@dataclass
class Launcher:
    """Starts ``crossvault`` processes (through the zygote, or plainly with exec)."""

    use_exec: bool = field(default_factory=lambda: os.environ.get(EXEC_ENV) == "1")
    _zygote: subprocess.Popen[str] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _popen: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __enter__(self) -> Launcher:
        if not self.use_exec:
            self._zygote = subprocess.Popen(
                [sys.executable, "-m", "tests.security.support_zygote"],
                cwd=REPO,
                env=clean_environment(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            hello = self._read()
            if not hello.get("ready"):
                raise RuntimeError(f"the zygote did not start: {hello}")
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self._popen.values():
            if process.poll() is None:
                process.kill()
            process.wait()
        if self._zygote is not None:
            assert self._zygote.stdin is not None and self._zygote.stdout is not None
            self._zygote.stdin.close()
            self._zygote.wait(timeout=30)
            self._zygote.stdout.close()

    def spawn(self, argv: list[str], env: dict[str, str], log: Path) -> int:
        """Start ``crossvault ARGV`` with exactly ``env``; stdout and stderr go to ``log``."""
        if self.use_exec:
            with open(log, "ab") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "crossvault", *argv],
                    cwd=REPO,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            self._popen[process.pid] = process
            return process.pid
        reply = self._ask({"op": "spawn", "argv": argv, "env": env, "log": str(log)})
        return int(reply["pid"])

    def wait(self, pid: int, timeout: float) -> int | None:
        """The process's exit status (``-signal`` if killed); None if still running."""
        if self.use_exec:
            try:
                return self._popen[pid].wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return None
        status = self._ask({"op": "wait", "pid": pid, "timeout": timeout})["status"]
        return None if status is None else int(status)

    def kill(self, pid: int) -> int:
        """SIGKILL the process and reap it; its exit status."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        status = self.wait(pid, 30)
        if status is None:
            raise RuntimeError(f"process {pid} survived SIGKILL")
        return status

    def _ask(self, command: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            assert self._zygote is not None and self._zygote.stdin is not None
            self._zygote.stdin.write(json.dumps(command) + "\n")
            self._zygote.stdin.flush()
            return self._read()

    def _read(self) -> dict[str, Any]:
        assert self._zygote is not None
        stdout: IO[str] | None = self._zygote.stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            raise RuntimeError("the zygote exited")
        reply: dict[str, Any] = json.loads(line)
        return reply


if __name__ == "__main__":
    _serve()

"""On SQLite, a writer keeps its turn (the in-process lock and the ``flock`` of
``<database>-writer`` that the server's processes share) until its ``COMMIT`` has run:
given back earlier, the next writer's ``BEGIN IMMEDIATE`` met the ``COMMIT`` still under
way and slept in SQLite's busy handler while it held the turn."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from vault.store.engine import make_engine, transaction


def _turn_is_free(lock_path: Path) -> bool:
    fd = os.open(lock_path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # (closing gives a lock taken here back)
    return True


def test_the_turn_is_held_while_the_commit_runs_and_free_after(tmp_path: Path) -> None:
    database = tmp_path / "x.db"
    engine = make_engine(f"sqlite:///{database}")
    lock_path = Path(f"{database}-writer")
    seen: dict[str, bool] = {}

    @event.listens_for(engine, "connect")
    def _trace(dbapi_connection: Any, _record: Any) -> None:
        def traced(statement: str) -> None:
            if statement.strip().upper() in ("COMMIT", "ROLLBACK"):
                seen[statement.strip().upper()] = _turn_is_free(lock_path)

        dbapi_connection.set_trace_callback(traced)

    try:
        with transaction(engine) as session:
            session.execute(text("CREATE TABLE t (a INTEGER)"))
        assert seen == {"COMMIT": False}  # still this writer's while COMMIT ran
        assert _turn_is_free(lock_path)
        try:
            with transaction(engine) as session:
                session.execute(text("INSERT INTO t VALUES (1)"))
                raise LookupError("rolled back")
        except LookupError:
            pass
        assert seen["ROLLBACK"] is False and _turn_is_free(lock_path)
    finally:
        engine.dispose()

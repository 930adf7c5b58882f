"""Statements of the per-request hot path, compiled once and run on the driver's cursor.

Every decision runs the same dozen statements (lock the audit head, load the person's
facts, append the entry, notify, read the data key, list a page). Through SQLAlchemy's
execution machinery each one costs 30 to 100 µs of Python before SQLite's few µs of work,
which made the statements, not the work, most of a request. A :class:`Prepared`
statement is the same Core statement, compiled once per dialect, whose parameters and
rows still pass through the column types' own processors (dates on SQLite, aware UTC
instants everywhere), executed on the DBAPI cursor of the session's connection, so it
joins the session's transaction (``BEGIN IMMEDIATE`` on SQLite, the row lock on
PostgreSQL) exactly as ``session.execute`` would.

A statement is fixed once compiled. One whose shape changes with its arguments either
gets one :class:`Prepared` per shape (the record page: :func:`vault.records.sealed.list_visible`)
or is built per call and keeps ``session.execute``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect, LargeBinary, Select, case, func, select
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlmodel import Session

Processor = Callable[[Any], Any]
Row = tuple[Any, ...]


@dataclass(frozen=True)
class _Compiled:
    compiled: SQLCompiler
    sql: str
    order: tuple[str, ...] | None  # positional drivers (sqlite3): the parameters' order
    binders: Mapping[str, Processor]
    readers: tuple[tuple[int, Processor], ...]  # (column, its processor), where it has one

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        bound = self.compiled.construct_params(dict(values))
        for name, process in self.binders.items():
            bound[name] = process(bound[name])
        if self.order is None:
            return bound
        return [bound[name] for name in self.order]

    def row(self, raw: Sequence[Any]) -> Row:
        if not self.readers:
            return tuple(raw)
        values = list(raw)
        for column, read in self.readers:
            values[column] = read(values[column])
        return tuple(values)


class Prepared:
    """One fixed Core statement (``SELECT``, ``INSERT`` or ``UPDATE``), compiled once per
    dialect and per set of parameter names."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, frozenset[str]], _Compiled] = {}
        self._lock = threading.Lock()

    def all(self, session: Session, values: Mapping[str, Any] | None = None) -> list[Row]:
        compiled, cursor = self._execute(session, values or {})
        try:
            return [compiled.row(raw) for raw in cursor.fetchall()]
        finally:
            cursor.close()

    def first(self, session: Session, values: Mapping[str, Any] | None = None) -> Row | None:
        rows = self.all(session, values)
        return rows[0] if rows else None

    def run(self, session: Session, values: Mapping[str, Any]) -> int:
        """Execute a write; the number of rows it touched."""
        _, cursor = self._execute(session, values)
        try:
            count: int = cursor.rowcount
            return count
        finally:
            cursor.close()

    def _execute(self, session: Session, values: Mapping[str, Any]) -> tuple[_Compiled, Any]:
        connection = session.connection()  # begins the session's transaction if need be
        compiled = self._for(connection.dialect, values)
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(compiled.sql, compiled.parameters(values))
        except BaseException:
            cursor.close()
            raise
        return compiled, cursor

    def _for(self, dialect: Dialect, values: Mapping[str, Any]) -> _Compiled:
        key = (dialect.name, frozenset(values))
        found = self._compiled.get(key)
        if found is None:
            with self._lock:
                found = self._compiled.get(key) or _compile(self.statement, dialect, values)
                self._compiled[key] = found
        return found


def _compile(statement: Executable, dialect: Dialect, values: Mapping[str, Any]) -> _Compiled:
    compiled = statement.compile(dialect=dialect, column_keys=sorted(values))  # type: ignore[attr-defined]
    assert isinstance(compiled, SQLCompiler)
    if compiled.literal_execute_params or compiled.post_compile_params:
        raise ValueError("a prepared statement needs fixed parameters (no expanding IN)")
    binders: dict[str, Processor] = {}
    for name, bind in compiled.binds.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            binders[name] = process
    columns = getattr(statement, "selected_columns", ())
    processors = (c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
    readers = tuple((i, read) for i, read in enumerate(processors) if read is not None)
    order = tuple(compiled.positiontup or ()) if compiled.positional else None
    return _Compiled(compiled, compiled.string, order, binders, readers)


class PreparedPage(Prepared):
    """A :class:`Prepared` ``SELECT`` of many rows (a page of records) that SQLite answers
    in one step: the rows as one JSON array (``json_group_array``; blobs as hex), decoded
    here and passed through the same column processors. The driver lets go of the GIL
    for every step, and among eight busy threads each step's hand-over cost more than
    the row: fifty rows were fifty hand-overs. Other dialects fetch the rows as usual
    (psycopg fetches a result in one call). The order of the rows is not promised by
    the aggregate: callers that need one sort what they get."""

    def __init__(self, statement: Select) -> None:  # type: ignore[type-arg]
        super().__init__(statement)
        inner = statement.subquery()
        binary = [isinstance(c.type, LargeBinary) for c in inner.c]
        values = [
            case((c.is_(None), None), else_=func.hex(c)) if is_blob else c
            for c, is_blob in zip(inner.c, binary, strict=True)
        ]
        self._blobs = tuple(i for i, is_blob in enumerate(binary) if is_blob)
        self._in_one_step = Prepared(select(func.json_group_array(func.json_array(*values))))

    def all(self, session: Session, values: Mapping[str, Any] | None = None) -> list[Row]:
        dialect = session.connection().dialect
        if dialect.name != "sqlite":
            return super().all(session, values)
        found = self._in_one_step.first(session, values)
        assert found is not None  # an aggregate answers one row, ``[]`` for no rows
        compiled = self._for(dialect, values or {})
        return [compiled.row(self._unhexed(raw)) for raw in json.loads(found[0])]

    def _unhexed(self, raw: list[Any]) -> list[Any]:
        for i in self._blobs:
            if raw[i] is not None:
                raw[i] = bytes.fromhex(raw[i])
        return raw

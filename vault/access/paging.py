"""Opaque keyset cursors for every list (records, access log, notifications).

A cursor is the base64url (unpadded) of a JSON list naming where the previous page
ended. :func:`decode` is the one way back: whatever string a client sends, it either
returns parts every query can bind (an integer that fits a 64-bit column, an aware instant
inside the calendar, a date, an id that fits its column) or raises :class:`InvalidCursor`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Literal

from vault.core.errors import VaultError

Part = Literal["seq", "instant", "date", "id"]
MAX_SEQ = 2**63 - 1
MAX_PAGE = 200  # the longest page any list answers
MAX_ID_LENGTH = 80
MAX_CURSOR_LENGTH = 400


class InvalidCursor(VaultError):
    """A ``cursor`` that is not a ``next_cursor`` this server gave out."""

    code = "invalid_cursor"

    def __init__(self) -> None:
        super().__init__("malformed cursor")


def encode(*parts: str | int) -> str:
    raw = json.dumps(list(parts)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, *shape: Part) -> tuple[int | datetime | date | str, ...]:
    """The parts of ``cursor``, one per entry of ``shape``; :class:`InvalidCursor` for
    anything else."""
    values = _values(cursor)
    if len(values) != len(shape):
        raise InvalidCursor()
    return tuple(_PARSERS[kind](value) for kind, value in zip(shape, values, strict=True))


def _values(cursor: str) -> list[object]:
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor()
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError, RecursionError):
        raise InvalidCursor() from None
    if not isinstance(values, list):
        raise InvalidCursor()
    return values


def _seq(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SEQ:
        raise InvalidCursor()
    return value


def _instant(value: object) -> datetime:
    try:
        at = datetime.fromisoformat(_text(value))
        if at.tzinfo is None:
            raise InvalidCursor()
        return at.astimezone(UTC)  # refuses instants outside the calendar once in UTC
    except (ValueError, OverflowError):
        raise InvalidCursor() from None


def _date(value: object) -> date:
    try:
        return date.fromisoformat(_text(value))
    except ValueError:
        raise InvalidCursor() from None


def _text(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise InvalidCursor()
    return value


_PARSERS: dict[Part, Callable[[object], int | datetime | date | str]] = {
    "seq": _seq,
    "instant": _instant,
    "date": _date,
    "id": _text,
}


# Typed views of :func:`decode` for the three lists (``None``: the first page).


def seq(cursor: str | None) -> int | None:
    """The audit ``seq`` an access-log cursor continues before."""
    if cursor is None:
        return None
    (value,) = decode(cursor, "seq")
    assert isinstance(value, int)
    return value


def instant_and_id(cursor: str | None) -> tuple[datetime, str] | None:
    """The ``(at, id)`` a notifications cursor continues before."""
    if cursor is None:
        return None
    at, ident = decode(cursor, "instant", "id")
    assert isinstance(at, datetime) and isinstance(ident, str)
    return at, ident


def date_and_id(cursor: str | None) -> tuple[date, str] | None:
    """The ``(clinical_date, id)`` a record-list cursor continues before."""
    if cursor is None:
        return None
    day, ident = decode(cursor, "date", "id")
    assert isinstance(day, date) and isinstance(ident, str)
    return day, ident

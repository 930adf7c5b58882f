"""How the demo prints ids, codes, times and access-log entries: short, masked, and in
Hong Kong time."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

HONG_KONG = timezone(timedelta(hours=8))

_LONG_ID = re.compile(r"[0-9a-f]{16,}")


def short(identifier: str) -> str:
    """An id as printed: its first eight characters."""
    return identifier[:8] + "…" if len(identifier) > 12 else identifier


def shown_path(path: str) -> str:
    """A request path as printed: every long id in it cut short."""
    return _LONG_ID.sub(lambda m: short(m.group()), path)


def masked(code: str) -> str:
    """A code as printed: its prefix only (``CB-7KQ2-…`` becomes ``CB-••••``)."""
    return code.split("-", 1)[0] + "-••••"


def hk_time(instant: str, *, clock_only: bool = False) -> str:
    """An API timestamp (ISO 8601, UTC) as Hong Kong local time, for people."""
    local = datetime.fromisoformat(instant).astimezone(HONG_KONG)
    return local.strftime("%H:%M:%S" if clock_only else "%Y-%m-%d %H:%M HKT")


def today_in_hong_kong() -> date:
    return datetime.now(HONG_KONG).date()


def log_line(entry: dict[str, Any]) -> str:
    """One access-log entry as the person reads it."""
    who = "the person" if entry["actor_kind"] == "citizen" else entry["institution_id"]
    verdict = "allowed" if entry["allowed"] else "refused"
    return (
        f"{hk_time(entry['at'], clock_only=True)}  {who}: {entry['action']} — "
        f"{verdict} ({entry['reason']})"
    )

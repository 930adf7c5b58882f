"""Hong Kong calendar dates and whole-year shifts.

Every date rule (designation, lookback, timeline, age) is judged on the Hong Kong calendar
date of the access instant. Hong Kong time is UTC+8 all year (no daylight saving), so a
fixed offset is exact and needs no time-zone database.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import TypeVar

HONG_KONG = timezone(timedelta(hours=8), "HKT")

D = TypeVar("D", bound=date)


def require_aware(instant: datetime, what: str = "now") -> None:
    """Raise ``ValueError`` for a naive datetime: an instant without a zone is a bug."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {instant.isoformat()}")


def hk_date(instant: datetime) -> date:
    """The Hong Kong calendar date of an aware instant."""
    require_aware(instant, "instant")
    return instant.astimezone(HONG_KONG).date()


def shift_years(day: D, years: int) -> D:
    """The same month and day ``years`` later (or earlier); 29 Feb becomes 28 Feb when the
    target year is not a leap year. Works on dates and on datetimes (time kept)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 Feb into a common year
        return day.replace(year=day.year + years, day=28)


def age_on(date_of_birth: date, day: date) -> int:
    """Age in whole years on ``day``. Someone born on 29 Feb has a birthday on 28 Feb in
    common years (consistent with :func:`shift_years`)."""
    age = day.year - date_of_birth.year
    return age if shift_years(date_of_birth, age) <= day else age - 1

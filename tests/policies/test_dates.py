"""Hong Kong dates and whole-year shifts."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import age_on, hk_date, shift_years
from tests.policies import plain_model
from tests.policies.builders import instants, utc


def test_hong_kong_midnight_is_sixteen_hundred_utc() -> None:
    assert hk_date(utc(2028, 2, 28, 15, 59, 59, 999999)) == date(2028, 2, 28)
    assert hk_date(utc(2028, 2, 28, 16, 0, 0)) == date(2028, 2, 29)


def test_naive_instant_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        hk_date(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("day", "years", "expected"),
    [
        (date(2028, 2, 29), -3, date(2025, 2, 28)),
        (date(2028, 2, 29), -4, date(2024, 2, 29)),
        (date(2027, 3, 1), -3, date(2024, 3, 1)),
        (date(2024, 2, 29), 1, date(2025, 2, 28)),
        (date(2026, 12, 31), -5, date(2021, 12, 31)),
    ],
)
def test_shift_years(day: date, years: int, expected: date) -> None:
    assert shift_years(day, years) == expected


def test_shift_years_keeps_the_time_of_a_datetime() -> None:
    assert shift_years(utc(2024, 2, 29, 9, 30), 1) == utc(2025, 2, 28, 9, 30)


@settings(max_examples=300, deadline=None)
@given(st.dates(min_value=date(1904, 1, 1)), st.integers(-3, 3).filter(bool))
def test_shift_years_agrees_with_the_plain_model(day: date, years: int) -> None:
    assert shift_years(day, -years) == plain_model.years_before(day, years)


@settings(max_examples=300, deadline=None)
@given(instants())
def test_hk_date_agrees_with_the_plain_model(instant: datetime) -> None:
    assert hk_date(instant) == plain_model.hong_kong_date(instant)


@settings(max_examples=300, deadline=None)
@given(st.dates(max_value=date(2020, 1, 1)), st.dates(min_value=date(2020, 1, 1)))
def test_age_agrees_with_the_plain_model(born: date, day: date) -> None:
    assert age_on(born, day) == plain_model.age(born, day)


def test_born_on_29_february_turns_65_on_28_february() -> None:
    assert age_on(date(1960, 2, 29), date(2025, 2, 27)) == 64
    assert age_on(date(1960, 2, 29), date(2025, 2, 28)) == 65
    assert age_on(date(1960, 2, 29), date(2024, 2, 28)) == 63
    assert age_on(date(1960, 2, 29), date(2024, 2, 29)) == 64
    assert age_on(date(1960, 2, 29), date(2024, 2, 29) - timedelta(days=1)) == 63

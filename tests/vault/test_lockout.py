"""Per-client attempt counters (:mod:`vault.access.throttles`) on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlmodel import Session

from tests.vault.conftest import NOW
from vault.access.throttles import Limit, Throttle
from vault.runtime.opening import Vault
from vault.store.engine import transaction

LOCK = timedelta(minutes=10)
THREE = Throttle("test_scope", Limit(3, LOCK))
LOGIN = Throttle(
    "test_login",
    Limit(3, LOCK, growth=2, longest=timedelta(minutes=25), forgiven_by_success=True),
)


def _fail(
    vault: Vault, key: str = "pro-1", *, at: timedelta = timedelta(0), throttle: Throttle = THREE
) -> datetime | None:
    with transaction(vault.engine) as session:
        return throttle.fail(session, key, NOW + at)


def _succeed(
    vault: Vault, key: str = "pro-1", *, at: timedelta = timedelta(0), throttle: Throttle = THREE
) -> None:
    with transaction(vault.engine) as session:
        throttle.succeed(session, key, NOW + at)


def _locked_until(
    vault: Vault, key: str = "pro-1", *, at: timedelta = timedelta(0)
) -> datetime | None:
    with Session(vault.engine) as session:
        return THREE.locked_until(session, key, NOW + at)


def _failures(vault: Vault, key: str = "pro-1", throttle: Throttle = THREE) -> int:
    with Session(vault.engine) as session:
        return throttle.failures(session, key)


def test_the_limit_th_failure_locks_the_key_for_the_lock_time(vault: Vault) -> None:
    assert _fail(vault) is None
    assert _fail(vault, at=timedelta(seconds=1)) is None
    assert _locked_until(vault, at=timedelta(seconds=1)) is None
    locked = _fail(vault, at=timedelta(seconds=2))
    assert locked == NOW + timedelta(seconds=2) + LOCK
    assert _locked_until(vault, at=timedelta(seconds=3)) == locked
    assert _locked_until(vault, at=timedelta(seconds=2) + LOCK) is None  # the end is exclusive


def test_failures_while_locked_do_not_extend_the_lock(vault: Vault) -> None:
    for _ in range(3):
        _fail(vault)
    assert _fail(vault, at=timedelta(minutes=5)) is None
    assert _locked_until(vault, at=timedelta(minutes=9)) == NOW + LOCK
    assert _failures(vault) == 4


def test_counting_starts_afresh_when_a_lock_ends(vault: Vault) -> None:
    for _ in range(3):
        _fail(vault)
    after = LOCK + timedelta(seconds=1)
    assert _fail(vault, at=after) is None
    assert _failures(vault) == 1
    assert _locked_until(vault, at=after) is None
    _fail(vault, at=after)
    assert _fail(vault, at=after) == NOW + after + LOCK


def test_a_success_forgives_login_failures_but_not_a_lock_in_force(vault: Vault) -> None:
    _fail(vault, throttle=LOGIN)
    _fail(vault, throttle=LOGIN)
    _succeed(vault, throttle=LOGIN)
    assert _failures(vault, throttle=LOGIN) == 0
    assert _fail(vault, throttle=LOGIN) is None  # two more are allowed again
    for _ in range(2):
        _fail(vault, "pro-2", throttle=LOGIN)
    assert _fail(vault, "pro-2", throttle=LOGIN) is not None
    _succeed(vault, "pro-2", at=timedelta(minutes=1), throttle=LOGIN)
    with Session(vault.engine) as session:
        assert LOGIN.locked_until(session, "pro-2", NOW + timedelta(minutes=1)) == NOW + LOCK
    _succeed(vault, "pro-2", at=LOCK, throttle=LOGIN)  # once the lock is over, it is forgiven
    assert _failures(vault, "pro-2", throttle=LOGIN) == 0


def test_a_success_does_not_wash_away_wrong_codes(vault: Vault) -> None:
    """Code guessing: two wrong codes, the professional's own valid pair, one more wrong
    code — locked (a success between wrong guesses resets nothing)."""
    _fail(vault)
    _fail(vault, at=timedelta(seconds=1))
    _succeed(vault, at=timedelta(seconds=2))
    assert _fail(vault, at=timedelta(seconds=3)) == NOW + timedelta(seconds=3) + LOCK


def test_failures_are_counted_within_the_window(vault: Vault) -> None:
    _fail(vault)
    _fail(vault, at=timedelta(minutes=1))
    assert _fail(vault, at=LOCK + timedelta(seconds=1)) is None  # the first two are old
    assert _failures(vault) == 1


def test_each_login_lock_lasts_longer_up_to_the_longest(vault: Vault) -> None:
    at = timedelta(0)
    lengths = []
    for _ in range(4):
        for _ in range(3):
            locked = _fail(vault, at=at, throttle=LOGIN)
        assert locked is not None
        lengths.append(locked - (NOW + at))
        at = locked - NOW + timedelta(seconds=1)
    assert lengths == [LOCK, 2 * LOCK, timedelta(minutes=25), timedelta(minutes=25)]


def test_keys_and_scopes_count_separately(vault: Vault) -> None:
    other_scope = Throttle("other_scope", Limit(3, LOCK))
    for _ in range(3):
        _fail(vault, "pro-1")
    assert _locked_until(vault, "pro-1") is not None
    assert _locked_until(vault, "pro-2") is None
    assert _failures(vault, "pro-1", other_scope) == 0
    assert _fail(vault, "pro-1", throttle=other_scope) is None


def test_a_rolled_back_transaction_counts_nothing(vault: Vault) -> None:
    with pytest.raises(RuntimeError), transaction(vault.engine) as session:
        THREE.fail(session, "pro-1", NOW)
        raise RuntimeError("the caller failed after counting")
    assert _failures(vault) == 0


def test_concurrent_failures_are_all_counted(vault: Vault) -> None:
    many = Throttle("test_scope", Limit(100, LOCK))
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def guess() -> None:
        try:
            start.wait()
            _fail(vault, "shared", throttle=many)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert _failures(vault, "shared", many) == 8


def test_a_limit_needs_a_failure_and_a_lock_time() -> None:
    with pytest.raises(ValueError):
        Limit(0, LOCK)
    with pytest.raises(ValueError):
        Limit(5, timedelta(0))

"""Brute force (issue 8, item 4): what the existing tests did not yet cover.

Already covered elsewhere, and not repeated here:

* passcode guessing locks the pair for good and the guesser for 15 minutes, audited and
  notified once; guessing application codes locks the client; 20 failures lock the
  institution; a success clears the count (tests/api/test_cross_border_sessions.py);
* OTP guessing locks the request for good and the professional for 15 minutes, audited
  and notified; failures across requests add up (tests/api/test_restricted_access.py);
* radiology authorisation codes lock the depositor out (test_radiology_bad_input.py);
* the per-client counters themselves, on both databases (tests/vault/test_lockout.py).

Added here: secrets and codes are compared in constant time (in the source, and in
behaviour: the comparison is made whether or not the thing compared against exists,
and whether or not the OTP has expired); one pair guessed by many professionals still
locks after five failures; a radiology code lock-out is audited like the others.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

import api.routes.auth
import vault.cross_border.sessions
import vault.crypto.passwords
import vault.crypto.secrets
import vault.restricted.requests
from tests.api.conftest import PASSWORD, World
from tests.api.cross_border_support import (
    advance,
    authorise,
    events,
    last_seq,
    reasons,
    staff,
    unknown_codes,
)

ROOT = Path(__file__).resolve().parents[2]
SECRET_WORDS = ("passcode", "otp", "secret", "password")
# Equality on a code's SHA-256 in a SQL WHERE: a lookup by the hash of a random
# 80-bit-plus code, not a comparison whose timing tells a guesser anything.
HASH_LOOKUPS = {"application_code_hash", "code_hash"}


class Counting:
    """Wraps a function and counts its calls."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.function(*args, **kwargs)


def _calls_compare_digest(function: Callable[..., Any]) -> bool:
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return any(
        isinstance(node, ast.Attribute)
        and node.attr == "compare_digest"
        and isinstance(node.value, ast.Name)
        and node.value.id in {"hmac", "secrets"}
        for node in ast.walk(tree)
    )


def _names(node: ast.AST) -> set[str]:
    found = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            found.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            found.add(sub.attr)
    return found


def _secret_like(name: str) -> bool:
    """``row.otp_hash``, ``passcode``, ``client_secret``; not a constant such as a
    reason code (``OTP_EXPIRED``), not a lookup by a code's hash."""
    if name.isupper() or name in HASH_LOOKUPS:
        return False
    return any(word in name.lower().split("_") for word in SECRET_WORDS)


def test_secrets_and_codes_are_compared_with_compare_digest() -> None:
    assert _calls_compare_digest(vault.crypto.passwords.same_code)
    assert _calls_compare_digest(vault.crypto.secrets.Secret.__eq__)
    assert _calls_compare_digest(api.routes.auth._operator_token)  # an operator's secret
    # passcodes and OTPs go through same_code
    for module in (vault.cross_border.sessions, vault.restricted.requests):
        assert "same_code" in _names(ast.parse(inspect.getsource(module))), module.__name__
    # and nowhere in the product is a secret compared with == or !=
    offenders = []
    for package in ("vault", "api"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Compare):
                    continue
                if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
                    continue
                if any(_secret_like(name) for name in _names(node)):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)}")
    assert offenders == []


def test_the_passcode_is_compared_whether_or_not_the_application_code_exists(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No early return for an unknown application code: the passcode comparison (against
    a dummy hash) costs the same as for a real one."""
    spy = Counting(vault.crypto.passwords.same_code)
    monkeypatch.setattr("vault.cross_border.sessions.same_code", spy)
    pid, _ = world.person()
    codes = authorise(world, pid, "hku_sz")
    doctor = staff(world, "hku_sz")
    for pair, status in (
        (unknown_codes(), 400),
        (codes.wrong_passcode(), 400),
        (codes, 201),
    ):
        before = spy.calls
        assert doctor.open(pair).status_code == status
        assert spy.calls - before == 1, pair


def test_the_otp_is_compared_whether_or_not_it_has_expired(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Counting(vault.crypto.passwords.same_code)
    monkeypatch.setattr("vault.restricted.requests.same_code", spy)
    pid, _ = world.person()
    nurse = staff(world, "ha", "nurse")
    body = {"reason": "Pre-operative review of the hip.", "categories": ["radiology_report"]}
    requested = nurse.post(f"/v1/patients/{pid}/restricted-access", body)
    assert requested.status_code == 201, requested.text
    confirm = f"/v1/patients/{pid}/restricted-access/{requested.json()['id']}/confirm"
    wrong = nurse.post(confirm, {"otp": "000000"})
    assert wrong.status_code in (400, 423) and spy.calls == 1
    advance(world, timedelta(minutes=10, seconds=1))
    expired = nurse.post(confirm, {"otp": "000000"})
    assert expired.status_code == 400 and expired.json()["code"] == "otp_expired"
    assert spy.calls == 2


class _CountingHasher:
    def __init__(self, real: PasswordHasher) -> None:
        self.real = real
        self.verified: list[str] = []

    def verify(self, stored: str, password: str) -> bool:
        self.verified.append(stored)
        return self.real.verify(stored, password)

    def hash(self, password: str) -> str:
        return self.real.hash(password)


def test_an_unknown_account_costs_a_password_hash_too(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown person, unknown client: argon2id still runs (against a dummy hash), so the
    token endpoint's timing does not tell which ids exist."""
    pid, _ = world.person()
    hasher = _CountingHasher(vault.crypto.passwords._Hashing.hasher)
    monkeypatch.setattr(vault.crypto.passwords._Hashing, "hasher", hasher)
    attempts: list[dict[str, str]] = [
        {"grant_type": "password", "username": "0" * 32, "password": PASSWORD},
        {"grant_type": "password", "username": pid, "password": "wrong " + PASSWORD},
        {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x" * 30},
    ]
    for form in attempts:
        before = len(hasher.verified)
        answer = world.http.post("/v1/auth/token", data=form)
        assert answer.status_code == 400, answer.text
        assert len(hasher.verified) - before == 1, form
    dummy = vault.crypto.passwords._Hashing.dummy
    assert hasher.verified.count(dummy) == 2  # the unknown person and the unknown client


def test_one_pair_guessed_by_many_professionals_locks_after_five_failures(
    world: World,
) -> None:
    """Spreading guesses over professionals (each under their own limit) does not help:
    the pair counts every failure, locks for good at the fifth, and the person is told
    once."""
    pid, _ = world.person()
    codes = authorise(world, pid, "hku_sz")
    start = last_seq(world)
    answers = [staff(world, "hku_sz").open(codes.wrong_passcode()) for _ in range(5)]
    assert [a.status_code for a in answers] == [400, 400, 400, 400, 423]
    assert "retry-after" not in answers[-1].headers  # the pair, not the client
    right = staff(world, "hku_sz").open(codes)
    assert right.status_code == 423 and right.json()["code"] == "locked_out"
    trail = reasons(world, person_id=pid, since_seq=start)
    assert trail.count("wrong_passcode") == 5
    assert trail.count("codes_locked_out") == 1 and "codes_locked" in trail
    assert events(world, pid).count("cross_border_locked_out") == 1
    # the person applies again: new codes work at once
    assert staff(world, "hku_sz").open(authorise(world, pid, "hku_sz")).status_code == 201


def test_another_institutions_professional_presenting_the_pair_counts_as_a_failure(
    world: World,
) -> None:
    pid, _ = world.person()
    codes = authorise(world, pid, "hku_sz")
    elsewhere = [staff(world, "dongguan_tungwah").open(codes) for _ in range(4)]
    assert {a.status_code for a in elsewhere} == {400}
    assert staff(world, "hku_sz").open(codes.wrong_passcode()).status_code == 423
    assert staff(world, "hku_sz").open(codes).status_code == 423
    assert events(world, pid).count("cross_border_locked_out") == 1


def test_a_radiology_code_lock_out_is_audited_like_the_others(world: World) -> None:
    """Cross-border and OTP lock-outs leave an entry for the failure that locked
    (``client_locked_out``) and one for every attempt refused while locked
    (``client_locked``); guessing radiology authorisation codes should too (R11)."""
    _, me = world.person()
    depositor = world.professional("hku_sz", profession="radiographer")
    start = last_seq(world)
    for _ in range(10):
        world.http.post(
            "/v1/radiology/deposits", headers=depositor, json={"authorisation_code": "RA-WRONG"}
        )
    issued = world.http.post(
        "/v1/me/radiology-authorisations", headers=me, json={"institution_id": "hku_sz"}
    )
    code = issued.json()["authorisation_code"]
    locked = world.http.post(
        "/v1/radiology/deposits", headers=depositor, json={"authorisation_code": code}
    )
    assert locked.status_code == 423 and locked.json()["code"] == "locked_out"
    assert int(locked.headers["Retry-After"]) > 0
    trail = [r for r in reasons(world, since_seq=start) if r != "owner"]
    assert trail.count("invalid_authorisation_code") == 10
    assert len(trail) >= 12, trail  # + the lock-out, + the attempt refused while locked

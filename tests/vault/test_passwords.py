"""Passwords and client secrets: argon2id; codes: SHA-256 compared in constant time."""

from __future__ import annotations

from argon2 import PasswordHasher
from hypothesis import given
from hypothesis import strategies as st

from vault.crypto import passwords


def test_production_cost_is_owasp_argon2id() -> None:
    hasher = PasswordHasher(
        time_cost=passwords.PRODUCTION_TIME_COST,
        memory_cost=passwords.PRODUCTION_MEMORY_KIB,
        parallelism=1,
    )
    assert hasher.hash("x").startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_hash_and_verify() -> None:
    stored = passwords.hash_password("correct horse")
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(stored, "correct horse")
    assert not passwords.verify_password(stored, "wrong horse")
    assert not passwords.verify_password(None, "correct horse")
    assert not passwords.verify_password("not a hash", "correct horse")


def test_codes_are_compared_by_hash() -> None:
    code = passwords.new_code("CB", 16)
    assert code.startswith("CB-") and len(code.replace("-", "")) == 18
    assert passwords.same_code(passwords.code_hash(code), code)
    assert not passwords.same_code(passwords.code_hash(code), code + "X")


@given(st.data())
def test_a_code_typed_any_way_is_the_code_issued(data: st.DataObject) -> None:
    """Any letter case, dashes or not, spaces and line breaks anywhere between groups."""
    from vault.crypto.passwords import canonical_code, new_code

    code = new_code(data.draw(st.sampled_from(["CB", "PC", "RA"])), 16)
    typed = "".join(
        data.draw(st.sampled_from([c, c.lower()]))
        + data.draw(st.sampled_from(["", " ", "-", "\n"]))
        for c in code.replace("-", "")
    )
    assert canonical_code(typed) == code
    assert canonical_code(code[:-1]) != code

"""A value that never shows itself in ``repr``/``str`` (after starlette's ``Secret``).

Keys, passcodes and OTPs travel wrapped in :class:`Secret` so that a stray log line,
traceback or f-string prints ``Secret('**********')`` instead of the value.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T", str, bytes)


class Secret(Generic[T]):
    __slots__ = ("_value",)

    def __init__(self, value: T) -> None:
        self._value: T = value

    def reveal(self) -> T:
        return self._value

    def __repr__(self) -> str:
        return f"{type(self).__name__}('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        import hmac

        if not isinstance(other, Secret):
            return NotImplemented
        a, b = self._value, other._value
        if isinstance(a, str) and isinstance(b, str):
            return hmac.compare_digest(a.encode(), b.encode())
        if isinstance(a, bytes) and isinstance(b, bytes):
            return hmac.compare_digest(a, b)
        return False

    def __hash__(self) -> int:
        return hash(self._value)

"""Identifiers the vault makes: 128 random bits as 32 lower-case hex digits."""

from __future__ import annotations

import uuid


def new_id() -> str:
    return uuid.uuid4().hex

"""SMART system scopes: what a Backend Services token may do on the FHIR facade.

A scope only *narrows*: the policy decides every interaction as it would without one, and
a scope can only refuse on top. Granted scopes are the requested ones this server knows
(SMART 2 ``system/<type>.<rs>`` and SMART 1 ``system/<type>.read``, ``<type>`` a resource
type the facade serves to institutions, or ``*``); a request naming none of them is
``invalid_scope``.
"""

from __future__ import annotations

import re
from typing import Literal

Interaction = Literal["r", "s", "c", "d"]  # read, search, create, delete
# What an institution's professional may read over FHIR (the person's own resources,
# Consent and AuditEvent, are for the person and their caregivers).
SYSTEM_TYPES = ("Patient", "DocumentReference", "Binary", "ImagingStudy", "Provenance")
SUPPORTED_SCOPES = (
    "system/*.rs",
    *(f"system/{t}.rs" for t in SYSTEM_TYPES),
    "system/*.read",
    *(f"system/{t}.read" for t in SYSTEM_TYPES),
)
_SCOPE = re.compile(r"^system/(\*|[A-Za-z]+)\.(read|[cruds]+)$")
MAX_SCOPE_CHARS = 1000


def granted(requested: str) -> str:
    """The requested scopes this server grants (space-separated, in the order asked);
    ``""`` when there are none."""
    kept: list[str] = []
    for scope in requested.split()[:50]:
        match = _SCOPE.match(scope)
        if match is None or (match[1] != "*" and match[1] not in SYSTEM_TYPES):
            continue
        rights = "rs" if match[2] == "read" else "".join(c for c in "rs" if c in match[2])
        if rights and scope not in kept:
            kept.append(scope)
    return " ".join(kept)


def allows(scope: str | None, resource_type: str, interaction: Interaction) -> bool:
    """Does ``scope`` (``None``: not a SMART token) allow ``interaction`` on the type?"""
    if scope is None:
        return True
    if interaction not in ("r", "s"):  # SMART tokens read; they never write
        return False
    for one in scope.split():
        match = _SCOPE.match(one)
        if match is None or match[1] not in ("*", resource_type):
            continue
        if match[2] == "read" or interaction in match[2]:
            return True
    return False

"""The directory of handles: which person a viewing session's or a deposit's id belongs to.

A Mainland professional holds only their viewing session's id, a radiology depositor only
their deposit's; every other statement of a request names the person. The directory
(:class:`~vault.store.tables.Handle`) is written with the handle, in the same
transaction, and read first — by the handle alone, the one key on a hot path that is not
the person — to route the request to the person's rows, which it then reads by
``(person_id, id)``. Distributed by person (``docs/scale-out.md``), that is one lookup on
the directory's node, then one node for everything else.

An unknown handle routes to :data:`NOBODY`, a person id no one has, so the read that
follows runs the same statement and finds nothing: the work is the same either way.
"""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from vault.store.statements import Prepared
from vault.store.tables import Handle

VIEWING_SESSION = "viewing_session"
RADIOLOGY_DEPOSIT = "radiology_deposit"
NOBODY = ""  # no person's id is empty

_PERSON_OF = Prepared(
    sa_select(col(Handle.person_id)).where(
        col(Handle.id) == bindparam("id"), col(Handle.kind) == bindparam("kind")
    )
)


def register(session: Session, handle: str, person_id: str, kind: str) -> None:
    """Record that ``handle`` (of ``kind``) belongs to ``person_id``, in ``session``'s
    transaction."""
    session.add(Handle(id=handle, person_id=person_id, kind=kind))


def person_of(session: Session, handle: str, kind: str) -> str:
    """The person ``handle`` belongs to, or :data:`NOBODY`."""
    found = _PERSON_OF.first(session, {"id": handle, "kind": kind})
    return str(found[0]) if found is not None else NOBODY

"""How each table would be distributed across the nodes of a Citus cluster — in one place.

The store is ready to be sharded by person: every hot query names one person, so every
table holding a person's data is *distributed by person*, its shards colocated with the
person's own row, and a request about one person touches one node. The tables every
request reads and few write (the registry: institutions, professionals, credentials) are
*reference* tables, copied whole to every node. A few tables are *distributed by their
own key*: rows written on hot paths that belong to no one person (a failed login's
counter) or that route to one (the handle directory).

``docs/scale-out.md`` prints the Citus DDL from these three classes
(:func:`citus_ddl`), and ``tests/vault/test_distribution.py`` checks the migrated schema
against them — so a new table must be classified here, or the test names it.
"""

from __future__ import annotations

from collections.abc import Iterator

ROOT = "person"  # distributed by its ``id``; every other person table colocates with it

# Tables distributed by person: table -> the column holding the person (the distribution
# column). Their primary key and every unique constraint lead with it; their foreign
# keys to one another include it.
BY_PERSON: dict[str, str] = {
    "person": "id",
    "persondatakey": "person_id",
    "record": "person_id",
    "sharingconsent": "person_id",
    "crossborderauthorisation": "person_id",
    "viewingsession": "person_id",
    "radiologyauthorisation": "person_id",
    "restrictedaccessrequest": "person_id",
    "caregiverdelegation": "person_id",
    "notification": "person_id",
    "radiologydeposit": "person_id",
    "radiologyfile": "person_id",
    "breakglassaccess": "person_id",
    "dicomstudypart": "person_id",  # the sealed QIDO-RS study index
    "dicomindexbacklog": "person_id",  # persons whose index is still to be built
    # The audit chains: a person's chain id IS their id, so a person's entries, chain head
    # and checkpoint leaves land on the person's node. The system chain ("") and each
    # institution's chain ("~i:<id>") are single values: each lives on one shard.
    "auditentry": "chain_id",
    "auditchain": "chain_id",
    "auditcheckpointleaf": "chain_id",
}

# Replicated to every node: the registry and the signed checkpoints (read everywhere,
# written rarely; a write is a two-phase commit across the nodes).
REFERENCE: tuple[str, ...] = (
    "institution",
    "professional",
    "institutioncredential",
    "credentialproposal",
    "auditcheckpoint",
    "smartclient",  # an institution's SMART client and its public JWK set
)

# Distributed by their own key (not colocated with anything): table -> column.
# ``attemptcounter`` is written on every failed guess — as a reference table every failed
# login would be a two-phase commit on every node. ``handle`` is the directory of handles
# (a viewing session's or a deposit's id) to the person they belong to: read first, by
# the handle, to route the request to the person's node.
BY_OWN_KEY: dict[str, str] = {
    "attemptcounter": "key",
    "handle": "id",
    # A SMART client assertion's spent ``jti``: written once per token request (a
    # reference table would make each a two-phase commit); the insert names its client.
    "clientassertionuse": "client_id",
}

NOT_DISTRIBUTED: tuple[str, ...] = ("alembic_version",)  # Alembic's own bookkeeping


def person_column(table: str) -> str | None:
    """The column a statement on ``table`` must filter by to stay on one node: the
    person's for a table distributed by person, the table's key for one distributed by
    its own key; ``None`` for a reference table."""
    return BY_PERSON.get(table) or BY_OWN_KEY.get(table)


def classified() -> frozenset[str]:
    """Every table this module places."""
    return frozenset(BY_PERSON) | frozenset(REFERENCE) | frozenset(BY_OWN_KEY)


def unclassified(tables: set[str] | frozenset[str]) -> list[str]:
    """The tables of ``tables`` this module does not place (sorted)."""
    return sorted(set(tables) - classified() - set(NOT_DISTRIBUTED))


def _colocated() -> Iterator[str]:
    yield f"SELECT create_distributed_table('{ROOT}', '{BY_PERSON[ROOT]}');"
    for table, column in BY_PERSON.items():
        if table != ROOT:
            yield (
                f"SELECT create_distributed_table('{table}', '{column}', "
                f"colocate_with => '{ROOT}');"
            )


def citus_ddl() -> str:
    """The statements that distribute an upgraded crossvault database with Citus."""
    lines = [
        "-- reference tables: a full copy on every node",
        *(f"SELECT create_reference_table('{table}');" for table in REFERENCE),
        "-- distributed by person, colocated with the person's row",
        *_colocated(),
        "-- distributed by their own key",
        *(
            f"SELECT create_distributed_table('{table}', '{column}');"
            for table, column in BY_OWN_KEY.items()
        ),
    ]
    return "\n".join(lines) + "\n"

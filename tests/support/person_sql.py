"""Which statements on a table distributed by person do not say which person.

A statement on a table of :data:`vault.store.distribution.BY_PERSON` must filter by the
table's person column (``person_id``; ``chain_id`` for the audit chains; ``id`` for
``person``) — or, for an ``INSERT``, set it — so that, distributed, it runs on one node.
A table distributed by its own key (the handle directory, the attempt counters) must be
filtered by that key. Reference tables are everywhere: anything goes.

The SQL is what SQLite's trace callback sees (the project's ``Prepared`` statements run on
the raw DBAPI cursor, past SQLAlchemy's events), one statement at a time.
"""

from __future__ import annotations

import re

from vault.store.distribution import BY_PERSON, person_column

_TABLE = re.compile(r'\b(?:FROM|JOIN|UPDATE|INTO)\s+"?(\w+)"?', re.IGNORECASE)
_INSERT_COLUMNS = re.compile(r'^INSERT\s+INTO\s+"?\w+"?\s*\(([^)]*)\)', re.IGNORECASE)
_WHERE = re.compile(r"\b(?:WHERE|ON)\b(.*)", re.IGNORECASE | re.DOTALL)
_WRITES_OR_READS = ("SELECT", "INSERT", "UPDATE", "DELETE")

# Lookups by a code the caller holds alone (opening a viewing session or a deposit): a
# fan-out over the code hash's index, by design (docs/scale-out.md).
CODE_LOOKUPS = re.compile(r'\b"?(?:application_code_hash|code_hash)"?\s*=', re.IGNORECASE)


def tables_of(sql: str) -> set[str]:
    return {name.lower() for name in _TABLE.findall(sql)}


def _filters(sql: str, table: str, column: str, alone: bool) -> bool:
    where = _WHERE.search(sql)
    if where is None:
        return False
    qualified = rf'"?{table}"?\."?{column}"?'
    bare = rf'(?<![\w."])"?{column}"?'
    pattern = rf"(?:{qualified}{'|' + bare if alone else ''})\s*(?:=|IN\b)"
    return re.search(pattern, where.group(1), re.IGNORECASE) is not None


def offence(sql: str) -> str | None:
    """Why ``sql`` would fan out across the nodes, or ``None`` if it stays on one."""
    text = " ".join(sql.split())
    verb = text.split(" ", 1)[0].upper() if text else ""
    if verb not in _WRITES_OR_READS:
        return None  # BEGIN, COMMIT, SAVEPOINT, PRAGMA…
    tables = tables_of(text)
    for table in sorted(tables):
        column = person_column(table)
        if column is None:
            continue  # a reference table (the schema test fails on an unclassified one)
        if verb == "INSERT":
            columns = _INSERT_COLUMNS.search(text)
            named = {
                c.strip().strip('"').lower()
                for c in (columns.group(1) if columns else "").split(",")
            }
            if column not in named:
                return f"INSERT INTO {table} does not set {column}"
            continue
        if table in BY_PERSON and CODE_LOOKUPS.search(text) and verb == "SELECT":
            continue
        if not _filters(text, table, column, alone=len(tables) == 1):
            kind = "person" if table in BY_PERSON else "own key"
            return f"{verb} on {table} does not filter by its {kind} column {column}"
    return None

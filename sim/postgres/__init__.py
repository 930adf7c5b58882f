"""A throw-away PostgreSQL server (Debian's binaries, run as an unprivileged user) and its
databases: the test suite's fixtures and the volume benchmark both start one."""

from sim.postgres.databases import create_database, drop_database, scratch_database
from sim.postgres.server import (
    ADMIN_DATABASE,
    SUPERUSER,
    Cluster,
    PostgresBinaries,
    PostgresHarnessError,
    find_postgres_binaries,
    running_postgres,
    throwaway_cluster,
)

__all__ = [
    "ADMIN_DATABASE",
    "SUPERUSER",
    "Cluster",
    "PostgresBinaries",
    "PostgresHarnessError",
    "create_database",
    "drop_database",
    "find_postgres_binaries",
    "running_postgres",
    "scratch_database",
    "throwaway_cluster",
]

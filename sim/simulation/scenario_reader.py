"""Reading a scenario file's values: the TOML itself, and typed reads from its tables in
which every failure is one :class:`ScenarioError` line naming ``file: key.path: what was
wrong`` (:mod:`sim.simulation.scenario` builds the sections from them)."""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, NoReturn

from policies.policy_file import Policy
from policies.vocabulary import Region


class ScenarioError(ValueError):
    """A scenario file that cannot be used. The message names the file and the line or
    key, in one line."""


def read_toml(path: str | Path, seen: tuple[Path, ...] = ()) -> Mapping[str, Any]:
    """The file's top-level table; a missing file, a directory or bad TOML is a
    :class:`ScenarioError`. With ``extends = "other.toml"`` (relative to the file) the
    other scenario is read first and this one merged into it: tables key by key, any
    other value (arrays such as ``calibration`` too) replaced."""
    data = dict(_read(path))
    base = data.pop("extends", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ScenarioError(f"{path}: extends: expected a file name, got {shown(base)}")
    here = Path(path).resolve()
    base_path = Path(path).parent / base
    if base_path.resolve() in (*seen, here):
        raise ScenarioError(f"{path}: extends: cycle through {base_path}")
    return _merge(read_toml(base_path, (*seen, here)), data)


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        old = merged.get(key)
        merged[key] = (
            _merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
        )
    return merged


def _read(path: str | Path) -> Mapping[str, Any]:
    label = str(path)
    try:
        with Path(path).open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ScenarioError(f"{label}: no such scenario file") from None
    except IsADirectoryError:
        raise ScenarioError(f"{label}: is a directory, not a scenario file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{label}: {_toml_problem(exc)}") from None


def _toml_problem(exc: tomllib.TOMLDecodeError) -> str:
    """``line 7, column 12: not valid TOML: Expected '=' after a key…`` from tomllib's
    message (which ends with ``(at line 7, column 12)``)."""
    message = str(exc)
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if found is None:
        return f"not valid TOML: {message}"
    return f"line {found[1]}, column {found[2]}: not valid TOML: {message[: found.start()]}"


class Table:
    """One TOML table and the dotted path that leads to it; remembers which keys were
    read, so that whatever is left over is an unknown key."""

    def __init__(self, data: Mapping[str, Any], path: str) -> None:
        self.data = data
        self.path = path
        self.read: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def take(self, name: str) -> Any:
        self.read.add(name)
        return self.data.get(name, _MISSING)

    def leftover(self) -> list[str]:
        return [k for k in self.data if k not in self.read]


_MISSING = object()


def shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


class Reader:
    """Typed reads; every failure names ``file: key.path: what was wrong``."""

    def __init__(self, label: str, policy: Policy) -> None:
        self.label = label
        self.policy = policy

    def fail(self, key: str, message: str) -> NoReturn:
        raise ScenarioError(f"{self.label}: {key}: {message}")

    # scalar kinds

    def value(self, table: Table, name: str) -> Any:
        value = table.take(name)
        if value is _MISSING:
            near = difflib.get_close_matches(name, [str(k) for k in table.data], n=1, cutoff=0.75)
            hint = f" (found {near[0]!r}: misspelt?)" if near else ""
            self.fail(table.key(name), f"missing{hint}")
        return value

    def text(self, table: Table, name: str) -> str:
        value = self.value(table, name)
        if not isinstance(value, str) or not value.strip():
            self.fail(table.key(name), f"expected a non-empty string, got {shown(value)}")
        return value

    def day(self, table: Table, name: str) -> date:
        value = self.value(table, name)
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        self.fail(table.key(name), f"expected a date (YYYY-MM-DD), got {shown(value)}")

    def number(self, table: Table, name: str, *, low: float = 0.0, high: float = math.inf) -> float:
        value = self.value(table, name)
        key = table.key(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(key, f"expected a number, got {shown(value)}")
        if math.isnan(value) or math.isinf(value):
            self.fail(key, f"expected a finite number, got {value!r}")
        if value < low:
            self.fail(key, "must not be negative" if low == 0 else f"must be at least {low:g}")
        if value > high:
            self.fail(key, f"must be at most {high:g}, got {value!r}")
        return float(value)

    def share(self, table: Table, name: str) -> float:
        value = self.value(table, name)
        if isinstance(value, int | float) and not isinstance(value, bool) and not 0 <= value <= 1:
            self.fail(table.key(name), f"expected a share between 0 and 1, got {value!r}")
        return self.number(table, name, high=1.0)

    def switch(self, table: Table, name: str) -> bool:
        value = self.value(table, name)
        if not isinstance(value, bool):
            self.fail(table.key(name), f"expected true or false, got {shown(value)}")
        return value

    def whole(self, table: Table, name: str, *, low: int = 0, high: int = 10_000) -> int:
        value = self.value(table, name)
        key = table.key(name)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected a whole number, got {shown(value)}")
        if value < low:
            self.fail(key, "must not be negative" if low == 0 else f"must be at least {low}")
        if value > high:
            self.fail(key, f"must be at most {high}, got {value}")
        return value

    # structure

    def table(self, parent: Table, name: str) -> Table:
        value = self.value(parent, name)
        if not isinstance(value, dict):
            self.fail(parent.key(name), f"expected a table, got {shown(value)}")
        return Table(value, parent.key(name))

    def done(self, table: Table) -> None:
        for name in table.leftover():
            self.fail(table.key(name), "unknown key")

    def institution(self, key: str, value: Any, *, region: Region) -> str:
        if not isinstance(value, str):
            self.fail(key, f"expected an institution id, got {shown(value)}")
        institution = self.policy.institutions.get(value)
        if institution is None:
            self.fail(key, f"unknown institution {value!r} (not in policy {self.policy.name!r})")
        if institution.region is not region:
            self.fail(key, f"{value!r} is not a {region.value.replace('_', ' ')} institution")
        return value

    def institution_weights(self, parent: Table, name: str) -> dict[str, float]:
        table = self.table(parent, name)
        weights: dict[str, float] = {}
        for iid in list(table.data):
            self.institution(table.key(iid), iid, region=Region.MAINLAND)
            weights[iid] = self.number(table, iid)
        return weights

    def institutions(self, table: Table, name: str) -> tuple[str, ...]:
        values = self.value(table, name)
        key = table.key(name)
        if not isinstance(values, list) or not values:
            self.fail(key, f"expected a non-empty array of institution ids, got {shown(values)}")
        return tuple(
            self.institution(f"{key}[{n}]", v, region=Region.MAINLAND) for n, v in enumerate(values)
        )

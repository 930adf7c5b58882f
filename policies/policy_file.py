"""Policy files: the real system's facts and the "what if" variants, as validated data.

A policy file is TOML (schema in ``policies/default.toml``, which documents every key).
:func:`load_policy` validates it completely and raises :class:`PolicyError` naming the
file and the exact key (``policies/x.toml: institutions[3].designated_on: not a date:
'2024-13-01'``). Unknown keys are errors.

A variant may start with ``extends = "default.toml"`` (a path relative to itself): the
base is loaded first, then the variant's tables are merged into it key by key, and any
other value (a string, a number, an array such as ``institutions``) replaces the base's.
Chains are allowed; cycles are errors.

The loaded :class:`Policy` and its parts live in :mod:`policies.policy`, the schema and
its checks in :mod:`policies.policy_schema`; both are re-exported here.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from policies.policy import BreakGlassRule, Durations, Institution, Policy, TimelineEntry
from policies.policy_schema import Checker, PolicyError, build_policy, check_keys

__all__ = [
    "POLICY_DIR",
    "BreakGlassRule",
    "Durations",
    "Institution",
    "Policy",
    "PolicyError",
    "TimelineEntry",
    "bundled_policy_paths",
    "default_policy_path",
    "load_policy",
    "merged_timeline",
]

POLICY_DIR = Path(__file__).resolve().parent


def default_policy_path() -> Path:
    """``policies/default.toml`` as shipped in the package."""
    return POLICY_DIR / "default.toml"


def bundled_policy_paths() -> tuple[Path, ...]:
    """Every policy file shipped in the package: the default first, then the variants."""
    variants = sorted(p for p in POLICY_DIR.glob("*.toml") if p.name != "default.toml")
    return (default_policy_path(), *variants)


def load_policy(path: str | Path) -> Policy:
    """Read, merge (``extends``) and validate a policy file."""
    label = str(path)
    data = _read_merged(Path(path), label, seen=())
    return build_policy(Checker(label), data)


def merged_timeline(path: str | Path) -> list[dict[str, Any]]:
    """The policy file's ``timeline`` as written (after ``extends``): each entry with
    only the rules it states. For a derived file that changes the timeline."""
    data = _read_merged(Path(path), str(path), seen=())
    timeline = data.get("timeline", [])
    return [dict(entry) for entry in timeline] if isinstance(timeline, list) else []


def _read_merged(path: Path, label: str, seen: tuple[Path, ...]) -> dict[str, Any]:
    resolved = path.resolve()
    if resolved in seen:
        chain = " -> ".join(str(p) for p in (*seen, resolved))
        raise PolicyError(f"{label}: extends: cycle: {chain}")
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise PolicyError(f"{label}: no such policy file") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{label}: not valid TOML: {exc}") from None
    check_keys(Checker(label), data)
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    if not isinstance(base_name, str):
        Checker(label).fail("extends", f"not a string: {base_name!r}")
    base_path = path.parent / base_name
    base = _read_merged(base_path, f"{label} (extends {base_path})", (*seen, resolved))
    return _merge(base, data)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged

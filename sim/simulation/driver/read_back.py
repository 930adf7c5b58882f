"""Reading the server's own account back at the end of a run: each person's
notifications and access log (the audit entries about them), as they would in the app."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sim.simulation.client import Call, Caller, ServerRefused
from sim.simulation.driver import citizens
from sim.simulation.driver.world import PAGE, World


def read_back(world: World, index: int, at: datetime) -> None:
    """Count person ``index``'s notifications and audit entries from before ``at``."""
    person, _ = world.person(index)
    caller = Caller("citizen", citizens.own_headers(world, person))
    for item in _pages(world, caller, "collect_notifications", "/v1/me/notifications"):
        if _at(item) < at:
            world.tally.notified(str(item["event"]))
    for item in _pages(world, caller, "collect_access_log", "/v1/me/access-log"):
        if _at(item) < at:
            allowed, reason = bool(item["allowed"]), str(item["reason"])
            world.tally.audited(index, str(item["actor_kind"]), allowed, reason)


def _pages(world: World, caller: Caller, kind: str, path: str) -> Iterator[dict[str, Any]]:
    """Every item of a paged list, page after page; a refused page stops the run."""
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": PAGE}
        if cursor:
            params["cursor"] = cursor
        page = world.api.call(caller, Call(kind, "GET", path, params=params))
        if not page.ok:
            raise ServerRefused(f"reading {path} back was refused: {page.outcome}")
        yield from page.field("items") or []
        cursor = page.field("next_cursor")
        if not cursor:
            return


def _at(item: dict[str, Any]) -> datetime:
    moment = datetime.fromisoformat(str(item["at"]).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

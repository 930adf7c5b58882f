"""What the simulator asks the server it drives about itself, besides the simulation's
own calls: that its registry is the policy's (:func:`check_registry`), and its policy
decisions so far from ``/metrics`` (:func:`decisions`)."""

from __future__ import annotations

from typing import Any

from policies.policy_file import Policy
from sim.simulation.client import Api, Call, Caller


class BadInput(Exception):
    """Refused before anything runs: one line, exit 2."""


def check_registry(api: Api, policy: Policy) -> None:
    """The server's public registry must be the policy's (what the plan was made from)."""
    answer = api.call(Caller("anyone"), Call("list_institutions", "GET", "/v1/institutions"))
    if not answer.ok or not isinstance(answer.body, list):
        raise BadInput(f"{api.base}/v1/institutions answered {answer.outcome}")
    served = {i["id"]: i for i in answer.body}
    for institution in policy.institutions.values():
        other = served.get(institution.id)
        mine = (
            str(institution.region),
            iso(institution.designated_on),
            iso(institution.radiology_depositor_from),
        )
        theirs = (
            None
            if other is None
            else (other["region"], other["designated_on"], other["radiology_depositor_from"])
        )
        if theirs != mine:
            raise BadInput(
                f"the server's registry differs from {policy.path} at institution "
                f"{institution.id!r}: run it with that policy file, or pass the one it serves"
            )


def iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def decisions(api: Api) -> dict[tuple[str, bool], int]:
    """``crossvault_decisions_total`` from ``/metrics``: {(reason, allowed): count}."""
    metrics = api.text("/metrics", headers=api.operator())  # metrics are not public
    found: dict[tuple[str, bool], int] = {}
    for line in metrics.splitlines():
        if not line.startswith("crossvault_decisions_total{"):
            continue
        labels, _, value = line.partition("} ")
        fields = dict(
            part.split("=", 1)
            for part in labels.removeprefix("crossvault_decisions_total{").split(",")
        )
        reason = fields.get("reason", "").strip('"')
        allowed = fields.get("allowed", "").strip('"') == "true"
        found[(reason, allowed)] = found.get((reason, allowed), 0) + round(float(value))
    return found

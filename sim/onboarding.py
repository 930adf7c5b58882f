"""Onboarding an institution over HTTP, as a deployment does it (R9, four eyes): one
operator proposes the institution's admin credential and a second approves it; the
institution's admin then issues its client credentials and registers its professionals.
The operator never does the last two — that is the institution's duty.

The throwaway servers of :mod:`sim.server` have two operators (``operator`` and
:data:`APPROVER`); a server elsewhere needs the second one named (``--approver``).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

OPERATOR_SECRET = "bench-operator-secret-0123456789abcdef"  # ``operator`` of those servers
APPROVER = ("operator-2", "sim-second-operator-secret-0123456789abcdef")

Headers = dict[str, str]


@dataclass(frozen=True)
class Operators:
    """Two operators' client credentials: one proposes, the other approves."""

    proposer: tuple[str, str]
    approver: tuple[str, str]

    @classmethod
    def of(cls, operator_secret: str, approver: str | None) -> Operators:
        """``operator`` with its secret, and the approver as ``CLIENT_ID:SECRET``."""
        if not approver:
            raise ValueError(
                "onboarding an institution takes a second operator "
                "(--approver CLIENT_ID:SECRET, or CROSSVAULT_APPROVER)"
            )
        return cls(("operator", operator_secret), parse_approver(approver))


LOCAL = Operators(("operator", OPERATOR_SECRET), APPROVER)  # sim.server's throwaway servers


def parse_approver(text: str) -> tuple[str, str]:
    """``CLIENT_ID:SECRET`` (the second operator's credentials) as a pair."""
    client_id, colon, secret = text.partition(":")
    if not colon or not client_id or not secret:
        raise ValueError("the approver is CLIENT_ID:SECRET")
    return client_id, secret


def client_form(client_id: str, secret: str, **more: str) -> dict[str, str]:
    """The token form of a client (``professional_id=`` for a professional's token)."""
    return {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": secret,
        **more,
    }


def bearer(http: httpx.Client, form: dict[str, str]) -> Headers:
    response = http.post("/v1/auth/token", data=form)
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@dataclass
class Onboarding:
    """Institutions onboarded on one server through plain HTTP (the benchmarks' set-up):
    their admin and client credentials, made once each."""

    http: httpx.Client
    operators: Operators = LOCAL

    def __post_init__(self) -> None:
        self.admins: dict[str, tuple[str, str]] = {}  # iid -> its admin's client credentials
        self.clients: dict[str, tuple[str, str]] = {}  # iid -> its professionals' client

    def admin(self, iid: str) -> Headers:
        """A token of ``iid``'s admin (proposed and approved the first time)."""
        if iid not in self.admins:
            proposer = bearer(self.http, client_form(*self.operators.proposer))
            approver = bearer(self.http, client_form(*self.operators.approver))
            proposed = self.http.post(
                f"/v1/admin/institutions/{iid}/admin-credential-proposals", headers=proposer
            ).raise_for_status()
            approved = self.http.post(
                f"/v1/admin/credential-proposals/{proposed.json()['id']}/approve",
                headers=approver,
            ).raise_for_status()
            self.admins[iid] = (approved.json()["client_id"], approved.json()["client_secret"])
        return bearer(self.http, client_form(*self.admins[iid]))

    def client(self, iid: str) -> tuple[str, str]:
        """``iid``'s client credentials for its professionals' tokens."""
        if iid not in self.clients:
            made = self.http.post(f"/v1/institutions/{iid}/credentials", headers=self.admin(iid))
            body = made.raise_for_status().json()
            self.clients[iid] = (body["client_id"], body["client_secret"])
        return self.clients[iid]

    def professional(self, iid: str, name: str, profession: str) -> Headers:
        """A professional registered by ``iid``'s admin, logged in."""
        registered = self.http.post(
            f"/v1/institutions/{iid}/professionals",
            headers=self.admin(iid),
            json={"name": name, "profession": profession},
        ).raise_for_status()
        form = client_form(*self.client(iid), professional_id=registered.json()["id"])
        return bearer(self.http, form)

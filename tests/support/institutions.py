"""Onboarding an institution over HTTP, as a deployment does it (R9: four eyes): one
operator proposes its admin credential, a second approves; the admin client then registers
the institution's professionals and client credentials."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from tests.support.http import bearer

SECOND_OPERATOR = "operator-2"
SECOND_OPERATOR_SECRET = "test-second-operator-secret-0123456789"


def token(http: httpx.Client, **form: str) -> str:
    response = http.post("/v1/auth/token", data=form)
    assert response.status_code == 200, response.text
    value: str = response.json()["access_token"]
    return value


def operator_headers(http: httpx.Client, client_id: str, secret: str) -> dict[str, str]:
    return bearer(
        token(http, grant_type="client_credentials", client_id=client_id, client_secret=secret)
    )


def onboard(
    http: httpx.Client, proposer: dict[str, str], approver: dict[str, str], institution_id: str
) -> tuple[str, str]:
    """The institution's admin credential (client id, secret), by proposal and approval."""
    proposed = http.post(
        f"/v1/admin/institutions/{institution_id}/admin-credential-proposals", headers=proposer
    )
    assert proposed.status_code == 201, proposed.text
    approved = http.post(
        f"/v1/admin/credential-proposals/{proposed.json()['id']}/approve", headers=approver
    )
    assert approved.status_code == 200, approved.text
    return approved.json()["client_id"], approved.json()["client_secret"]


@dataclass
class Institutions:
    """Institutions onboarded on one server, their admin tokens and client credentials."""

    http: httpx.Client
    proposer: tuple[str, str]  # an operator's client id and secret
    approver: tuple[str, str]  # another operator's
    _admins: dict[str, tuple[str, str]] = field(default_factory=dict)
    _clients: dict[str, tuple[str, str]] = field(default_factory=dict)

    def admin(self, institution_id: str) -> dict[str, str]:
        """The institution's admin token (onboarding it the first time)."""
        if institution_id not in self._admins:
            self._admins[institution_id] = onboard(
                self.http,
                operator_headers(self.http, *self.proposer),
                operator_headers(self.http, *self.approver),
                institution_id,
            )
        client_id, secret = self._admins[institution_id]
        return bearer(
            token(
                self.http,
                grant_type="client_credentials",
                client_id=client_id,
                client_secret=secret,
            )
        )

    def client(self, institution_id: str) -> tuple[str, str]:
        """The institution's client credentials for its professionals' tokens."""
        if institution_id not in self._clients:
            r = self.http.post(
                f"/v1/institutions/{institution_id}/credentials", headers=self.admin(institution_id)
            )
            assert r.status_code == 201, r.text
            self._clients[institution_id] = (r.json()["client_id"], r.json()["client_secret"])
        return self._clients[institution_id]

    def professional_id(self, institution_id: str, profession: str = "doctor") -> str:
        r = self.http.post(
            f"/v1/institutions/{institution_id}/professionals",
            headers=self.admin(institution_id),
            json={"name": "Dr Test", "profession": profession},
        )
        assert r.status_code == 201, r.text
        ident: str = r.json()["id"]
        return ident

    def professional(self, institution_id: str, profession: str = "doctor") -> dict[str, str]:
        """A new professional of the institution; their token's headers."""
        pid = self.professional_id(institution_id, profession)
        client_id, secret = self.client(institution_id)
        return bearer(
            token(
                self.http,
                grant_type="client_credentials",
                client_id=client_id,
                client_secret=secret,
                professional_id=pid,
            )
        )

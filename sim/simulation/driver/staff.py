"""The staff a run needs: one professional per (institution, role), hired by the operator
during set-up, each with the login of their institution's client."""

from __future__ import annotations

from policies.policy_file import Policy
from policies.vocabulary import Profession, Region
from sim.simulation.client import Api, Call, Caller, Login, ServerRefused
from sim.simulation.events import (
    Attack,
    DepositEhr,
    DepositRadiology,
    Event,
    ForeignScan,
    ProviderView,
    RevokeConsent,
    Visit,
)

ATTACKER = "attacker"  # a role: a doctor's login, used to guess passcodes


def staff_of(event: Event) -> list[tuple[str, str]]:
    """The professionals ``event`` needs: (institution id, profession or ATTACKER)."""
    doctor = Profession.DOCTOR.value
    match event:
        case RevokeConsent() | DepositEhr() | ForeignScan():
            return [(event.institution_id, doctor)]
        case Visit():
            foreign = event.foreign_institution
            return [(event.institution_id, doctor)] + ([(foreign, doctor)] if foreign else [])
        case Attack():
            return [(event.institution_id, ATTACKER)]
        case ProviderView():
            return [(event.institution_id, event.profession.value)]
        case DepositRadiology():
            return [(event.institution_id, Profession.RADIOGRAPHER.value)]
    return []


class Roster:
    """The hired professionals' logins, by (institution id, role)."""

    def __init__(self, api: Api, policy: Policy) -> None:
        self.api = api
        self.policy = policy
        self.logins: dict[tuple[str, str], Login] = {}

    def hire(self, iid: str, role: str) -> None:
        """The operator registers a professional for ``role`` at ``iid`` (issuing the
        institution's client first, if this is its first professional)."""
        operator = Caller("operator", self.api.operator())
        form = self._client_form(iid, operator)
        profession = Profession.DOCTOR.value if role == ATTACKER else role
        hired = self.api.call(
            operator,
            Call(
                "create_professional",
                "POST",
                f"/v1/institutions/{iid}/professionals",
                json={"name": f"Sim {role} of {iid}", "profession": profession},
            ),
        )
        if not hired.ok:
            raise ServerRefused(f"a professional at {iid} was refused: {hired.outcome}")
        form["professional_id"] = hired.field("id")
        region = self.policy.institutions[iid].region
        kind = "mainland_professional" if region is Region.MAINLAND else "hk_professional"
        self.logins[(iid, role)] = Login(f"staff:{iid}:{role}", kind, form)

    def _client_form(self, iid: str, operator: Caller) -> dict[str, str]:
        """The token form of ``iid``'s client: an earlier hire's, or newly issued."""
        client = next((login for (i, _), login in self.logins.items() if i == iid), None)
        if client is not None:
            return dict(client.form)
        made = self.api.call(
            operator,
            Call("create_credentials", "POST", f"/v1/institutions/{iid}/credentials"),
        )
        if not made.ok:
            raise ServerRefused(f"credentials for {iid} refused: {made.outcome}")
        return {
            "grant_type": "client_credentials",
            "client_id": made.field("client_id"),
            "client_secret": made.field("client_secret"),
        }

    def login(self, iid: str, role: str | Profession = Profession.DOCTOR) -> Login:
        return self.logins[(iid, str(role))]

    def caller(self, iid: str, role: str | Profession = Profession.DOCTOR) -> Caller:
        """The professional for ``role`` at ``iid``, with a token."""
        login = self.login(iid, role)
        return Caller(login.actor_kind, self.api.headers(login))

"""The staff a run needs: one professional per (institution, role), registered during
set-up by their institution's admin, each with the login of their institution's client.
An institution is onboarded at its first hire: one operator proposes its admin credential,
a second approves it (R9, four eyes)."""

from __future__ import annotations

from policies.policy_file import Policy
from policies.vocabulary import Profession, Region
from sim.onboarding import client_form
from sim.simulation.client import Answer, Api, Call, Caller, Login, ServerRefused
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
        self.admins: dict[str, Login] = {}

    def hire(self, iid: str, role: str) -> None:
        """``iid``'s admin registers a professional for ``role`` (the institution is
        onboarded and issues its client first, if this is its first professional)."""
        admin = self._admin(iid)
        form = self._client_form(iid, admin)
        profession = Profession.DOCTOR.value if role == ATTACKER else role
        hired = self.api.call(
            admin,
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

    def _admin(self, iid: str) -> Caller:
        """``iid``'s admin, onboarded by two operators the first time."""
        if iid not in self.admins:
            proposed = self._required(
                Caller("operator", self.api.operator()),
                Call(
                    "propose_admin_credential",
                    "POST",
                    f"/v1/admin/institutions/{iid}/admin-credential-proposals",
                ),
                f"onboarding {iid}",
            )
            approved = self._required(
                Caller("operator", self.api.approver()),
                Call(
                    "approve_admin_credential",
                    "POST",
                    f"/v1/admin/credential-proposals/{proposed.field('id')}/approve",
                ),
                f"approving {iid}'s admin",
            )
            form = client_form(approved.field("client_id"), approved.field("client_secret"))
            self.admins[iid] = Login(f"admin:{iid}", "institution_admin", form)
        return Caller("institution_admin", self.api.headers(self.admins[iid]))

    def _client_form(self, iid: str, admin: Caller) -> dict[str, str]:
        """The token form of ``iid``'s client: an earlier hire's, or newly issued."""
        client = next((login for (i, _), login in self.logins.items() if i == iid), None)
        if client is not None:
            return dict(client.form)
        made = self._required(
            admin,
            Call("create_credentials", "POST", f"/v1/institutions/{iid}/credentials"),
            f"credentials for {iid}",
        )
        return client_form(made.field("client_id"), made.field("client_secret"))

    def _required(self, caller: Caller, call: Call, what: str) -> Answer:
        answer = self.api.call(caller, call)
        if not answer.ok:
            raise ServerRefused(f"{what} was refused: {answer.outcome}")
        return answer

    def login(self, iid: str, role: str | Profession = Profession.DOCTOR) -> Login:
        return self.logins[(iid, str(role))]

    def caller(self, iid: str, role: str | Profession = Profession.DOCTOR) -> Caller:
        """The professional for ``role`` at ``iid``, with a token."""
        login = self.login(iid, role)
        return Caller(login.actor_kind, self.api.headers(login))

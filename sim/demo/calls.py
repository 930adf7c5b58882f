"""The calls several steps of the demo make (tokens, professionals, authorisations,
sessions, record lists, the access log), and what earlier steps created."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from sim.demo.narrator import Actor, Answer, Body, Call, Narrator
from sim.demo.printing import hk_time, masked, short, today_in_hong_kong
from sim.onboarding import Operators, client_form


class Calls:
    """The shared calls, and the ids, codes and actors the steps pass on to each other."""

    def __init__(self, narrator: Narrator, operators: Operators) -> None:
        self.n = narrator
        self.operators = operators
        self.today = today_in_hong_kong()
        self.password = "demo-" + secrets.token_urlsafe(18)
        self.clients: dict[str, tuple[str, str]] = {}  # institution -> (client id, secret)
        self.admins: dict[str, Actor] = {}  # institution -> its admin, with a token
        self.person = self.hku_doctor = Actor("nobody yet")
        self.person_id = self.cross_border_id = self.session_id = ""
        self.codes = ("", "")  # application code, passcode
        self.radiology_id = self.radiology_code = ""
        self.digests: set[str] = set()  # the depositor's receipts

    def token(self, label: str, form: dict[str, str], summary: str) -> Actor:
        answer = self.n.call(
            Actor(label),
            Call(
                "POST",
                "/v1/auth/token",
                data=form,
                summary=summary,
                brief=lambda b: f"{b['role']} token for {b['expires_in']} s (not shown)",
            ),
        )
        return Actor(label, {"Authorization": f"Bearer {answer.body['access_token']}"})

    def professional(self, institution_id: str, name: str, profession: str, label: str) -> Actor:
        """The institution's admin issues its client (once) and registers a professional,
        who then obtains a token."""
        admin = self.admin(institution_id)
        if institution_id not in self.clients:
            self.clients[institution_id] = self._issue_client(admin, institution_id)
        registered = self.n.call(
            admin,
            Call(
                "POST",
                f"/v1/institutions/{institution_id}/professionals",
                json={"name": name, "profession": profession},
                summary=f"{name}, {profession}",
                expect=201,
                brief=lambda b: f"professional {short(b['id'])}",
            ),
        ).body
        client_id, secret = self.clients[institution_id]
        form = client_form(client_id, secret, professional_id=registered["id"])
        return self.token(label, form, f"client_credentials, {client_id}, {name}")

    def admin(self, institution_id: str) -> Actor:
        """The institution's admin: onboarded the first time, by two operators — one
        proposes the admin credential, the other approves it (four eyes)."""
        if institution_id not in self.admins:
            proposer = self.operator_token("operator", self.operators.proposer)
            approver = self.operator_token("second operator", self.operators.approver)
            proposal = self.n.call(
                proposer,
                Call(
                    "POST",
                    f"/v1/admin/institutions/{institution_id}/admin-credential-proposals",
                    expect=201,
                    brief=lambda b: f"proposal {short(b['id'])}, awaiting a second operator",
                ),
            ).body
            approved = self.n.call(
                approver,
                Call(
                    "POST",
                    f"/v1/admin/credential-proposals/{proposal['id']}/approve",
                    brief=lambda b: f"admin client {b['client_id']}, secret shown once",
                ),
            ).body
            form = client_form(approved["client_id"], approved["client_secret"])
            label = f"{institution_id} admin"
            self.admins[institution_id] = self.token(label, form, f"client_credentials, {label}")
        return self.admins[institution_id]

    def operator_token(self, label: str, credentials: tuple[str, str]) -> Actor:
        return self.token(label, client_form(*credentials), f"client_credentials, {label}")

    def _issue_client(self, admin: Actor, institution_id: str) -> tuple[str, str]:
        """The admin issues the institution's client credentials: (id, secret)."""
        issued = self.n.call(
            admin,
            Call(
                "POST",
                f"/v1/institutions/{institution_id}/credentials",
                expect=201,
                brief=lambda b: f"client_id {b['client_id']}, secret shown once (not here)",
            ),
        ).body
        return issued["client_id"], issued["client_secret"]

    def open_session(self, who: Actor, codes: tuple[str, str], expect: int) -> Answer:
        application_code, passcode = codes
        return self.n.call(
            who,
            Call(
                "POST",
                "/v1/cross-border/sessions",
                json={"application_code": application_code, "passcode": passcode},
                summary=(
                    f"application code {masked(application_code)}, passcode {masked(passcode)}"
                ),
                expect=expect,
                brief=lambda b: (
                    f"session {short(b['session_id'])}, visible since {b['visible_since']}, "
                    f"until {hk_time(b['expires_at'])}"
                ),
            ),
        )

    def apply_cross_border(self, institution_id: str, expect: int = 201) -> Answer:
        return self._ask_authorisation(
            "cross-border-authorisations",
            institution_id,
            expect,
            lambda b: (
                f"authorisation {short(b['id'])}: application code "
                f"{masked(b['application_code'])}, passcode {masked(b['passcode'])}, usable "
                f"from {hk_time(b['usable_from'])}, expires {hk_time(b['expires_at'])}"
            ),
        )

    def authorise_radiology(self, institution_id: str, expect: int = 201) -> Answer:
        return self._ask_authorisation(
            "radiology-authorisations",
            institution_id,
            expect,
            lambda b: (
                f"authorisation {short(b['id'])}: code {masked(b['authorisation_code'])}, "
                f"expires {hk_time(b['expires_at'])}"
            ),
        )

    def _ask_authorisation(
        self, kind: str, institution_id: str, expect: int, brief: Callable[[Body], str]
    ) -> Answer:
        """The person asks for an authorisation of ``kind`` for one institution."""
        return self.n.call(
            self.person,
            Call(
                "POST",
                f"/v1/me/{kind}",
                json={"institution_id": institution_id},
                summary=f"institution {institution_id}",
                expect=expect,
                brief=brief,
            ),
        )

    def list_records(self, who: Actor, path: str, **params: str) -> list[Body]:
        items: list[Body] = self.n.call(
            who,
            Call(
                "GET",
                path,
                params={"limit": "200", **params},
                brief=lambda b: f"{len(b['items'])} records",
            ),
        ).body["items"]
        self.n.records(items)
        return items

    def access_log(self, limit: int) -> list[Body]:
        entries: list[Body] = self.n.call(
            self.person,
            Call(
                "GET",
                "/v1/me/access-log",
                params={"limit": limit},
                brief=lambda b: f"the {len(b['items'])} latest entries",
            ),
        ).body["items"]
        return entries

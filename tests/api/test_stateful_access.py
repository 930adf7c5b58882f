"""A stateful test of the whole API against a deliberately plain model of who may see what.

Hypothesis drives grants, revocations, cross-border applications and sessions, deposits
and clock jumps through the real HTTP API, and after every read compares the answer with
the model. The invariant: every permitted view by someone other than the person produced
exactly one notification (R11), and nothing was readable that the model forbids. Every
reader also reads over the FHIR facade (a Mainland reader through their viewing session
in ``X-Viewing-Session``): what each sees there equals what they see over REST.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from api.fhir.resources import record_resource_id, split_record_id
from tests.api.conftest import PASSWORD, World
from tests.support.http import bearer

HK = timezone(timedelta(hours=8))
READERS = ("owner", "ha", "hksh", "hku_sz", "clinic")  # one of each kind of reader


def shift_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 Feb
        return day.replace(year=day.year + years, day=28)


class AccessModel(RuleBasedStateMachine):
    world: World

    @initialize()
    def setup(self) -> None:
        w = self.world
        self.pid, _ = w.person(dob="1950-01-01")
        self.credentials: dict[str, tuple[str, str, str]] = {}
        for iid in ("ha", "hksh", "hku_sz", "harbourview_clinics"):
            self._register(iid)
        self.records: dict[str, date] = {}
        self.consent: tuple[str, datetime] | None = None  # (id, expires_at)
        self.authorisation: tuple[str, str, str, datetime] | None = None  # id, code, pass, exp
        self.viewing: tuple[str, datetime] | None = None  # (session id, expires_at)
        self.notifications = 0
        self.tokens: dict[str, dict[str, str]] = {}
        for days_ago in (0, 3 * 365 - 2, 3 * 365 + 2, 5 * 365):  # straddle the lookback
            self.deposit(days_ago)

    def _register(self, iid: str) -> None:
        registry = self.world.registry
        client_id, secret = registry.client(iid)
        self.credentials[iid] = (client_id, secret, registry.professional_id(iid))

    def _now(self) -> datetime:
        return self.world.vault.clock.now()

    def _headers(self, who: str) -> dict[str, str]:
        """A token for ``who``, reused until the clock moves (tokens live 15 minutes)."""
        if who not in self.tokens:
            self.tokens[who] = self._login(who)
        return self.tokens[who]

    def _login(self, who: str) -> dict[str, str]:
        w = self.world
        if who == "owner":
            return bearer(w.token(grant_type="password", username=self.pid, password=PASSWORD))
        iid = "harbourview_clinics" if who == "clinic" else who
        client_id, secret, professional = self.credentials[iid]
        return bearer(
            w.token(
                grant_type="client_credentials",
                client_id=client_id,
                client_secret=secret,
                professional_id=professional,
            )
        )

    def _fhir_headers(self, who: str) -> dict[str, str]:
        headers = self._headers(who)
        if who == "hku_sz":
            sid = self.viewing[0] if self.viewing else "0" * 32
            return {**headers, "X-Viewing-Session": sid}
        return headers

    def _fhir_listed(self, who: str) -> set[str]:
        r = self.world.http.get(
            "/fhir/r4/DocumentReference",
            headers=self._fhir_headers(who),
            params={"patient": self.pid, "_count": 200},
        )
        assert r.status_code == 200, (who, r.text)
        found = [split_record_id(e["resource"]["id"]) for e in r.json()["entry"]]
        return {ids[1] for ids in found if ids is not None}

    # --- the model ---------------------------------------------------------------------

    def _may_read(self, who: str, record_id: str) -> bool:
        now = self._now()
        if who in ("owner", "ha"):
            return True
        if who == "hksh":
            return self.consent is not None and now < self.consent[1]
        if who == "hku_sz":
            if self.viewing is None or self.authorisation is None:
                return False
            if now >= self.viewing[1] or now >= self.authorisation[3]:
                return False
            today = now.astimezone(HK).date()
            return shift_years(today, -3) <= self.records[record_id] <= today
        return False

    # --- rules -------------------------------------------------------------------------

    @rule(days_ago=st.integers(min_value=0, max_value=6 * 366))
    def deposit(self, days_ago: int) -> None:
        clinical = self._now().astimezone(HK).date() - timedelta(days=days_ago)
        record_id = self.world.deposit(
            self.pid, self._headers("ha"), clinical_date=clinical.isoformat()
        )
        self.records[record_id] = clinical

    @rule()
    def grant_sharing_consent(self) -> None:
        r = self.world.http.post(
            "/v1/me/sharing-consents",
            headers=self._headers("owner"),
            json={"institution_id": "hksh", "kind": "one_year", "scopes": ["ehr"]},
        )
        assert r.status_code == 201, r.text
        body = r.json()
        self.consent = (body["id"], datetime.fromisoformat(body["expires_at"]))

    @precondition(lambda self: self.consent is not None)
    @rule()
    def revoke_sharing_consent(self) -> None:
        assert self.consent is not None
        r = self.world.http.delete(
            f"/v1/me/sharing-consents/{self.consent[0]}", headers=self._headers("owner")
        )
        assert r.status_code == 204, r.text
        self.consent = None

    @rule()
    def apply_cross_border(self) -> None:
        r = self.world.http.post(
            "/v1/me/cross-border-authorisations",
            headers=self._headers("owner"),
            json={"institution_id": "hku_sz"},
        )
        assert r.status_code == 201, r.text
        b = r.json()
        self.authorisation = (
            b["id"],
            b["application_code"],
            b["passcode"],
            datetime.fromisoformat(b["expires_at"]),
        )
        self.viewing = None  # a session belongs to the previous authorisation: forget it

    @precondition(lambda self: self.authorisation is not None)
    @rule()
    def revoke_cross_border(self) -> None:
        assert self.authorisation is not None
        r = self.world.http.delete(
            f"/v1/me/cross-border-authorisations/{self.authorisation[0]}",
            headers=self._headers("owner"),
        )
        assert r.status_code == 204, r.text
        self.authorisation = None

    @precondition(lambda self: self.authorisation is not None)
    @rule()
    def open_session(self) -> None:
        assert self.authorisation is not None
        _, code, passcode, expires = self.authorisation
        r = self.world.http.post(
            "/v1/cross-border/sessions",
            headers=self._headers("hku_sz"),
            json={"application_code": code, "passcode": passcode},
        )
        if self._now() >= expires:
            assert r.status_code >= 400
            return
        assert r.status_code == 201, r.text
        self.viewing = (r.json()["session_id"], datetime.fromisoformat(r.json()["expires_at"]))

    @rule(
        jump=st.sampled_from(
            [timedelta(minutes=1), timedelta(hours=3), timedelta(days=40), timedelta(days=400)]
        )
    )
    def advance_clock(self, jump: timedelta) -> None:
        self.world.vault.clock.advance(jump)  # type: ignore[attr-defined]
        self.tokens.clear()
        w = self.world
        w.operator = bearer(
            w.token(
                grant_type="client_credentials",
                client_id="operator",
                client_secret="test-operator-secret-0123456789abcdef",
            )
        )

    @precondition(lambda self: bool(self.records))
    @rule(data=st.data())
    def everyone_reads(self, data: st.DataObject) -> None:
        """Every kind of reader asks for the same record; each answer must match the model."""
        record_id = data.draw(st.sampled_from(sorted(self.records)))
        for who in READERS:
            self.read(who, record_id)

    @invariant()
    def everyone_lists(self) -> None:
        """Every kind of reader lists the person's records: exactly the model's visible set."""
        if not hasattr(self, "pid"):
            return
        for who in READERS:
            if who == "owner":
                url = "/v1/me/records?limit=200"
            elif who == "hku_sz":
                sid = self.viewing[0] if self.viewing else "0" * 32
                url = f"/v1/cross-border/sessions/{sid}/records?limit=200"
            else:
                url = f"/v1/patients/{self.pid}/records?limit=200"
            expected = {rid for rid in self.records if self._may_read(who, rid)}
            assert self._fhir_listed(who) == expected, ("fhir", who)
            r = self.world.http.get(url, headers=self._headers(who))
            if r.status_code == 404:  # no access at all answers like an unknown person
                assert not expected, (who, expected)
                continue
            assert r.status_code == 200, (who, r.text)
            assert {item["id"] for item in r.json()["items"]} == expected, who

    def read(self, who: str, record_id: str) -> None:
        headers = self._headers(who)
        if who == "owner":
            url = f"/v1/me/records/{record_id}/content"
        elif who == "hku_sz":
            sid = self.viewing[0] if self.viewing else "0" * 32
            url = f"/v1/cross-border/sessions/{sid}/records/{record_id}/content"
        else:
            url = f"/v1/patients/{self.pid}/records/{record_id}/content"
        expected = self._may_read(who, record_id)
        r = self.world.http.get(url, headers=headers)
        assert r.status_code == (200 if expected else 404), (who, r.status_code, r.text)
        binary = f"/fhir/r4/Binary/{record_resource_id(self.pid, record_id)}"
        over_fhir = self.world.http.get(binary, headers=self._fhir_headers(who))
        assert over_fhir.status_code == r.status_code, ("fhir", who, over_fhir.text)
        if expected:
            assert over_fhir.content == r.content
        if expected and who != "owner":
            self.notifications += 2  # the REST read and the FHIR read: each is notified

    @invariant()
    def every_view_by_others_was_notified(self) -> None:
        if not hasattr(self, "pid"):
            return
        r = self.world.http.get("/v1/me/notifications?limit=200", headers=self._headers("owner"))
        assert r.status_code == 200, r.text
        views = [n for n in r.json()["items"] if n["event"] in ("read_content", "read_record")]
        assert len(views) == self.notifications


def test_api_agrees_with_the_access_model(world: World) -> None:
    def machine() -> AccessModel:
        m = AccessModel()
        m.world = world
        return m

    run_state_machine_as_test(
        machine,  # type: ignore[arg-type]  # hypothesis accepts any factory of machines
        settings=settings(
            max_examples=20,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


def test_the_model_catches_a_read_after_revocation(world: World) -> None:
    """The shortest story the machine must judge: grant, revoke, then the provider reads."""
    m = AccessModel()
    m.world = world
    m.setup()
    m.deposit(days_ago=10)
    m.grant_sharing_consent()
    m.revoke_sharing_consent()
    m.read("hksh", next(iter(m.records)))
    m.every_view_by_others_was_notified()

"""The simulator's HTTP side: keep-alive connections per worker thread, each call to the
least busy server process (:mod:`sim.simulation.wire`), tokens
obtained through ``POST /v1/auth/token`` and reused until the simulated clock moves, and
every answer timed and counted in the :class:`~sim.simulation.tally.Tally`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sim.onboarding import Operators, client_form
from sim.simulation.tally import Tally
from sim.simulation.wire import Connections, Reply, WireError, encoded

Headers = dict[str, str]
TOKEN_REUSE_SECONDS = 600.0  # tokens live 15 minutes of server time; renew well before


class ServerGone(RuntimeError):
    """The server stopped answering (or never did). One line, for the command to print."""


class ServerRefused(RuntimeError):
    """A call the simulation cannot go on without (a login, the clock, registering a
    person) was refused. One line."""


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: its status, its JSON body (if any) and its problem code."""

    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def outcome(self) -> str:
        """``ok``, or the problem ``code`` (with the ``reason`` a refused applicant is
        told, e.g. ``cross_border_not_permitted:not_eligible``), or ``http_<status>``."""
        if self.ok:
            return "ok"
        if isinstance(self.body, dict) and isinstance(self.body.get("code"), str):
            reason = self.body.get("reason")
            return f"{self.body['code']}:{reason}" if isinstance(reason, str) else self.body["code"]
        return f"http_{self.status}"

    def field(self, name: str) -> Any:
        return self.body.get(name) if isinstance(self.body, dict) else None


@dataclass(frozen=True)
class Caller:
    """Who makes a call: the actor kind the tally counts it under, and their headers."""

    actor_kind: str
    headers: Headers | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Call:
    """One HTTP call, of a ``kind`` the tally counts and times (``open_session``…)."""

    kind: str
    method: str
    path: str
    json: Any = field(default=None, repr=False)
    params: dict[str, Any] | None = None
    data: dict[str, str] | None = field(default=None, repr=False)
    content: bytes | None = field(default=None, repr=False)
    content_type: str | None = None  # sent as Content-Type, besides the caller's headers


@dataclass(frozen=True)
class Login:
    """How an actor obtains a token: the form for ``POST /v1/auth/token``."""

    key: str  # cache key, e.g. person:<id>
    actor_kind: str
    form: dict[str, str]


class Api:
    """Calls the crossvault API; counts and times every call."""

    def __init__(
        self, base: str, operators: Operators, tally: Tally, workers_at: Sequence[str] = ()
    ) -> None:
        self.base = base
        self.tally = tally
        self.http = Connections(base, workers_at=workers_at)  # (see sim.simulation.serving)
        self.operator_login = Login("operator", "operator", client_form(*operators.proposer))
        self.approver_login = Login("approver", "operator", client_form(*operators.approver))
        self.epoch = 0  # bumped whenever the simulated clock moves: tokens end with it
        self._tokens: dict[str, tuple[int, float, Headers]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def close(self) -> None:
        self.http.close()

    # --- calls ---------------------------------------------------------------------------

    def call(self, caller: Caller, call: Call) -> Answer:
        """Make ``call`` as ``caller``; count and time the answer."""
        body, content_type = encoded(json_body=call.json, form=call.data, content=call.content)
        headers = dict(caller.headers or {})
        kind = call.content_type or content_type
        if kind is not None:
            headers["Content-Type"] = kind
        started = time.perf_counter()
        reply = self._send(call.method, call.path, call.params, headers, body)
        elapsed = time.perf_counter() - started
        answer = Answer(reply.status, _json(reply))
        self.tally.answer(call.kind, caller.actor_kind, answer.outcome, elapsed)
        return answer

    def text(self, path: str, headers: Headers) -> str:
        """``GET path``'s body as text, neither counted nor timed (the server's own
        figures, not a simulated actor's call)."""
        return self._send("GET", path, None, headers, None).body.decode(errors="replace")

    def _send(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        headers: Headers,
        body: bytes | None,
    ) -> Reply:
        try:
            return self.http.request(method, path, params=params, headers=headers, body=body)
        except WireError as exc:
            raise ServerGone(f"lost the server at {self.base}: {exc}") from None

    # --- tokens --------------------------------------------------------------------------

    def headers(self, login: Login) -> Headers:
        """A bearer header for ``login``'s actor, from the cache while the clock has not
        moved (and the token is young), else freshly issued."""
        with self._guard:
            lock = self._locks.setdefault(login.key, threading.Lock())
        with lock:
            cached = self._tokens.get(login.key)
            fresh = cached is not None and cached[0] == self.epoch
            if cached is not None and fresh and time.monotonic() - cached[1] < TOKEN_REUSE_SECONDS:
                return cached[2]
            answer = self.call(
                Caller(login.actor_kind),
                Call(f"login_{login.actor_kind}", "POST", "/v1/auth/token", data=login.form),
            )
            token = answer.field("access_token")
            if not answer.ok or not isinstance(token, str):
                hint = {
                    self.operator_login.key: " (check --operator-secret)",
                    self.approver_login.key: " (check --approver)",
                }.get(login.key, "")
                raise ServerRefused(f"{login.actor_kind} login refused: {answer.outcome}{hint}")
            headers = {"Authorization": f"Bearer {token}"}
            self._tokens[login.key] = (self.epoch, time.monotonic(), headers)
            return headers

    def operator(self) -> Headers:
        return self.headers(self.operator_login)

    def approver(self) -> Headers:
        """The second operator, who approves what the first proposes (four eyes)."""
        return self.headers(self.approver_login)

    # --- the simulated clock --------------------------------------------------------------

    def set_clock(self, instant: datetime) -> None:
        """Move the server's simulated clock (``POST /v1/admin/clock``); every token
        issued before is dropped (they are bound to server time)."""
        answer = self.call(
            Caller("operator", self.operator()),
            Call("set_clock", "POST", "/v1/admin/clock", json={"set_to": instant.isoformat()}),
        )
        if answer.status == 409:
            raise ServerRefused(
                f"the server at {self.base} does not have a simulated clock "
                "(start it with CROSSVAULT_CLOCK=simulated)"
            )
        if not answer.ok:
            raise ServerRefused(f"setting the clock was refused: {answer.outcome}")
        self.epoch += 1


def _json(reply: Reply) -> Any:
    if "json" not in reply.content_type:
        return None
    try:
        return json.loads(reply.body)
    except ValueError:
        return None

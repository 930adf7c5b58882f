"""No timing oracle (issue 15, item 4): another institution's viewing session and a session
id that does not exist take the same work. 200 interleaved pairs (the order inside each
pair alternating), and a sign test on the paired differences shifted by the 0.2 ms the
issue allows: if either were consistently slower by more than that, most shifted
differences would share a sign; with 200 pairs, 130 or more of one sign happens by chance
with probability below 10^-5."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import httpx

from tests.api.conftest import World
from tests.api.cross_border_support import SESSIONS, authorise, staff

PAIRS, ALLOWED_MS, SIGN_LIMIT = 200, 0.2, 130


def _timed(call: Callable[[], httpx.Response]) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = call()
    return (time.perf_counter() - started) * 1000, response


def test_a_hidden_session_takes_the_same_time_as_a_missing_one(world: World) -> None:
    pid, _ = world.person()
    opened = staff(world, "hku_sz").open(authorise(world, pid, "hku_sz"))
    assert opened.status_code == 201, opened.text
    hidden = f"{SESSIONS}/{opened.json()['session_id']}/records"
    other = staff(world, "sysu_first_affiliated")
    headers = other.headers()
    missing = [f"{SESSIONS}/{secrets.token_hex(16)}/records" for _ in range(PAIRS)]

    def read(path: str) -> Callable[[], httpx.Response]:
        return lambda: world.http.get(path, headers=headers)

    for _ in range(10):  # warm both paths
        read(hidden)(), read(missing[0])()
    slower = {"hidden": 0, "missing": 0}
    for i in range(PAIRS):
        first, second = (hidden, missing[i]) if i % 2 == 0 else (missing[i], hidden)
        (t1, r1), (t2, r2) = _timed(read(first)), _timed(read(second))
        assert (r1.status_code, r1.content) == (r2.status_code, r2.content)  # the same bytes
        t_hidden, t_missing = (t1, t2) if first == hidden else (t2, t1)
        if t_hidden - t_missing > ALLOWED_MS:
            slower["hidden"] += 1
        elif t_missing - t_hidden > ALLOWED_MS:
            slower["missing"] += 1
    assert max(slower.values()) < SIGN_LIMIT, slower

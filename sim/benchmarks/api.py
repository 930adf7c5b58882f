"""API benchmark: a Mainland professional listing 50 records in an open viewing session,
against a bare endpoint (``/healthz``) of the same server with the same worker count,
measured alternately in one run (requests per second, p50/p99 latency, ratio).

A control runs alongside on the same data: the real app plus a route with the list's own
dependencies and answer but no vault work (:mod:`sim.benchmarks.framework_probe`). Its
ratio is the most the list could reach; the gap between the two is the vault's share.

The list and its control are measured back to back in each of :data:`ROUNDS` rounds (in
turn first), and the ratio reported is the median round's: this machine's speed drifts by
a third within a minute, and a ratio of the best list run to the best control run, taken
from different moments, moved between 0.37 and 0.55 over four runs of the same code."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx

from sim.benchmarks import Measurement, accounts, framework_probe
from sim.benchmarks.loadgen import LoadResult, load
from sim.onboarding import Onboarding
from sim.server import ServerOptions, running_server

RECORDS = 50
WORKERS, CONCURRENCY = 1, 8  # one worker, saturated by eight connections
ROUNDS = 3
DOCTOR = ("Bench", "doctor")  # a professional's name and profession


@dataclass(frozen=True)
class OpenSession:
    url: str  # the session's record list, ``limit`` = every record
    headers: dict[str, str]  # the viewing professional's bearer token
    session_id: str


def open_viewing_session(base: str, records: int = RECORDS) -> OpenSession:
    """Set up through the API: a person with ``records`` HA records in the lookback, a
    cross-border authorisation for HKU-SZ, and an open session."""
    with httpx.Client(base_url=base, timeout=30) as http:
        return open_session(http, accounts.onboarding(http), records)


def open_session(
    http: httpx.Client, staff: Onboarding, records: int, name: str = "Bench Person"
) -> OpenSession:
    """One more person, their records, authorisation and open session (``staff``: the
    institutions onboarded once on this server)."""
    base = str(http.base_url).rstrip("/")
    pid = accounts.register_person(http, name, "1950-01-01")
    _deposit_records(http, staff.professional("ha", *DOCTOR), pid, records)
    me = accounts.citizen(http, pid)
    codes = (
        http.post(
            "/v1/me/cross-border-authorisations", headers=me, json={"institution_id": "hku_sz"}
        )
        .raise_for_status()
        .json()
    )
    viewer = staff.professional("hku_sz", *DOCTOR)
    session = (
        http.post(
            "/v1/cross-border/sessions",
            headers=viewer,
            json={"application_code": codes["application_code"], "passcode": codes["passcode"]},
        )
        .raise_for_status()
        .json()
    )
    sid = session["session_id"]
    url = f"{base}/v1/cross-border/sessions/{sid}/records?limit={records}"
    listed = http.get(url, headers=viewer).raise_for_status().json()
    assert len(listed["items"]) == records, "the session should see every record"
    return OpenSession(url, viewer, sid)


def _deposit_records(http: httpx.Client, ha: dict[str, str], pid: str, records: int) -> None:
    """``records`` lab reports a week apart, the newest today."""
    today = date.today()
    for i in range(records):
        http.post(
            f"/v1/patients/{pid}/records",
            headers=ha,
            json={
                "category": "lab_report",
                "clinical_date": str(today - timedelta(days=7 * i)),
                "title": f"Result {i}",
                "content": "x" * 512,
                "content_type": "text/plain",
            },
        ).raise_for_status()


def _best(results: list[LoadResult]) -> LoadResult:
    return max(results, key=lambda r: r.rps)


def median_pair(
    listed: list[LoadResult], control: list[LoadResult]
) -> tuple[LoadResult, LoadResult]:
    """The (list, control) pair of the round whose ratio is the median of the rounds'."""
    pairs = sorted(zip(listed, control, strict=True), key=lambda p: _ratio(*p))
    return pairs[len(pairs) // 2]


def _ratio(listed: LoadResult, control: LoadResult) -> float:
    return listed.rps / control.rps if control.rps else 0.0


def _capture_probe_body(data_dir: Path, url: str, headers: dict[str, str]) -> None:
    """The control answers the list's own bytes (same size, same serialisation)."""
    body = httpx.get(url, headers=headers, timeout=30).raise_for_status().content
    (data_dir / framework_probe.BODY_FILE).write_bytes(body)


def run(scale: float) -> list[Measurement]:
    seconds = max(2.0, 5.0 * scale)
    runs = _alternating_loads(seconds)
    b, pb = _best(runs["bare"]), _best(runs["probe_bare"])
    a, p = median_pair(runs["list"], runs["probe"])
    note = f"{WORKERS} worker, {CONCURRENCY} connections, {seconds:.0f}s x{ROUNDS} alternating"
    return [
        Measurement(
            "api",
            "session list of 50 records, against its control",
            a.rps,
            "req/s",
            baseline=p.rps,
            target_ratio=0.5,
            note=(
                "vs the control below (same dependencies and body, no vault), the median "
                f"of {ROUNDS} rounds measured back to back; {note}"
            ),
        ),
        Measurement(
            "api",
            "session list of 50 records",
            a.rps,
            "req/s",
            baseline=b.rps,
            note=f"vs /healthz; {note}; errors={a.errors}",
        ),
        Measurement("api", "session list p50 latency", a.p50, "ms", baseline=b.p50),
        Measurement(
            "api", "session list p99 latency", a.percentile(99), "ms", baseline=b.percentile(99)
        ),
        Measurement(
            "api",
            "control: the list's dependencies and body, no vault",
            p.rps,
            "req/s",
            baseline=pb.rps,
            note=(
                "vs /healthz of the control server (the real app plus this route); the "
                f"ceiling the framework leaves the list; errors={p.errors}"
            ),
        ),
        Measurement(
            "api",
            "vault share of a list request",
            _vault_share_ms(a, p),
            "ms",
            note="1/list - 1/control: decision, audit, notification, page, titles, commit",
        ),
    ]


def _alternating_loads(seconds: float) -> dict[str, list[LoadResult]]:
    """:data:`ROUNDS` rounds of the four loads (the list, the control, and each server's
    ``/healthz``), each run for ``seconds``; the list and the control back to back, in
    turn first."""
    runs: dict[str, list[LoadResult]] = {"bare": [], "list": [], "probe_bare": [], "probe": []}
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_server(Path(tmp), ServerOptions(WORKERS)) as served,
    ):
        opened = open_viewing_session(served.base)
        url, headers = opened.url, opened.headers
        _capture_probe_body(Path(tmp), url, headers)
        factory = framework_probe.FACTORY
        with running_server(Path(tmp), ServerOptions(WORKERS, factory=factory)) as control:
            probe = f"{control.base}{framework_probe.probe_path(opened.session_id)}?limit={RECORDS}"
            rounds = {
                "bare": (f"{served.base}/healthz", {}),
                "list": (url, headers),
                "probe": (probe, headers),
                "probe_bare": (f"{control.base}/healthz", {}),
            }
            for turn in range(ROUNDS):  # alternate so drift (thermal, caches) hits all alike
                order = list(rounds.items())
                for name, (target, sent) in order if turn % 2 == 0 else order[::-1]:
                    runs[name].append(
                        load(target, headers=sent, concurrency=CONCURRENCY, seconds=seconds)
                    )
    return runs


def _vault_share_ms(listed: LoadResult, control: LoadResult) -> float:
    """What a list request costs beyond the control, in server time per request (the
    server is saturated by 8 connections on one worker, so 1/throughput is its cost)."""
    return 1000 * (1 / listed.rps - 1 / control.rps) if listed.rps and control.rps else 0.0

"""Signed checkpoints over HTTP: public, without person ids; the person's access log
carries their chain head and an inclusion proof that ``crossvault audit prove`` checks
offline with nothing but the JWKS — and refuses once anything in the log is changed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.api.conftest import World
from vault.audit.checkpoints import make_checkpoint


def _checkpoint(world: World) -> None:
    made = make_checkpoint(world.vault.engine, world.vault.keyring, world.vault.clock.now())
    assert made is not None


def _prove(tmp_path: Path, pages: list[dict[str, Any]], jwks: dict[str, Any]) -> tuple[int, str]:
    files = []
    for i, page in enumerate(pages):
        files.append(tmp_path / f"log-{i}.json")
        files[-1].write_text(json.dumps(page))
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    jwks_file = str(tmp_path / "jwks.json")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "crossvault",
            "audit",
            "prove",
            *map(str, files),
            "--jwks",
            jwks_file,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return run.returncode, run.stdout + run.stderr


def test_the_latest_checkpoint_is_public_and_names_nobody(world: World) -> None:
    pid, _ = world.person()
    world.deposit(pid, world.professional("ha"))
    _checkpoint(world)
    latest = world.http.get("/v1/audit/checkpoints/latest")
    assert latest.status_code == 200
    body = latest.json()
    assert set(body) == {
        "number", "made_at", "tree_size", "root_hash", "prev_root_hash", "kid", "signature",
    }  # fmt: skip
    assert pid not in latest.text
    listed = world.http.get("/v1/audit/checkpoints", params={"limit": 1}).json()
    assert listed["items"] == [body]
    kids = [k["kid"] for k in world.http.get("/.well-known/jwks.json").json()["keys"]]
    assert body["kid"] in kids


def test_the_person_proves_their_log_offline_and_any_change_is_caught(
    world: World, tmp_path: Path
) -> None:
    pid, me = world.person()
    ha = world.professional("ha")
    record = world.deposit(pid, ha)
    for _ in range(3):
        assert world.http.get(f"/v1/patients/{pid}/records/{record}", headers=ha).status_code == 200
    _checkpoint(world)
    world.http.get(f"/v1/patients/{pid}/records/{record}", headers=ha)  # the chain goes on
    jwks = world.http.get("/.well-known/jwks.json").json()
    page = world.http.get("/v1/me/access-log", headers=me, params={"limit": 200}).json()
    assert page["chain"]["person_id"] == pid
    assert page["chain"]["length"] == page["items"][0]["seq"] == len(page["items"])
    proof = page["checkpoint_proof"]
    assert proof is not None and proof["leaf_length"] < page["chain"]["length"]
    code, output = _prove(tmp_path, [page], jwks)
    assert code == 0 and "verified" in output, output

    edited = json.loads(json.dumps(page))
    edited["items"][-2]["allowed"] = not edited["items"][-2]["allowed"]
    code, output = _prove(tmp_path, [edited], jwks)
    assert code == 1 and f"entry {edited['items'][-2]['seq']}: its hash" in output, output

    forged = json.loads(json.dumps(page))
    forged["checkpoint_proof"]["checkpoint"]["root_hash"] = "ab" * 32
    code, output = _prove(tmp_path, [forged], jwks)
    assert code == 1 and "signature does not verify" in output, output

    cut = json.loads(json.dumps(page))
    cut["items"] = cut["items"][1:]  # the newest entry hidden
    code, output = _prove(tmp_path, [cut], jwks)
    assert code == 1 and "not the chain's head" in output, output


def test_before_any_checkpoint_the_log_says_so(world: World) -> None:
    _, me = world.person()
    page = world.http.get("/v1/me/access-log", headers=me).json()
    assert page["chain"]["length"] >= 1
    assert page["checkpoint_proof"] is None  # a fresh vault: no checkpoint made yet
    missing = world.http.get("/v1/audit/checkpoints/latest")
    assert missing.status_code == 404
    assert missing.json()["code"] == "no_checkpoint"

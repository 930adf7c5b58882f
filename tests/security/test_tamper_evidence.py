"""Tamper evidence (issue 8, item 6): what an attacker with write access to the database
or the blob store changes is detected — never served as if it were the record.

Records, blobs and data keys are edited with the server stopped (an offline attacker:
nothing of the victims is in the server's key cache), then the server is started and
every victim's reads go over HTTP. Each must answer the one integrity problem —
``500``, ``application/problem+json``, ``code: integrity_failure``, no stack trace, no
content — or, for a streamed study damaged past its first chunk, break off before the
damaged chunk (never a complete ``200``, and nothing but authentic plaintext before the
break). Every record nobody touched still reads byte-identical.

Audit rows are edited, deleted, reordered, forged and truncated under a running server;
``crossvault audit verify`` must exit 1 and name the entry, ``GET /v1/admin/audit/verify``
must agree, and once the rows are put back the chain verifies again. Where the chain's
protection ends: it is a hash chain without a key, so an attacker who rewrites *every*
entry from the edit onwards *and* the head row produces a chain that verifies; catching
that needs a keyed chain or an anchor kept outside the database.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, update
from sqlmodel import Session, col

from sim.studies import Study, instance
from tests.security.support_crash import check_no_plaintext
from tests.security.support_servers import (
    DICOM_NAME,
    RADIOLOGY_INSTITUTION,
    Deployment,
    Person,
    Population,
    Server,
    all_records,
    new_person,
)
from vault.crypto.streams import CHUNK_SIZE, HEADER_SIZE
from vault.store.audit import entry_hash
from vault.store.tables import AuditEntry

CANARY = "PLAINTEXT-CANARY-7a3c9e1f0b2d4c68"


# --- helpers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """A record as deposited: whose, its id and the exact bytes."""

    person: Person
    id: str
    content: bytes


def _text(
    http: httpx.Client,
    population: Population,
    person: Person,
    n: int,
    *,
    ehr: bool = True,
) -> Stored:
    content = f"{CANARY} content {person.id} {n} " + "z" * (n * 37 % 500)
    body = {
        "category": "lab_report",
        "clinical_date": f"2025-0{1 + n % 9}-1{n % 10}",
        "title": f"{CANARY} title {n}",
        "content": content,
        "content_type": "text/plain",
    }
    if ehr:
        r = http.post(f"/v1/patients/{person.id}/records", headers=population.doctor, json=body)
    else:
        body["category"] = "document"
        r = http.post("/v1/me/folder", headers=person.headers, json=body)
    assert r.status_code == 201, r.text
    return Stored(person, r.json()["id"], content.encode())


def _study(
    http: httpx.Client, population: Population, person: Person, sides: list[int]
) -> list[Stored]:
    """A completed radiology deposit, one DICOM file per side length; its records."""
    study = Study(patient_name=DICOM_NAME, patient_id=CANARY[:64])
    r = http.post(
        "/v1/me/radiology-authorisations",
        headers=person.headers,
        json={"institution_id": RADIOLOGY_INSTITUTION},
    )
    assert r.status_code == 201, r.text
    r = http.post(
        "/v1/radiology/deposits",
        headers=population.radiographer,
        json={"authorisation_code": r.json()["authorisation_code"]},
    )
    assert r.status_code == 201, r.text
    deposit = r.json()["deposit_id"]
    contents = [instance(study, rows=side, columns=side) for side in sides]
    for index, content in enumerate(contents):
        r = http.put(
            f"/v1/radiology/deposits/{deposit}/files/f{index}.dcm",
            headers={**population.radiographer, "Content-Type": "application/dicom"},
            content=content,
        )
        assert r.status_code == 201, r.text
    r = http.post(f"/v1/radiology/deposits/{deposit}/complete", headers=population.radiographer)
    assert r.status_code == 200, r.text
    by_digest = {hashlib.sha256(c).hexdigest(): c for c in contents}
    stored = []
    for item in all_records(http, person.headers):
        body = http.get(f"/v1/me/records/{item['id']}/content", headers=person.headers).content
        stored.append(Stored(person, item["id"], by_digest[hashlib.sha256(body).hexdigest()]))
    return sorted(stored, key=lambda s: contents.index(s.content))


def _content(http: httpx.Client, record: Stored, **headers: str) -> httpx.Response:
    return http.get(
        f"/v1/me/records/{record.id}/content", headers={**record.person.headers, **headers}
    )


def _assert_integrity_problem(response: httpx.Response) -> None:
    """The one opaque answer to stored data that fails its check."""
    assert response.status_code == 500, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "integrity_failure", problem
    assert problem["status"] == 500
    assert CANARY not in response.text and "Traceback" not in response.text


def _assert_reads_fine(http: httpx.Client, record: Stored) -> None:
    r = _content(http, record)
    assert r.status_code == 200, r.text[:300]
    assert r.content == record.content
    assert http.get(f"/v1/me/records/{record.id}", headers=record.person.headers).status_code == 200


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def _column(deployment: Deployment, column: str, record: Stored) -> bytes:
    ((value,),) = deployment.query(f"SELECT {column} FROM record WHERE id = :id", id=record.id)
    return bytes(value)


def _set(deployment: Deployment, column: str, value: Any, record: Stored) -> None:
    touched = deployment.execute(
        f"UPDATE record SET {column} = :value WHERE id = :id", value=value, id=record.id
    )
    assert touched == 1


def _blob(deployment: Deployment, record: Stored) -> Path:
    return deployment.data_dir / "blobs" / "objects" / record.person.id / record.id


# --- records, blobs and data keys -----------------------------------------------------------


def test_tampered_records_blobs_and_keys_fail_closed_and_nothing_else_does(
    deployment: Deployment, server: Server
) -> None:
    with server.client() as http:
        population = Population.create(http, persons=0)

        def person() -> Person:
            return new_person(http)

        body_victim, moved, date_victim, key_victim, version_victim, untouched = (
            person() for _ in range(6)
        )
        category_victim, title_victim, imaging = person(), person(), person()
        a = [_text(http, population, body_victim, n) for n in range(4)]
        a.append(_text(http, population, body_victim, 4, ehr=False))
        c = [_text(http, population, category_victim, n) for n in range(2)]
        d = [_text(http, population, date_victim, n) for n in range(2)]
        t = [_text(http, population, title_victim, n) for n in range(2)]
        m = [_text(http, population, moved, n) for n in range(2)]
        k = [_text(http, population, key_victim, n) for n in range(2)]
        v = [_text(http, population, version_victim, n) for n in range(2)]
        u = [_text(http, population, untouched, n) for n in range(3)]
        first, last, truncated, appended, fine = _study(
            http, population, imaging, [1024, 1025, 8, 9, 16]
        )
    server.stop()

    # the ciphertext of one record edited; two records' ciphertexts swapped; a folder
    # record's ciphertext copied over another person's record
    _set(deployment, "body_sealed", _flip(_column(deployment, "body_sealed", a[0]), 20), a[0])
    body1, body2 = (_column(deployment, "body_sealed", r) for r in (a[1], a[2]))
    _set(deployment, "body_sealed", body2, a[1])
    _set(deployment, "body_sealed", body1, a[2])
    _set(deployment, "body_sealed", _column(deployment, "body_sealed", a[4]), m[0])
    # the AAD-bound columns in clear: category, clinical date; a sealed title
    _set(deployment, "category", "medication", c[0])
    _set(deployment, "clinical_date", "2019-12-31", d[0])
    _set(deployment, "title_sealed", _flip(_column(deployment, "title_sealed", t[0]), 30), t[0])
    # data keys: the wrapped bytes edited; relabelled to another keyring version
    ((wrapped,),) = deployment.query(
        "SELECT wrapped FROM persondatakey WHERE person_id = :p", p=key_victim.id
    )
    assert deployment.execute(
        "UPDATE persondatakey SET wrapped = :w WHERE person_id = :p",
        w=_flip(bytes(wrapped), 40),
        p=key_victim.id,
    )
    assert deployment.execute(
        "UPDATE persondatakey SET key_version = key_version + 1 WHERE person_id = :p",
        p=version_victim.id,
    )
    # blobs: a byte of the first chunk, a byte of the last chunk, cut short, extended
    for record, at in ((first, HEADER_SIZE + 100), (last, -3)):
        path = _blob(deployment, record)
        data = path.read_bytes()
        assert len(data) > HEADER_SIZE + 2 * CHUNK_SIZE, "the study must span several chunks"
        path.write_bytes(_flip(data, at % len(data)))
    path = _blob(deployment, truncated)
    path.write_bytes(path.read_bytes()[:-1])
    with open(_blob(deployment, appended), "ab") as grown:
        grown.write(os.urandom(64))

    server.start()
    with server.client() as http:
        # edited or moved ciphertexts: their contents fail; titles still open, so the
        # list and each record's metadata answer (nothing of them was touched)
        for record in (a[0], a[1], a[2], m[0]):
            _assert_integrity_problem(_content(http, record))
        assert len(all_records(http, body_victim.headers)) == 5
        _assert_reads_fine(http, a[3])
        _assert_reads_fine(http, a[4])  # the original of the copied ciphertext
        r = http.get(
            f"/v1/patients/{body_victim.id}/records/{a[0].id}/content", headers=population.doctor
        )
        _assert_integrity_problem(r)  # through a provider's route too

        # an edited category, clinical date or title: the record fails as a whole
        # (its title no longer opens); a list that shows it marks that one item damaged
        # (no title) and lists the rest; the person's other records still read by id
        for victim, records in ((category_victim, c), (date_victim, d), (title_victim, t)):
            _assert_integrity_problem(_content(http, records[0]))
            _assert_integrity_problem(
                http.get(f"/v1/me/records/{records[0].id}", headers=victim.headers)
            )
            listed = http.get("/v1/me/records", headers=victim.headers, params={"limit": 200})
            assert listed.status_code == 200, listed.text
            damaged = [i for i in listed.json()["items"] if i["damaged"]]
            assert [(i["id"], i["title"]) for i in damaged] == [(records[0].id, None)]
            _assert_reads_fine(http, records[1])

        # a damaged or relabelled data key: nothing of that person opens
        for victim, records in ((key_victim, k), (version_victim, v)):
            _assert_integrity_problem(http.get("/v1/me/records", headers=victim.headers))
            for record in records:
                _assert_integrity_problem(_content(http, record))

        # blobs: damage the server can see before the first byte goes out is the problem
        # answer; damage further on breaks the stream off before it
        for record in (first, truncated, appended):
            _assert_integrity_problem(_content(http, record))
        _assert_stream_breaks_off(http, last)
        # a range is answered only after the header, the last chunk and the range's own
        # chunks opened: damage outside them goes unnoticed by that read, and is never
        # part of what it returns
        for span in ("bytes=-10", "bytes=0-99"):
            _assert_integrity_problem(_content(http, last, Range=span))
        _assert_integrity_problem(_content(http, first, Range="bytes=0-99"))
        second_chunk = f"bytes={CHUNK_SIZE}-{CHUNK_SIZE + 99}"
        intact = _content(http, first, Range=second_chunk)
        assert intact.status_code == 206, intact.text[:300]
        assert intact.content == first.content[CHUNK_SIZE : CHUNK_SIZE + 100]
        _assert_reads_fine(http, fine)

        # nobody else noticed anything
        for record in u:
            _assert_reads_fine(http, record)
        assert len(all_records(http, untouched.headers)) == 3

        r = http.get("/v1/admin/audit/verify", headers=population.operator)
        assert r.json()["valid"], r.text
    check_no_plaintext(deployment, CANARY)


def _assert_stream_breaks_off(http: httpx.Client, record: Stored) -> None:
    received = b""
    broke_off = False
    with http.stream(
        "GET", f"/v1/me/records/{record.id}/content", headers=record.person.headers
    ) as response:
        if response.status_code == 500:
            response.read()
            return _assert_integrity_problem(response)
        assert response.status_code == 200
        try:
            for piece in response.iter_bytes():
                received += piece
        except httpx.RemoteProtocolError:
            broke_off = True
    assert broke_off, "a damaged stream was answered in full"
    assert len(received) < len(record.content)
    assert record.content.startswith(received), "bytes that are not the record went out"


# --- the audit log ------------------------------------------------------------------------------


def _entry(deployment: Deployment, chain: str, seq: int) -> AuditEntry:
    """A detached copy of entry ``seq`` of ``chain``."""
    with deployment.engine() as engine, Session(engine) as session:
        entry = session.get(AuditEntry, (chain, seq))
        assert entry is not None, f"no entry {seq}"
        return AuditEntry(**entry.model_dump())


def _put_back(deployment: Deployment, *entries: AuditEntry) -> None:
    """Write ``entries`` as they are (replacing whatever holds their places)."""
    with deployment.engine() as engine, Session(engine) as session:
        for entry in entries:
            where = (col(AuditEntry.chain_id) == entry.chain_id, col(AuditEntry.seq) == entry.seq)
            session.execute(delete(AuditEntry).where(*where))
            session.add(AuditEntry(**entry.model_dump()))
        session.commit()


def _rewrite(deployment: Deployment, chain: str, seq: int, **values: Any) -> None:
    with deployment.engine() as engine, Session(engine) as session:
        where = (col(AuditEntry.chain_id) == chain, col(AuditEntry.seq) == seq)
        session.execute(update(AuditEntry).where(*where).values(**values))
        session.commit()


def _rehashed(entry: AuditEntry, **changes: Any) -> AuditEntry:
    """``entry`` with ``changes`` and its own hash recomputed (the chain has no key, so
    anyone can do this)."""
    changed = AuditEntry(**{**entry.model_dump(), **changes})
    changed.entry_hash = entry_hash(changed)
    return changed


def _verify(
    deployment: Deployment, http: httpx.Client, operator: dict[str, str]
) -> tuple[int, str, Any]:
    run = deployment.cli("audit", "verify")
    over_http = http.get("/v1/admin/audit/verify", headers=operator).json()
    return run.code, run.output, over_http


def test_edited_deleted_reordered_and_truncated_audit_rows_are_named(
    deployment: Deployment, server: Server
) -> None:
    with server.client() as http:
        population = Population.create(http, persons=1)
        person = population.persons[0]
        record = _text(http, population, person, 1)
        for _ in range(12):
            assert _content(http, record).status_code == 200
        code, output, over_http = _verify(deployment, http, population.operator)
        assert code == 0 and over_http["valid"], output
        entries = over_http["entries"]
        chain = person.id  # the person's own chain
        ((length, head_hash),) = deployment.query(
            "SELECT length, head_hash FROM auditchain WHERE chain_id = :c", c=chain
        )
        assert length >= 15
        k = length // 2
        c = {"c": chain}

        def broken_at(seq: int, *words: str) -> None:
            code, output, report = _verify(deployment, http, population.operator)
            assert code == 1, output
            assert f"of person {chain} BROKEN at entry {seq}:" in output, output
            assert all(word in output for word in words), output
            assert report["valid"] is False and report["first_bad_seq"] == seq, report
            assert report["first_bad_chain"] == chain, report

        def intact() -> None:
            code, output, report = _verify(deployment, http, population.operator)
            assert code == 0 and report["valid"] and report["entries"] == entries, output

        original = _entry(deployment, chain, k)
        nxt = _entry(deployment, chain, k + 1)
        tail = [_entry(deployment, chain, s) for s in range(length - 2, length + 1)]

        # an edit: a decision turned round
        _rewrite(deployment, chain, k, allowed=not original.allowed, reason="owner")
        broken_at(k, "edited")
        _put_back(deployment, original)
        intact()

        # an edit whose hash was recomputed: the next entry no longer follows it
        _put_back(deployment, _rehashed(original, actor_id="someone-else"))
        broken_at(k + 1, "does not follow")
        _put_back(deployment, original)
        intact()

        # a deletion
        deployment.execute("DELETE FROM auditentry WHERE chain_id = :c AND seq = :s", s=k, **c)
        broken_at(k, "missing")
        _put_back(deployment, original)
        intact()

        # reordering: two entries' contents swapped, then their numbers swapped
        swap = nxt.model_dump(exclude={"seq"})
        back = original.model_dump(exclude={"seq"})
        _rewrite(deployment, chain, k, **swap)
        _rewrite(deployment, chain, k + 1, **back)
        broken_at(k, "does not follow")
        _put_back(deployment, original, nxt)
        intact()
        renumber = "UPDATE auditentry SET seq = :a WHERE chain_id = :c AND seq = :b"
        deployment.execute(renumber, a=-1, b=k, **c)
        deployment.execute(renumber, a=k, b=k + 1, **c)
        deployment.execute(renumber, a=k + 1, b=-1, **c)
        broken_at(k, "does not follow")
        _put_back(deployment, original, nxt)
        intact()

        # truncation of the tail: every remaining entry still links; the head says more
        cut = "DELETE FROM auditentry WHERE chain_id = :c AND seq > :s"
        deployment.execute(cut, s=length - 3, **c)
        broken_at(length - 2, "missing", "tail truncated")
        _put_back(deployment, *tail)
        intact()

        # the last entry replaced by a consistent-looking forgery: the head names another
        _put_back(deployment, _rehashed(tail[-1], actor_id="forger"))
        broken_at(length, "head")
        _put_back(deployment, tail[-1])
        intact()

        # an entry slipped in after the last one without moving the head
        forged = _rehashed(
            tail[-1], seq=length + 1, prev_hash=tail[-1].entry_hash, actor_id="forger"
        )
        _put_back(deployment, forged)
        broken_at(length + 1, "around the head")
        deployment.execute(
            "DELETE FROM auditentry WHERE chain_id = :c AND seq = :s", s=length + 1, **c
        )
        intact()

        # the head row deleted (appends then fail; verify says why)
        deployment.execute("DELETE FROM auditchain WHERE chain_id = :c", **c)
        run = deployment.cli("audit", "verify")
        assert run.code == 1 and "head row is missing" in run.output, run.output
        deployment.execute(
            "INSERT INTO auditchain (chain_id, length, head_hash) VALUES (:c, :n, :h)",
            n=length,
            h=head_hash,
            **c,
        )
        intact()
        assert _content(http, record).status_code == 200  # and the chain goes on
        assert _verify(deployment, http, population.operator)[0] == 0


def test_what_a_checkpoint_covered_cannot_be_cut_rewritten_or_its_checkpoint_forged(
    deployment: Deployment, server: Server
) -> None:
    """After ``crossvault audit checkpoint``, a tail cut *with the head row made to agree*
    (every chain then links) is still named, as is a forged or deleted checkpoint."""
    with server.client() as http:
        population = Population.create(http, persons=1)
        person = population.persons[0]
        record = _text(http, population, person, 1)
        for _ in range(4):
            assert _content(http, record).status_code == 200
        assert deployment.cli("audit", "checkpoint").code == 0
        assert deployment.cli("audit", "checkpoint").output.startswith("no chain changed")
        chain = person.id
        ((length, head_hash),) = deployment.query(
            "SELECT length, head_hash FROM auditchain WHERE chain_id = :c", c=chain
        )
        tail = [_entry(deployment, chain, s) for s in (length - 1, length)]

        def named(*words: str) -> None:
            code, output, report = _verify(deployment, http, population.operator)
            assert code == 1 and report["valid"] is False, output
            assert all(word in output for word in words), output
            assert report["bad_checkpoint"] == 1, report

        deployment.execute(
            "DELETE FROM auditentry WHERE chain_id = :c AND seq >= :s", c=chain, s=length - 1
        )
        deployment.execute(
            "UPDATE auditchain SET length = :n, head_hash = :h WHERE chain_id = :c",
            n=length - 2,
            h=_entry(deployment, chain, length - 2).entry_hash,
            c=chain,
        )
        named("checkpoint 1 BROKEN", "tail truncated")
        _put_back(deployment, *tail)
        deployment.execute(
            "UPDATE auditchain SET length = :n, head_hash = :h WHERE chain_id = :c",
            n=length,
            h=head_hash,
            c=chain,
        )
        assert _verify(deployment, http, population.operator)[0] == 0

        ((root,),) = deployment.query("SELECT root_hash FROM auditcheckpoint WHERE number = 1")
        deployment.execute("UPDATE auditcheckpoint SET root_hash = :r", r="ab" * 32)
        named("signature does not verify")
        deployment.execute("UPDATE auditcheckpoint SET root_hash = :r", r=root)
        assert _verify(deployment, http, population.operator)[0] == 0

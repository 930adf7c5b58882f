"""The consent web app in a real browser (Debian's chromium through Playwright, against a
live server with the demo data): the demo story, the restricted-access OTP flow, and bad
input. Every page is checked with axe-core; screenshots go to ``docs/screenshots``."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from datetime import timedelta

from PIL import Image
from playwright.sync_api import FilePayload, Route, expect
from sqlmodel import Session, col, func, select

from sim.studies import write_large_instance
from tests.api.conftest import World
from tests.api.cross_border_support import clock
from tests.web.conftest import Actor, log_in_clinician, log_in_person
from vault.core.ids import new_id
from vault.store.tables import AuditEntry, CrossBorderAuthorisation, Record, SharingConsent

NewActor = Callable[[], Actor]
HKU_SZ = "The University of Hong Kong-Shenzhen Hospital"


def _no_codes_photo() -> bytes:
    """A real PNG with no QR code in it."""
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 180, 160)).save(buffer, "PNG")
    return buffer.getvalue()


def _messy(code: str) -> str:
    """The code as a hurried professional types it: lower case, spaces for dashes."""
    return code.lower().replace("-", " ")


def test_demo_story_cross_boundary(actors: NewActor) -> None:
    """Chan applies for a cross-boundary record at HKU-Shenzhen; Dr Zhang opens it with
    the two codes (typed carelessly) and sees only the last three years; Chan sees the
    view in the access log and revokes; the doctor's next page load shows it ended."""
    chan, doctor = actors(), actors()
    log_in_person(chan, "demo-chan", "demo-password-chan")
    chan.accessible()
    (cookie,) = [c for c in chan.context.cookies() if c["name"] == "cv_session"]
    assert cookie.get("httpOnly") and cookie.get("sameSite") == "Strict"
    assert cookie.get("path") == "/app" and not cookie.get("secure")  # plain http here
    assert 0 < cookie.get("expires", 0) - time.time() <= 15 * 60 + 5  # the token's life
    assert chan.page.get_by_text("Metformin 500 mg").is_visible()  # 2022: Chan sees all
    chan.screenshot("records")

    chan.page.get_by_label("Category").select_option("lab_report")  # htmx swaps the list
    chan.page.get_by_role("button", name="Filter").click()
    chan.page.wait_for_url(re.compile(r"category=lab_report"))
    expect(chan.page.locator(".records li")).to_have_count(3)
    assert not chan.page.get_by_text("Metformin 500 mg").is_visible()

    chan.follow("Cross-boundary")
    chan.accessible()
    chan.page.get_by_label("Designated institution").select_option("hku_sz")
    chan.press("Apply")
    chan.page.wait_for_url(re.compile(r"/app/cross-border/\w+$"))
    chan.accessible()
    assert chan.page.locator(".qr img").count() == 2
    assert chan.page.locator(".qr img").first.bounding_box()["width"] >= 300  # type: ignore[index]
    application, passcode = chan.page.locator("code.code").all_inner_texts()
    assert chan.page.locator("#status").inner_text() == "Active"
    chan.screenshot("cross-border-codes")
    authorisation = chan.page.url

    log_in_clinician(doctor, "hku_sz", "demo-hkusz-doctor")
    doctor.accessible()
    doctor.page.get_by_label("Application code").fill(_messy(application))
    doctor.page.get_by_label("Passcode").fill(_messy(passcode))
    doctor.press("Open the record")
    doctor.page.wait_for_url(re.compile(r"/app/clinician/sessions/\w+$"))
    doctor.accessible()
    assert application not in doctor.page.url and passcode not in doctor.page.url
    window = doctor.page.locator("[data-visible-since]")
    assert window.get_attribute("data-visible-since") == "2023-03-02"  # START - 3 years
    assert doctor.page.get_by_text("Lipid profile").is_visible()  # 2023-06-19: inside
    assert doctor.page.get_by_text("Metformin 500 mg").count() == 0  # 2022: outside
    doctor.screenshot("clinician-window")
    with doctor.page.expect_navigation():
        doctor.page.get_by_text("Lipid profile").click()
    assert doctor.page.get_by_text("LDL-C 2.9 mmol/L").is_visible()
    doctor.accessible()
    doctor.follow("Back to the list")

    chan.follow("Access log")
    chan.accessible()
    viewed = chan.page.locator('.entry[data-action="read_content"]').first
    assert "Dr Zhang Wei" in viewed.inner_text() and HKU_SZ in viewed.inner_text()
    chan.screenshot("access-log")
    chan.follow("Notifications")
    chan.accessible()
    assert "Dr Zhang Wei" in chan.page.locator(".notice").first.inner_text()

    chan.goto(authorisation.removeprefix(chan.base_url))
    chan.press("Revoke")
    assert chan.page.locator("#status").inner_text() == "Revoked"
    assert chan.page.locator(".qr").count() == 0  # the codes are gone with it

    answer = doctor.page.reload()
    assert answer is not None and answer.status == 404
    assert doctor.problem_code() == "session_ended"
    doctor.accessible()
    doctor.screenshot("clinician-session-ended")


def test_clinician_reads_a_photo_of_both_qr_codes(actors: NewActor) -> None:
    """Dr Li at Guangdong Clifford uploads a photo of Chan's screen (both QR codes); the
    server decodes it and opens the window. A photo of something else opens nothing."""
    chan, doctor = actors(), actors()
    log_in_person(chan, "demo-chan", "demo-password-chan")
    chan.follow("Cross-boundary")
    chan.page.get_by_label("Designated institution").select_option("guangdong_clifford")
    chan.press("Apply")
    chan.page.wait_for_url(re.compile(r"/app/cross-border/\w+$"))
    chan.page.set_viewport_size({"width": 900, "height": 900})  # both codes side by side
    photo = chan.page.locator(".codes").screenshot(type="jpeg", quality=80)

    log_in_clinician(doctor, "guangdong_clifford", "demo-clifford-doctor")
    doctor.page.get_by_label("Or a photo of both QR codes").set_input_files(
        files=FilePayload(name="logo.png", mimeType="image/png", buffer=_no_codes_photo())
    )
    doctor.press("Read the photo")
    assert doctor.problem_code() == "qr_unreadable"
    doctor.accessible()
    doctor.goto("/app/clinician")
    doctor.page.get_by_label("Or a photo of both QR codes").set_input_files(
        files=FilePayload(name="codes.jpg", mimeType="image/jpeg", buffer=photo)
    )
    doctor.press("Read the photo")
    doctor.page.wait_for_url(re.compile(r"/app/clinician/sessions/\w+$"))
    assert doctor.page.get_by_text("Lipid profile").is_visible()
    assert doctor.page.get_by_text("Metformin 500 mg").count() == 0


def test_restricted_access_with_the_persons_otp(actors: NewActor) -> None:
    """Chan consents to HKSH; the nurse sees no radiology report (restricted for nurses),
    asks with a reason, a wrong OTP is refused, Chan's OTP opens it."""
    chan, nurse = actors(), actors()
    log_in_person(chan, "demo-chan", "demo-password-chan")
    chan.follow("Sharing")
    chan.accessible()
    chan.page.get_by_label("Institution", exact=True).select_option("hksh")
    chan.press("Give consent")
    assert chan.page.locator('.consent[data-institution="hksh"]').count() == 1
    chan.accessible()
    chan.screenshot("consents")

    log_in_clinician(nurse, "hksh", "demo-hksh-nurse")
    nurse.page.get_by_label("Patient's eHealth number").fill("demo-chan")
    nurse.press("Look up")
    nurse.page.wait_for_url("**/app/clinician/patients/demo-chan")
    nurse.accessible()
    assert nurse.page.get_by_text("Glycated haemoglobin").first.is_visible()
    assert nurse.page.get_by_text("Chest X-ray").count() == 0  # radiology: restricted
    nurse.page.get_by_label("Radiology reports").check()
    nurse.page.get_by_label("Reason (at least 10 characters)").fill("Follow-up of a cough")
    nurse.press("Ask the patient for a one-time password")
    nurse.accessible()

    chan.follow("Notifications")
    otp = chan.page.locator("code.otp").first.inner_text()
    assert re.fullmatch(r"\d{6}", otp)

    nurse.page.get_by_label("One-time password").fill("000000" if otp != "000000" else "111111")
    nurse.press("Confirm")
    assert nurse.problem_code() == "invalid_otp"  # the form again, with the reason
    nurse.accessible()
    nurse.page.get_by_label("One-time password").fill(otp)
    nurse.press("Confirm")
    nurse.page.wait_for_url("**/app/clinician/patients/demo-chan")
    assert nurse.page.get_by_text("Chest X-ray").is_visible()

    chan.follow("Sharing")  # switch, then revoke
    chan.press("Make it until I revoke it")
    hksh = chan.page.locator('.consent[data-institution="hksh"]')
    assert "Until I revoke it" in hksh.first.inner_text()
    chan.press("Revoke", within=hksh.first)
    assert "Revoked" in hksh.first.inner_text()
    answer = nurse.page.reload()
    assert answer is not None and answer.status == 404 and nurse.problem_code() == "not_found"


def test_personal_folder_and_radiology_qr(actors: NewActor) -> None:
    """Lee files a Shenzhen clinic's note into her Personal Folder (a date that is not one
    is refused and files nothing), then gets a radiology Authorisation QR and revokes it."""
    lee = actors()
    log_in_person(lee, "demo-lee", "demo-password-lee")
    lee.follow("Add to my Personal Folder")
    lee.accessible()
    lee.page.evaluate("document.getElementById('clinical_date').type = 'text'")
    lee.page.get_by_label("Clinical date").fill("2026-02-30")
    lee.page.get_by_label("Title").fill("Not a day")
    lee.press("Save")
    assert lee.problem_code() == "validation_failed"
    lee.page.go_back()
    lee.page.get_by_label("Category").select_option("clinical_note")
    lee.page.get_by_label("Clinical date").fill("2026-02-14")
    lee.page.get_by_label("Title").fill("Shenzhen clinic visit")
    lee.page.get_by_label("Content").fill("Sprained ankle; rest for a week.")
    lee.press("Save")
    lee.page.wait_for_url(re.compile(r"/app/records/\w+$"))
    assert lee.page.get_by_text("Sprained ankle; rest for a week.").is_visible()
    assert lee.page.get_by_text("Personal Folder").is_visible()
    lee.follow("Back to the list")
    assert lee.page.locator(".records li").count() == 1  # the refused one filed nothing

    lee.follow("Radiology", exact=True)
    lee.accessible()
    lee.page.get_by_label("Designated institution").select_option("hku_sz")
    lee.press("Get the QR code")
    lee.page.wait_for_url(re.compile(r"/app/radiology/\w+$"))
    assert lee.page.locator(".qr img").count() == 1
    assert lee.page.locator("code.code").inner_text()
    lee.accessible()
    lee.press("Revoke")
    assert lee.page.locator("#status").inner_text() == "Revoked"
    assert lee.page.locator(".qr").count() == 0


def test_radiology_deposit_with_progress(actors: NewActor) -> None:
    """Chan gets the radiology Authorisation QR for HKU-Shenzhen; the depositor opens a
    deposit with its code and uploads the study (in chunks, with progress; a chunk lost to
    a connection reset is resumed where the server says) and a file that is not DICOM
    (refused, nothing kept); once complete, Chan sees the study."""
    chan, depositor = actors(), actors()
    log_in_person(chan, "demo-chan", "demo-password-chan")
    chan.follow("Radiology", exact=True)
    chan.page.get_by_label("Designated institution").select_option("hku_sz")
    chan.press("Get the QR code")
    code = chan.page.locator("code.code").inner_text()

    log_in_clinician(depositor, "hku_sz", "demo-hkusz-doctor")
    depositor.follow("Radiology deposit")
    depositor.accessible()
    depositor.page.get_by_label("Authorisation code").fill(code.lower())
    depositor.page.get_by_label("Clinical date").fill("2026-03-01")
    depositor.press("Open the deposit")
    depositor.page.wait_for_url(re.compile(r"/app/clinician/deposits/\w+$"))
    depositor.accessible()
    study = io.BytesIO()
    size = write_large_instance(study, 700 * 1024)  # three chunks of 256 KiB
    depositor.page.get_by_label("DICOM files of the study").set_input_files(
        files=[
            FilePayload(name="ct-1.dcm", mimeType="application/dicom", buffer=study.getvalue()),
            FilePayload(name="notes.txt", mimeType="text/plain", buffer=b"not an image"),
        ]
    )
    asked: list[str] = []

    def drop_the_second_chunk(route: Route) -> None:  # the connection resets under it
        asked.append(route.request.method)
        if asked.count("PATCH") == 2 and route.request.method == "PATCH" and "!" not in asked:
            asked.append("!")
            route.abort("connectionreset")
            return
        route.continue_()

    depositor.page.route(re.compile(r".*/uploads/[^/]+$"), drop_the_second_chunk)
    depositor.page.get_by_role("button", name="Upload").click()
    depositor.page.wait_for_selector("#upload[data-finished=true]")
    # three chunks, the second dropped: asked where to resume (HEAD) and sent again; then
    # the text file's one chunk (refused)
    assert asked == ["PATCH", "PATCH", "!", "HEAD", "PATCH", "PATCH", "PATCH"]
    bars = depositor.page.locator(".upload progress")
    assert bars.first.get_attribute("value") == str(size)
    rows = depositor.page.locator(".upload")
    assert rows.nth(0).get_attribute("data-state") == "received"
    assert rows.nth(1).get_attribute("data-state") == "refused"
    assert rows.nth(1).get_attribute("data-code") == "not_dicom"
    depositor.accessible()
    depositor.press("Complete the deposit")
    assert depositor.page.locator(".file").count() == 1

    chan.goto("/app/records?category=radiology_images")
    assert chan.page.locator(".records li").count() == 1


def test_caregiver_acts_for_a_child(actors: NewActor) -> None:
    """Lee Ka Ho appoints his mother; she acts for him under a banner naming him, and
    stops; acting for someone who never appointed her is the not-found page."""
    junior, lee = actors(), actors()
    log_in_person(junior, "demo-lee-junior", "demo-password-junior")
    junior.follow("Caregivers")
    junior.page.get_by_label("The caregiver's eHealth number").fill("demo-lee")
    junior.press("Appoint")
    assert junior.page.locator('.delegation[data-caregiver="demo-lee"]').count() == 1
    junior.accessible()

    log_in_person(lee, "demo-lee", "demo-password-lee")
    lee.follow("Caregivers")
    lee.page.get_by_label("Act for a person you care for (their eHealth number)").fill(
        "demo-lee-junior"
    )
    lee.press("Act for them")
    lee.page.wait_for_url("**/app/records")
    assert lee.page.locator(".acting").inner_text().startswith("Acting for Lee Ka Ho")
    lee.accessible()
    lee.screenshot("caregiver-acting")
    lee.press("Stop acting for them")
    assert lee.page.locator(".acting").count() == 0

    lee.follow("Caregivers")
    lee.page.get_by_label("Act for a person you care for (their eHealth number)").fill("demo-chan")
    lee.press("Act for them")
    assert lee.problem_code() == "not_found"
    lee.press("Stop acting for them")
    assert lee.page.locator(".acting").count() == 0


def _count(world: World, table: type[SharingConsent] | type[AuditEntry] | type[Record]) -> int:
    with Session(world.vault.engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def test_bad_input(actors: NewActor, demo_world: World) -> None:
    """A forged CSRF token is refused and changes nothing; another person's record and a
    missing one are the same not-found page; a failed login says so; an expired session
    asks to log in again."""
    lee = actors()
    lee.goto("/app/login")
    lee.page.get_by_label("eHealth number (username)").fill("demo-lee")
    lee.page.get_by_label("Password").fill("not her password")
    lee.press("Log in")
    assert lee.page.locator("[role=alert]").inner_text() == "The login details were not accepted."
    log_in_person(lee, "demo-lee", "demo-password-lee")

    lee.follow("Sharing")
    consents, audit = _count(demo_world, SharingConsent), _count(demo_world, AuditEntry)
    lee.page.evaluate("document.querySelector('form.card input[name=csrf]').value = 'forged'")
    lee.press("Give consent")
    assert lee.problem_code() == "csrf_failed"
    lee.accessible()
    assert _count(demo_world, SharingConsent) == consents
    assert _count(demo_world, AuditEntry) == audit  # refused before any use-case ran

    hidden = _a_record_of(demo_world, "demo-chan")
    seen = lee.goto(f"/app/records/{hidden}")
    seen_body = seen.body().replace(hidden.encode(), b"ID")  # the language switch's next=
    absent = new_id()
    missing = lee.goto(f"/app/records/{absent}")
    assert seen.status == missing.status == 404
    assert seen_body == missing.body().replace(absent.encode(), b"ID")
    assert lee.problem_code() == "not_found"
    lee.accessible()

    clock(demo_world).advance(timedelta(minutes=16))  # past the token's 15 minutes
    expired = lee.goto("/app/records")
    assert expired.status == 401 and lee.problem_code() == "session_expired"
    lee.follow("Log in")
    lee.page.wait_for_url("**/app/login")


def _a_record_of(world: World, person_id: str) -> str:
    with Session(world.vault.engine) as session:
        found = session.exec(select(Record.id).where(Record.person_id == person_id)).first()
    assert found is not None
    return found


SUBMIT_TWICE = """(selector) => {
  const form = document.querySelector(selector);
  return [1, 2].map(() => {
    const submit = new SubmitEvent("submit", {bubbles: true, cancelable: true});
    form.dispatchEvent(submit);  // a synthetic event: the form's own post is not sent
    return submit.defaultPrevented;
  });
}"""


def _authorisations_of(world: World, person_id: str) -> int:
    with Session(world.vault.engine) as session:
        query = select(func.count()).select_from(CrossBorderAuthorisation)
        query = query.where(col(CrossBorderAuthorisation.person_id) == person_id)
        return int(session.exec(query).one())


def test_a_double_submitted_form_and_a_file_over_the_limit(
    actors: NewActor, demo_world: World
) -> None:
    """Chan double-clicks Apply: one authorisation, not two. A Personal Folder entry over
    the request limit (6 MB of text) is the readable "too large" page (413), and files
    nothing."""
    chan = actors()
    log_in_person(chan, "demo-chan", "demo-password-chan")
    chan.follow("Cross-boundary")
    chan.page.get_by_label("Designated institution").select_option("sysu_first_affiliated")
    prevented = chan.page.evaluate(SUBMIT_TWICE, "form.card")  # app.js: a form goes once
    assert prevented == [False, True]
    chan.goto("/app/cross-border")  # the same form, fresh
    chan.page.get_by_label("Designated institution").select_option("sysu_first_affiliated")
    before = _authorisations_of(demo_world, "demo-chan")
    with chan.page.expect_navigation():
        chan.page.get_by_role("button", name="Apply").dblclick()
    chan.page.wait_for_url(re.compile(r"/app/cross-border/\w+$"))
    assert _authorisations_of(demo_world, "demo-chan") == before + 1

    records = _count(demo_world, Record)
    chan.goto("/app/folder")
    chan.page.get_by_label("Clinical date").fill("2026-02-14")
    chan.page.get_by_label("Title").fill("A very long letter")
    chan.page.evaluate("document.getElementById('content').value = '漢'.repeat(2000000)")
    with chan.page.expect_navigation() as navigation:
        chan.page.get_by_role("button", name="Save").click()
    assert navigation.value is not None and navigation.value.status == 413
    assert chan.problem_code() == "payload_too_large"
    assert "larger than the limit" in chan.page.locator(".problem .message").inner_text()
    chan.accessible()
    assert _count(demo_world, Record) == records


def test_a_photo_filed_into_the_personal_folder(actors: NewActor, demo_world: World) -> None:
    """Lee files a photo of a Shenzhen clinic's letter; the record offers it for download,
    byte for byte. A file that is not a PDF, JPEG or PNG is refused and files nothing."""
    lee = actors()
    log_in_person(lee, "demo-lee", "demo-password-lee")
    photo = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(photo, format="PNG")

    def file_one(title: str, payload: FilePayload) -> None:
        lee.goto("/app/folder")
        lee.page.get_by_label("Category").select_option("clinical_note")
        lee.page.get_by_label("Clinical date").fill("2026-02-20")
        lee.page.get_by_label("Title").fill(title)
        lee.page.get_by_label("Or a file").set_input_files(files=[payload])
        lee.press("Save")

    records = _count(demo_world, Record)
    file_one("A program", FilePayload(name="x.pdf", mimeType="application/pdf", buffer=b"MZ\x90"))
    assert lee.problem_code() == "unsupported_file"
    assert _count(demo_world, Record) == records

    file_one(
        "Clinic letter (photo)",
        FilePayload(name="letter.png", mimeType="image/png", buffer=photo.getvalue()),
    )
    lee.page.wait_for_url(re.compile(r"/app/records/\w+$"))
    lee.accessible()
    link = lee.page.get_by_role("link", name="Download the file")
    href = link.get_attribute("href")
    assert href is not None
    got = lee.context.request.get(lee.base_url + href)
    assert got.status == 200 and got.body() == photo.getvalue()
    assert got.headers["content-type"] == "image/png"
    assert got.headers["content-disposition"] == "attachment"
    assert _count(demo_world, Record) == records + 1

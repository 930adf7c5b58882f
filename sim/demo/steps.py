"""The ten steps of the walk-through, one method each, in the order they run."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sim.demo.calls import Calls
from sim.demo.narrator import Actor, Body, Call
from sim.demo.printing import hk_time, log_line, masked, short
from sim.demo.script import (
    CROSS_BORDER_INSTITUTION,
    DICOM_PATIENT_NAME,
    HA_RECORDS,
    HK_PROVIDER,
    OTHER_MAINLAND,
    PERSON_DOB,
    PERSON_NAME,
    REPORT_TEXT,
)
from sim.studies import Study, instance


class Walkthrough(Calls):
    """The ten steps, sharing what earlier steps created."""

    def run(self) -> None:
        self.person_joins()
        self.ha_deposits()
        self.person_applies()
        self.doctor_views()
        self.person_is_told()
        self.radiology_authorised()
        self.study_deposited()
        self.shared_for_follow_up()
        self.revocation()
        self.refusals()

    def person_joins(self) -> None:
        with self.n.step(
            1,
            "A person joins eHealth",
            f"{PERSON_NAME} (born {PERSON_DOB}) registers and joins eHealth; "
            "from then on every participating provider may deposit records.",
        ):
            self.person_id = self.n.call(
                Actor(PERSON_NAME),
                Call(
                    "POST",
                    "/v1/persons",
                    json={
                        "name": PERSON_NAME,
                        "date_of_birth": PERSON_DOB,
                        "password": self.password,
                        "joined": True,
                    },
                    summary=f"{PERSON_NAME}, born {PERSON_DOB}, joined, a password (not shown)",
                    expect=201,
                    brief=lambda b: f"person {short(b['id'])}",
                ),
            ).body["id"]
            citizen = {"grant_type": "password", "username": self.person_id}
            self.person = self.token(
                PERSON_NAME,
                {**citizen, "password": self.password},
                f"password, username {short(self.person_id)}",
            )
            me = self.n.call(
                self.person,
                Call("GET", "/v1/me", brief=lambda b: f"{b['name']}, joined: {b['joined']}"),
            ).body
            self.n.fact(person_id=self.person_id, joined=me["joined"] is True)

    def ha_deposits(self) -> None:
        with self.n.step(
            2,
            "The Hospital Authority deposits records dated over five years",
            "HA holds implied sharing consent from joining. A doctor there deposits ten eHRs; "
            "their titles, categories and dates are printed, never their content.",
        ):
            doctor = self.professional("ha", "Dr Lau Wing Sze", "doctor", "HA · Dr Lau")
            dates = []
            for record in HA_RECORDS:
                clinical_date = (self.today - timedelta(days=record.days_ago)).isoformat()
                self.n.call(
                    doctor,
                    Call(
                        "POST",
                        f"/v1/patients/{self.person_id}/records",
                        json={
                            "category": record.category,
                            "clinical_date": clinical_date,
                            "title": record.title,
                            "content": record.content,
                            "content_type": "text/plain",
                        },
                        summary=f"{clinical_date} {record.category} “{record.title}”",
                        expect=201,
                        brief=lambda b: f"record {short(b['id'])}, {b['size']} bytes sealed",
                    ),
                )
                dates.append(clinical_date)
            self.n.say(f"{len(dates)} records, {dates[0]} to {dates[-1]}.")
            self.n.fact(deposited=len(dates), dates=tuple(dates))

    def person_applies(self) -> None:
        with self.n.step(
            3,
            "The person applies for a cross-border record for HKU-Shenzhen Hospital",
            "Before the visit the person applies in the app. The answer carries the "
            "application code and the passcode once (masked here); afterwards they are only "
            "QR codes for staff to scan.",
        ):
            issued = self.apply_cross_border(CROSS_BORDER_INSTITUTION).body
            self.cross_border_id = issued["id"]
            self.codes = (issued["application_code"], issued["passcode"])
            qr = f"/v1/me/cross-border-authorisations/{self.cross_border_id}/qr"
            images = [
                self.n.call(self.person, Call("GET", f"{qr}/{which}")).content_type
                for which in ("application", "passcode")
            ]
            self.n.fact(
                authorisation_id=self.cross_border_id,
                expires_at=issued["expires_at"],
                qr_codes=tuple(images),
            )

    def doctor_views(self) -> None:
        with self.n.step(
            4,
            "A doctor at HKU-Shenzhen Hospital redeems the codes: the last three years only",
            "Staff scan both QR codes; the session shows the person's eHRs whose clinical "
            "date lies in the three-year lookback. Older records are neither listed nor "
            "counted.",
        ):
            self.hku_doctor = self.professional(
                CROSS_BORDER_INSTITUTION, "Dr Zhang Wei", "doctor", "HKU-SZ · Dr Zhang"
            )
            opened = self.open_session(self.hku_doctor, self.codes, 201).body
            self.session_id = opened["session_id"]
            items = self.list_records(
                self.hku_doctor, f"/v1/cross-border/sessions/{self.session_id}/records"
            )
            earliest = min((item["clinical_date"] for item in items), default=None)
            self.n.say(
                f"{len(items)} of the {len(HA_RECORDS)} records deposited are visible "
                f"(visible since {opened['visible_since']}; earliest visible {earliest})."
            )
            self.n.fact(
                session_id=self.session_id,
                visible=len(items),
                total=len(HA_RECORDS),
                visible_since=opened["visible_since"],
                earliest_visible=earliest,
                sources=tuple(sorted({item["source"] for item in items})),
            )

    def person_is_told(self) -> None:
        with self.n.step(
            5,
            "The person sees the view in the access log and is notified",
            "Every decision about the person's data is logged before anything leaves; every "
            "view by someone else sends a notification (simulated SMS/e-mail).",
        ):
            entries = [e for e in self.access_log(50) if e["institution_id"] == "hku_sz"]
            for entry in reversed(entries):
                self.n.say(log_line(entry))
            notices = [n for n in self._notifications() if n["institution_id"] == "hku_sz"]
            for notice in reversed(notices):
                self.n.say(
                    f"{hk_time(notice['at'], clock_only=True)}  {notice['channel']}: "
                    f"{notice['event']} by {notice['actor_kind']} {short(notice['actor_id'])} "
                    f"({notice['institution_id']})"
                )
            self.n.fact(
                log_entries=len(entries),
                log_actions=tuple(e["action"] for e in entries),
                notifications=len(notices),
                notification_events=tuple(n["event"] for n in notices),
            )

    def _notifications(self) -> list[Body]:
        notices: list[Body] = self.n.call(
            self.person,
            Call(
                "GET",
                "/v1/me/notifications",
                params={"limit": 50},
                brief=lambda b: f"{len(b['items'])} notifications",
            ),
        ).body["items"]
        return notices

    def radiology_authorised(self) -> None:
        with self.n.step(
            6,
            "The person obtains a radiology authorisation",
            "Since 27 Jan 2026 HKU-Shenzhen Hospital may file a visit's radiology report and "
            "images straight into the Personal Folder, with an Authorisation QR code the "
            "person obtains before the visit.",
        ):
            issued = self.authorise_radiology(CROSS_BORDER_INSTITUTION).body
            self.radiology_id = issued["id"]
            self.radiology_code = issued["authorisation_code"]
            self.n.fact(authorisation_id=self.radiology_id, expires_at=issued["expires_at"])

    def study_deposited(self) -> None:
        with self.n.step(
            7,
            "HKU-Shenzhen Hospital deposits a DICOM study",
            "A radiographer opens a deposit with the person's code, streams two CT "
            "instances (real DICOM, made with pydicom) and the report, then completes it: "
            "everything appears in the Personal Folder at once. The depositor gets only "
            "receipts.",
        ):
            radiographer = self.professional(
                CROSS_BORDER_INSTITUTION, "Li Na", "radiographer", "HKU-SZ · radiographer"
            )
            completed = self._deposit_study(radiographer)
            folder = self.list_records(self.person, "/v1/me/records", source="personal_folder")
            status = self.n.call(
                self.person,
                Call(
                    "GET",
                    f"/v1/me/radiology-authorisations/{self.radiology_id}",
                    brief=lambda b: f"status {b['status']}",
                ),
            ).body["status"]
            self.n.fact(
                deposit_state=completed["state"],
                files=len(completed["files"]),
                folder_records=len(folder),
                folder_categories=tuple(sorted(item["category"] for item in folder)),
                authorisation_status=status,
            )

    def _deposit_study(self, radiographer: Actor) -> Body:
        """Open a deposit with the person's code, stream the study's files into it (keeping
        the receipts' digests), complete it; the completed deposit."""
        opened = self.n.call(
            radiographer,
            Call(
                "POST",
                "/v1/radiology/deposits",
                json={"authorisation_code": self.radiology_code},
                summary=f"authorisation code {masked(self.radiology_code)}",
                expect=201,
                brief=lambda b: (
                    f"deposit {short(b['deposit_id'])}, {b['state']}, "
                    f"clinical date {b['clinical_date']}"
                ),
            ),
        ).body
        deposit = f"/v1/radiology/deposits/{opened['deposit_id']}"
        for name, content_type, content in self._study_files():
            receipt = self.n.call(
                radiographer,
                Call(
                    "PUT",
                    f"{deposit}/files/{name}",
                    content=content,
                    content_type=content_type,
                    summary=f"{content_type}, {len(content)} bytes",
                    expect=201,
                    brief=lambda b: f"{b['category']}, {b['state']}, sha256 {b['sha256'][:12]}…",
                ),
            ).body
            self.digests.add(receipt["sha256"])
        completed: Body = self.n.call(
            radiographer,
            Call(
                "POST",
                f"{deposit}/complete",
                brief=lambda b: f"{b['state']}, {len(b['files'])} files",
            ),
        ).body
        return completed

    def _study_files(self) -> list[tuple[str, str, bytes]]:
        """Two CT instances of one study (named for the person, dated today) and a report."""
        study = Study(
            patient_name=DICOM_PATIENT_NAME,
            patient_id="HK-DEMO-0001",
            study_date=self.today.strftime("%Y%m%d"),
        )
        return [
            ("ct-1.dcm", "application/dicom", instance(study, rows=64, columns=64)),
            ("ct-2.dcm", "application/dicom", instance(study, rows=64, columns=64)),
            ("report.txt", "text/plain", REPORT_TEXT.encode()),
        ]

    def shared_for_follow_up(self) -> None:
        with self.n.step(
            8,
            "The person shares the study with a Hong Kong doctor for follow-up",
            "A sharing consent lets Hong Kong Sanatorium's professionals view the Personal "
            "Folder, and only it: the consent's scope leaves the HA eHRs out.",
        ):
            consent = self._share_folder()
            doctor = self.professional(HK_PROVIDER, "Dr Ho Ka Yan", "doctor", "HKSH · Dr Ho")
            records = f"/v1/patients/{self.person_id}/records"
            items = self.list_records(doctor, records)
            [image, *_] = [i for i in items if i["category"] == "radiology_images"]
            read = self.n.call(doctor, Call("GET", f"{records}/{image['id']}/content"))
            digest = hashlib.sha256(read.content).hexdigest()
            is_dicom = read.content[128:132] == b"DICM"
            matches = digest in self.digests
            self.n.say(
                f"A DICOM file: {is_dicom}; its SHA-256 {digest[:12]}… matches the "
                f"depositor's receipt: {matches}."
            )
            self.n.fact(
                consent_active=consent["active"] is True,
                listed=len(items),
                sources=tuple(sorted({i["source"] for i in items})),
                read_status=read.status,
                is_dicom=is_dicom,
                digest_matches_receipt=matches,
            )

    def _share_folder(self) -> Body:
        """The person consents to Hong Kong Sanatorium seeing their Personal Folder."""
        consent: Body = self.n.call(
            self.person,
            Call(
                "POST",
                "/v1/me/sharing-consents",
                json={
                    "institution_id": HK_PROVIDER,
                    "kind": "one_year",
                    "scopes": ["personal_folder"],
                },
                summary=f"institution {HK_PROVIDER}, one_year, scopes personal_folder",
                expect=201,
                brief=lambda b: (
                    f"consent {short(b['id'])}, active: {b['active']}, "
                    f"expires {hk_time(b['expires_at'])}"
                ),
            ),
        ).body
        return consent

    def revocation(self) -> None:
        with self.n.step(
            9,
            "Revocation ends access at once",
            "The person revokes the cross-border authorisation. The doctor's open session "
            "ends with it: the next list is the plain 404 an unknown session gets, and the "
            "codes open nothing any more.",
        ):
            revoked = self.n.call(
                self.person,
                Call(
                    "DELETE",
                    f"/v1/me/cross-border-authorisations/{self.cross_border_id}",
                    expect=204,
                ),
            )
            listed = self.n.call(
                self.hku_doctor,
                Call("GET", f"/v1/cross-border/sessions/{self.session_id}/records", expect=404),
            )
            reopened = self.open_session(self.hku_doctor, self.codes, 403)
            self.n.fact(
                revoke_status=revoked.status,
                list_status=listed.status,
                list_code=listed.code,
                reopen_status=reopened.status,
                reopen_code=reopened.code,
            )

    def refusals(self) -> None:
        with self.n.step(
            10,
            "Institutions that are not designated, and a wrong passcode, are refused",
            "A Hong Kong hospital is not a designated Mainland institution; Guangdong "
            "Clifford Hospital is designated for the cross-border record but is not a "
            "radiology depositor, and codes issued for HKU-Shenzhen open nothing there. "
            "Every wrong pair gets one answer; the person's log keeps the real reasons.",
        ):
            hong_kong = self.apply_cross_border(HK_PROVIDER, expect=422)
            radiology = self.authorise_radiology(OTHER_MAINLAND, expect=403)
            issued = self.apply_cross_border(CROSS_BORDER_INSTITUTION).body
            codes = (issued["application_code"], issued["passcode"])
            clifford = self.professional(
                OTHER_MAINLAND, "Dr Chen Jing", "doctor", "Clifford · Dr Chen"
            )
            elsewhere = self.open_session(clifford, codes, 400)
            wrong = "PC-0000-0000" if codes[1] != "PC-0000-0000" else "PC-1111-1111"
            wrong_passcode = self.open_session(self.hku_doctor, (codes[0], wrong), 400)
            refused = [e for e in self.access_log(10) if not e["allowed"]]
            for entry in reversed(refused):
                self.n.say(log_line(entry))
            self.n.fact(
                hk_institution=hong_kong.outcome,
                radiology_not_depositor=radiology.outcome,
                other_institution=elsewhere.outcome,
                wrong_passcode=wrong_passcode.outcome,
                logged_reasons=tuple(e["reason"] for e in refused),
            )

"""Who takes part in the demo and what is deposited: the person, the institutions, the
Hospital Authority's ten eHRs and the radiology report."""

from __future__ import annotations

from dataclasses import dataclass

PERSON_NAME = "Wong Siu Ming"
DICOM_PATIENT_NAME = "WONG^SIU MING"
PERSON_DOB = "1958-03-14"
CROSS_BORDER_INSTITUTION = "hku_sz"  # designated since 2024-07-15, radiology from 2026-01-27
HK_PROVIDER = "hksh"  # a private hospital: no implied sharing, needs the person's consent
OTHER_MAINLAND = "guangdong_clifford"  # designated for the cross-border record, not radiology
REPORT_TEXT = "Impression: 4 mm nodule, right upper lobe; follow-up CT in 12 months."


@dataclass(frozen=True)
class DemoRecord:
    """One eHR the Hospital Authority deposits, ``days_ago`` before today (Hong Kong)."""

    days_ago: int
    category: str
    title: str
    content: str


# Spread over five years and kept at least two months from the three-year boundary, so
# the split does not depend on the hour the demo runs.
HA_RECORDS: tuple[DemoRecord, ...] = (
    DemoRecord(1780, "encounter", "Cardiology clinic visit", "BP 158/96 mmHg on arrival."),
    DemoRecord(1600, "lab_report", "Lipid profile", "LDL cholesterol 4.1 mmol/L."),
    DemoRecord(1450, "diagnosis_procedure", "Essential hypertension", "ICD-10 I10 confirmed."),
    DemoRecord(1250, "medication", "Amlodipine", "Amlodipine 5 mg once daily, 90 days."),
    DemoRecord(1020, "lab_report", "Glycated haemoglobin", "HbA1c 6.4 percent, fasting."),
    DemoRecord(800, "clinical_note", "Discharge summary", "Cellulitis of left leg, resolved."),
    DemoRecord(560, "radiology_report", "Chest X-ray", "No active lung lesion seen today."),
    DemoRecord(380, "allergy", "Penicillin", "Generalised rash after amoxicillin 2024."),
    DemoRecord(150, "birth_immunisation", "Influenza vaccine", "Seasonal vaccine, left deltoid."),
    DemoRecord(40, "referral", "Ophthalmology referral", "Early cataract, both eyes, review."),
)

PLAINTEXT_CONTENT: tuple[str, ...] = (*(r.content for r in HA_RECORDS), REPORT_TEXT)
"""Everything the demo deposits as text content: none of it is ever printed."""

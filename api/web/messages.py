"""The readable message of each problem ``code`` the pages can meet (msgids: English; the
translations are in the catalogues). A code missing here gets the general message."""

from __future__ import annotations


def N_(message: str) -> str:
    return message


GENERAL = N_("Something went wrong with this request. Nothing was changed.")
MESSAGES = {
    "not_found": N_("Not found. It does not exist, has ended, or is not yours to see."),
    "csrf_failed": N_(
        "This form could not be accepted: it has expired or was not sent from this site. "
        "Nothing was changed. Please try again."
    ),
    "session_expired": N_("Your session has ended. Please log in again."),
    "invalid_grant": N_("The login details were not accepted."),
    "invalid_client": N_("The login details were not accepted."),
    "invalid_request": N_("Please fill in every field."),
    "too_many_attempts": N_("Too many failed attempts. Please wait before trying again."),
    "login_throttled": N_("Too many failed attempts. Please wait before trying again."),
    "invalid_token": N_("Your session has ended. Please log in again."),
    "wrong_role": N_("This page is not for your account type."),
    "validation_failed": N_("Some of what was entered is not valid. Nothing was changed."),
    "invalid_codes": N_("The application code and passcode were not accepted."),
    "not_designated": N_("Your institution is not designated for cross-boundary records today."),
    "authorisation_inactive": N_(
        "The authorisation is no longer active; the person must apply again."
    ),
    "authorisation_pending": N_("The person's application is still being processed."),
    "locked_out": N_("Locked after too many failed attempts."),
    "invalid_otp": N_("The one-time password was not accepted."),
    "otp_expired": N_("The one-time password has expired. Ask for a new one."),
    "already_confirmed": N_("This request was already confirmed."),
    "unknown_institution": N_("No institution has that id."),
    "not_a_hong_kong_institution": N_("Sharing consent is for Hong Kong institutions."),
    "not_a_mainland_institution": N_("This is for designated Mainland institutions only."),
    "cross_border_not_permitted": N_("The application was refused."),
    "consent_revoked": N_("A revoked consent cannot be renewed."),
    "consent_indefinite": N_("An indefinite consent never expires."),
    "consent_not_active": N_("Only a consent in force can be switched."),
    "invalid_cursor": N_("That page link is no longer valid."),
    "forbidden": N_("This is not allowed."),
    "not_dicom": N_("This file is not a DICOM file. Nothing of it was kept."),
    "file_or_text": N_("Choose a file or type the content, not both. Nothing was kept."),
    "unsupported_file": N_("This file is not a PDF, JPEG or PNG file. Nothing of it was kept."),
    "patient_mismatch": N_("This study is of another patient. Nothing of it was kept."),
    "file_too_large": N_("This file is larger than the limit. Nothing of it was kept."),
    "payload_too_large": N_("This file is larger than the limit. Nothing of it was kept."),
    "qr_unreadable": N_(
        "The photo could not be read: both QR codes must be in it, sharp. Nothing was opened."
    ),
}


def message_for(code: str) -> str:
    return MESSAGES.get(code, GENERAL)


CATEGORIES = {
    "demographics": N_("Demographics"),
    "allergy": N_("Allergies"),
    "diagnosis_procedure": N_("Diagnoses and procedures"),
    "medication": N_("Medication"),
    "encounter": N_("Encounters"),
    "clinical_note": N_("Clinical notes"),
    "birth_immunisation": N_("Birth and immunisation"),
    "lab_report": N_("Laboratory reports"),
    "radiology_report": N_("Radiology reports"),
    "other_investigation": N_("Other investigations"),
    "referral": N_("Referrals"),
    "radiology_images": N_("Radiology images"),
    "document": N_("Documents"),
}
ACTIONS = {
    "read_record": N_("looked at a record"),
    "list_records": N_("listed records"),
    "read_content": N_("opened a record"),
    "deposit_record": N_("deposited a record"),
    "add_to_folder": N_("filed into the Personal Folder"),
    "deposit_radiology": N_("deposited a radiology study"),
    "read_profile": N_("read the profile"),
    "manage_consents": N_("managed consents"),
    "grant_sharing_consent": N_("gave a sharing consent"),
    "apply_cross_border": N_("applied for a cross-boundary record"),
    "grant_radiology_authorisation": N_("gave a radiology authorisation"),
    "manage_caregivers": N_("managed caregivers"),
    "read_access_log": N_("read the access log"),
    "read_notifications": N_("read the notifications"),
    "log_in": N_("logged in"),
    "request_restricted_access": N_("asked for restricted access"),
    "open_viewing_session": N_("opened a cross-boundary viewing session"),
    "invoke_break_glass": N_("used emergency access"),
    "explain_access": N_("asked what an institution could see"),
}
STATUSES = {
    "pending": N_("Being processed"),
    "active": N_("Active"),
    "locked": N_("Locked"),
    "expired": N_("Expired"),
    "revoked": N_("Revoked"),
    "used": N_("Used"),
}
ACTORS = {
    "citizen": N_("You"),
    "caregiver": N_("Your caregiver"),
    "hk_professional": N_("Hong Kong professional"),
    "mainland_professional": N_("Mainland professional"),
    "radiology_depositor": N_("Radiology depositor"),
    "institution_admin": N_("Institution admin"),
    "operator": N_("Operator"),
}


def label(table: dict[str, str], key: str | None) -> str:
    return table.get(key or "", key or "")

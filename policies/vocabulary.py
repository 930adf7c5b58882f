"""The access vocabulary: who asks, what they ask for, what records are, and why.

Every value is a stable snake_case string (``StrEnum``), so it can be stored, logged and
compared with plain strings: ``Category.LAB_REPORT == "lab_report"``.
"""

from __future__ import annotations

from enum import StrEnum


class ActorKind(StrEnum):
    """Who is asking. A citizen token carrying ``On-Behalf-Of`` is judged as a caregiver."""

    CITIZEN = "citizen"
    CAREGIVER = "caregiver"
    HK_PROFESSIONAL = "hk_professional"
    MAINLAND_PROFESSIONAL = "mainland_professional"
    INSTITUTION_ADMIN = "institution_admin"  # manages its own institution's staff, no data
    OPERATOR = "operator"


class Action(StrEnum):
    """What is asked for."""

    # Records (R1-R5)
    READ_RECORD = "read_record"  # one record's metadata
    LIST_RECORDS = "list_records"
    READ_CONTENT = "read_content"  # one record's decrypted content
    DEPOSIT_RECORD = "deposit_record"  # an HK provider deposits an eHR
    ADD_TO_FOLDER = "add_to_folder"  # R6: the person files into their Personal Folder
    DEPOSIT_RADIOLOGY = "deposit_radiology"  # R5: a radiology depositor files into the folder
    READ_DEPOSIT_RECEIPT = "read_deposit_receipt"
    # The person's own account (R1)
    READ_PROFILE = "read_profile"
    MANAGE_CONSENTS = "manage_consents"  # list, renew, switch, revoke any consent
    GRANT_SHARING_CONSENT = "grant_sharing_consent"  # to request.target_institution_id
    APPLY_CROSS_BORDER = "apply_cross_border"  # a cross-border authorisation for a target
    GRANT_RADIOLOGY_AUTHORISATION = "grant_radiology_authorisation"
    MANAGE_CAREGIVERS = "manage_caregivers"  # the person only: never a caregiver
    READ_ACCESS_LOG = "read_access_log"
    READ_NOTIFICATIONS = "read_notifications"
    WITHDRAW = "withdraw"  # leave the vault: the person's data key is destroyed
    EXPLAIN_ACCESS = "explain_access"  # what-if: what an actor could see, and why
    LOG_IN = "log_in"  # a login on the person's account (decided by the password, audited)
    REGISTER = "register"  # a person registers themselves (audited; no one decides it)
    # Professionals' steps before reading
    REQUEST_RESTRICTED_ACCESS = "request_restricted_access"  # R3: ask for / confirm an OTP
    OPEN_VIEWING_SESSION = "open_viewing_session"  # R4: with request.authorisation_id
    INVOKE_BREAK_GLASS = "invoke_break_glass"  # emergency rule, when the policy enables it
    # Operator (R9)
    MANAGE_REGISTRY = "manage_registry"  # institutions' admin credentials (four eyes)
    # Institution admin (R9: separation of duties)
    MANAGE_INSTITUTION = "manage_institution"  # its own professionals and client credentials
    MANAGE_KEYS = "manage_keys"
    VERIFY_AUDIT = "verify_audit"
    REVIEW_BREAK_GLASS = "review_break_glass"  # list and mark emergency accesses reviewed


class Category(StrEnum):
    """Record categories: the eleven of the sharable scope, then images and documents."""

    DEMOGRAPHICS = "demographics"
    ALLERGY = "allergy"
    DIAGNOSIS_PROCEDURE = "diagnosis_procedure"
    MEDICATION = "medication"
    ENCOUNTER = "encounter"
    CLINICAL_NOTE = "clinical_note"
    BIRTH_IMMUNISATION = "birth_immunisation"
    LAB_REPORT = "lab_report"
    RADIOLOGY_REPORT = "radiology_report"
    OTHER_INVESTIGATION = "other_investigation"
    REFERRAL = "referral"
    RADIOLOGY_IMAGES = "radiology_images"
    DOCUMENT = "document"


class Source(StrEnum):
    """Where a record lives: the eHR, or the person's Personal Folder."""

    EHR = "ehr"
    PERSONAL_FOLDER = "personal_folder"


SharingScope = Source
"""A sharing consent's scopes are record sources (``ehr``, ``personal_folder``)."""


class Standing(StrEnum):
    """Where one consent, delegation or authorisation stands at an instant (``status_at``).
    Only ``active`` gives anything; the others say why not."""

    NOT_YET = "not_yet"  # before granted_at
    ACTIVE = "active"
    REVOKED = "revoked"  # from revoked_at on
    EXPIRED = "expired"  # from expires_at on
    USED = "used"  # a radiology authorisation, from the deposit it was used for
    LOCKED = "locked"  # a cross-border authorisation, after too many wrong passcodes
    PENDING = "pending"  # a cross-border authorisation, before its processing delay ends


class Profession(StrEnum):
    DOCTOR = "doctor"
    NURSE = "nurse"
    PHARMACIST = "pharmacist"
    RADIOGRAPHER = "radiographer"
    DENTIST = "dentist"
    CHINESE_MEDICINE_PRACTITIONER = "chinese_medicine_practitioner"
    PHYSIOTHERAPIST = "physiotherapist"
    CLERK = "clerk"


class ConsentKind(StrEnum):
    ONE_YEAR = "one_year"
    INDEFINITE = "indefinite"


class Region(StrEnum):
    HONG_KONG = "hong_kong"
    MAINLAND = "mainland"


class InstitutionKind(StrEnum):
    PUBLIC = "public"  # HA, DH
    PRIVATE_HOSPITAL = "private_hospital"
    PRIVATE_CLINIC = "private_clinic"
    HOSPITAL = "hospital"  # a Mainland general hospital
    CHINESE_MEDICINE_HOSPITAL = "chinese_medicine_hospital"
    DENTAL = "dental"


class Reason(StrEnum):
    """Why a decision went the way it did. For the audit log only: never shown to a caller
    who was denied (R10), since "denied" and "does not exist" must look the same."""

    # Allowed
    OWNER = "owner"
    CAREGIVER = "caregiver"
    SHARING_CONSENT = "sharing_consent"
    IMPLIED_SHARING = "implied_sharing"
    RESTRICTED_GRANT = "restricted_grant"
    PARTICIPATING_PROVIDER = "participating_provider"
    CROSS_BORDER_AUTHORISATION = "cross_border_authorisation"
    CROSS_BORDER_SESSION = "cross_border_session"
    RADIOLOGY_AUTHORISATION = "radiology_authorisation"
    OWN_DEPOSIT_RECEIPT = "own_deposit_receipt"
    BREAK_GLASS = "break_glass"
    OPERATOR = "operator"
    INSTITUTION_ADMIN = "institution_admin"
    # Denied: request shape and registry
    DEFAULT_DENY = "default_deny"
    UNKNOWN_PERSON = "unknown_person"
    UNKNOWN_INSTITUTION = "unknown_institution"
    UNKNOWN_PROFESSION = "unknown_profession"
    UNKNOWN_CATEGORY = "unknown_category"
    UNKNOWN_SOURCE = "unknown_source"
    MISSING_RECORD = "missing_record"
    WRONG_REGION = "wrong_region"
    # Denied: the person and their caregivers
    NOT_OWNER = "not_owner"
    NO_DELEGATION = "no_delegation"
    DELEGATION_REVOKED = "delegation_revoked"
    DELEGATION_EXPIRED = "delegation_expired"
    DELEGATION_CANNOT_DELEGATE = "delegation_cannot_delegate"
    NOT_PERSONAL_FOLDER = "not_personal_folder"
    # Denied: Hong Kong providers
    NOT_JOINED = "not_joined"
    NO_SHARING_CONSENT = "no_sharing_consent"
    CONSENT_REVOKED = "consent_revoked"
    CONSENT_EXPIRED = "consent_expired"
    SCOPE_NOT_COVERED = "scope_not_covered"
    RESTRICTED_CATEGORY = "restricted_category"
    NOT_SHARABLE = "not_sharable"
    # Denied: cross-border viewers
    NOT_DESIGNATED = "not_designated"
    NOT_ELIGIBLE = "not_eligible"
    NO_AUTHORISATION = "no_authorisation"
    AUTHORISATION_PENDING = "authorisation_pending"
    AUTHORISATION_REVOKED = "authorisation_revoked"
    AUTHORISATION_EXPIRED = "authorisation_expired"
    NO_SESSION = "no_session"
    WRONG_INSTITUTION = "wrong_institution"
    WRONG_PROFESSIONAL = "wrong_professional"
    SESSION_EXPIRED = "session_expired"
    OUTSIDE_LOOKBACK = "outside_lookback"
    # Denied: radiology depositors
    NOT_RADIOLOGY_DEPOSITOR = "not_radiology_depositor"
    NOT_RADIOLOGY_CATEGORY = "not_radiology_category"
    NO_RADIOLOGY_AUTHORISATION = "no_radiology_authorisation"
    DEPOSITOR_CANNOT_READ = "depositor_cannot_read"
    # Denied: break-glass
    BREAK_GLASS_DISABLED = "break_glass_disabled"
    BREAK_GLASS_NOT_PERMITTED = "break_glass_not_permitted"
    JUSTIFICATION_TOO_SHORT = "justification_too_short"
    # Denied: operators and institution admins
    OPERATOR_NO_CONTENT = "operator_no_content"
    ADMIN_NO_CONTENT = "admin_no_content"
    NOT_OWN_INSTITUTION = "not_own_institution"

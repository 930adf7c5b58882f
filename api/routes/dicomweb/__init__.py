"""DICOMweb: STOW-RS for radiology depositors, WADO-RS for the person and HK providers.

Base URLs, to give a DICOMweb client:

* ``/dicomweb`` — STOW-RS (``POST /dicomweb/studies``) for a depositor's professional
  token, and WADO-RS for the *person* (citizen token; a caregiver adds ``On-Behalf-Of``).
* ``/dicomweb/patients/{person_id}`` — WADO-RS for an HK provider's professional token
  (R3: sharing consent covering ``personal_folder``, images general for the profession).

**STOW-RS** takes ``multipart/related; type="application/dicom"``, parsed as it streams:
each part is sealed like a ``PUT`` file (see :mod:`api.routes.radiology`). A part may
omit the Part 10 preamble (``pydicom.dcmwrite`` of a data set read without one, as
DICOMweb clients send it): the server stores it with a zeroed preamble and ``DICM``.
It needs one of two headers:

* ``X-Radiology-Deposit: <deposit id>`` — the instances join that open deposit, stay
  pending and become visible when it completes; refused instances are listed in the
  response's FailedSOPSequence (202 if some were stored, 409 if none);
* ``X-Radiology-Authorisation: <code>`` — a deposit of its own, all or nothing: every
  instance stored and the deposit completed in the same request (200), or nothing kept
  at all (409, with the reasons).

**WADO-RS** (``GET .../studies/{study}[/series/{series}[/instances/{instance}]]``)
answers ``multipart/related; type="application/dicom"``, each instance decrypted on the
fly as stored (transfer syntax unchanged; an ``Accept`` asking for another one is 406).
A study the caller may not see is 404, like one that does not exist (R10).

**QIDO-RS** (``GET .../studies``, ``.../studies/{study}/series``,
``.../series/{series}/instances``) and **WADO-RS metadata** (``.../metadata`` at each
level) answer DICOM JSON from the person's sealed study index: see
:mod:`api.routes.dicomweb.qido`.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.routes.dicomweb import qido, stow, wado

router = APIRouter()
router.include_router(stow.router)
router.include_router(qido.router)
router.include_router(wado.router)

"""The FHIR R4 facade (``/fhir/r4``) and SMART Backend Services: a second door onto the
same use-cases, decided by the same policy and audited the same way (``docs/fhir.md``)."""

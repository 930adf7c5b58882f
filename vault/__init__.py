"""crossvault's vault: encryption at rest, the record store, the audit log, and the
use-cases that ask :mod:`policies` before anything is decrypted.

``vault`` imports :mod:`policies`; it never imports :mod:`api`, FastAPI or anything HTTP.
"""

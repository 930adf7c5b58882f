"""The radiology service the API holds: deposits (:mod:`vault.radiology.deposits`), their
files (:mod:`vault.radiology.files`), reading studies back
(:mod:`vault.radiology.instances`) and housekeeping (:mod:`vault.radiology.housekeeping`),
over one shared state (:class:`~vault.radiology.base.DepositService`)."""

from __future__ import annotations

from vault.radiology.deposits import Deposits
from vault.radiology.files import DepositFiles
from vault.radiology.housekeeping import Housekeeping
from vault.radiology.instances import Instances


class RadiologyDeposits(Deposits, DepositFiles, Instances, Housekeeping):
    """Every radiology use-case (R5 deposits; WADO-RS reads for R1/R3)."""

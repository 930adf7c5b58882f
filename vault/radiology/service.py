"""The radiology service the API holds: deposits (:mod:`vault.radiology.deposits`), their
files (:mod:`vault.radiology.files`), reading studies back
(:mod:`vault.radiology.instances`), searching them and their metadata
(:mod:`vault.radiology.search`) and housekeeping (:mod:`vault.radiology.housekeeping`),
over one shared state (:class:`~vault.radiology.base.DepositService`)."""

from __future__ import annotations

from vault.radiology.deposits import Deposits
from vault.radiology.files import DepositFiles
from vault.radiology.housekeeping import Housekeeping
from vault.radiology.instances import Instances
from vault.radiology.search import StudySearch


class RadiologyDeposits(Deposits, DepositFiles, Instances, StudySearch, Housekeeping):
    """Every radiology use-case (R5 deposits; WADO-RS reads, QIDO-RS searches and
    metadata for R1/R2/R3)."""

"""Running a :class:`~sim.simulation.timeline.Plan` against the API, over real HTTP.

Each simulated day: the operator moves the server's clock to that day (noon, Hong Kong
time; set-up at midnight the day before ``start``), then the day's events run in four
phases, each finished before the next starts:

1. ``register`` — the operator registers people and staff (set-up only);
2. ``morning`` — people apply, consent, revoke, authorise; providers deposit; a nurse asks
   for restricted access and the person reads the OTP from their notifications;
3. ``scan`` — everything that redeems a secret: staff scan cross-border codes (typos,
   foreign scanners, guessing attacks included), radiology depositors redeem their
   code, nurses confirm OTPs;
4. ``afternoon`` — sessions are read, revoked and read again; studies uploaded and
   completed; folders filled; providers view records.

Determinism: the morning and afternoon phases run people's events side by side (one lane
per person, ``workers`` threads, the longest lanes first), because nothing one person
does there changes what another is answered. In the scan phase failed redemptions count
against per-professional and per-institution lock-outs, so their order decides who gets
locked out: its steps run in plan order within lanes that share neither a person nor an
institution (:func:`~.steps.independent_lanes`), and those lanes side by side.

One module per part of the run: :mod:`~.world` (what every part shares), :mod:`~.staff`
(the professionals hired at set-up), :mod:`~.citizens` (people's own calls, through
their caregiver if they have one), :mod:`~.cross_border`, :mod:`~.hong_kong` and
:mod:`~.personal_folder` (one family of events each), :mod:`~.steps` (which event runs
in which phase), :mod:`~.runner` (days, phases, lanes) and :mod:`~.read_back` (the
persons' accounts read back at the end).
"""

from sim.simulation.driver.runner import Driver, Interrupted
from sim.simulation.driver.world import MIDNIGHT, NOON, World, instant

__all__ = ["MIDNIGHT", "NOON", "Driver", "Interrupted", "World", "instant"]

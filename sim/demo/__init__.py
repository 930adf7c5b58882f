"""``crossvault demo``: a narrated walk-through of the cross-border flow, over real HTTP.

The demo drives a running server (one it starts itself on a free port, or ``--url``)
through ten steps, printing each HTTP call (who, method, path, a short body summary) and
its answer (status and key fields) with ``rich``:

1. a person registers and joins eHealth;
2. the Hospital Authority deposits records dated over five years (onboarded first: one
   operator proposes its admin credential, a second approves; its admin registers the
   doctor and issues the client credentials);
3. the person applies for a cross-border record for HKU-Shenzhen Hospital (two codes);
4. a doctor there redeems the codes and sees only the last three years;
5. the person sees that view in the access log and got a notification;
6. the person obtains a radiology authorisation;
7. the hospital deposits a DICOM study into the Personal Folder;
8. the person shares the folder with a Hong Kong doctor, who lists and reads the study;
9. revoking the cross-border authorisation ends the doctor's access at once;
10. institutions that are not designated, and a wrong passcode, are refused.

:func:`run_demo` returns a :class:`DemoResult` holding each step's calls and outcome
(``facts``), so tests assert on what happened rather than on the narration.

* :mod:`~sim.demo.script` — the person, the institutions and the records deposited;
* :mod:`~sim.demo.narrator` — each call made, printed and recorded
  (:mod:`~sim.demo.printing`: how ids, codes and times are shown;
  :mod:`~sim.demo.outcomes`: what each step saw);
* :mod:`~sim.demo.calls` and :mod:`~sim.demo.steps` — the calls the steps share, and the
  ten steps;
* :mod:`~sim.demo.command` — ``crossvault demo`` itself: the server, the exit codes.

**What is printed, and what never is.** The demo prints what an integrator needs to follow
the flow: methods, paths (long ids cut to their first eight characters), statuses,
problem ``code``\\s, record categories, clinical dates, sources, titles, sizes, SHA-256
prefixes, and the person's access-log reasons and notification events. Titles are shown
because the API lists them to every permitted viewer, like a document's name. It never
prints record content (the text deposited, the report filed with the study, the DICOM
bytes or header), passwords, client or operator secrets, access tokens, or the
application code, passcode and radiology authorisation code: those appear as their prefix
only (``CB-••••``), as a person would not read theirs aloud at a demo.

"Not designated" (step 10) is shown with today's registry, in which every Mainland
institution is designated for the cross-border record: a Hong Kong hospital is refused an
application (it is not a designated Mainland institution), Guangdong Clifford Hospital is
refused a radiology authorisation (it is not a designated radiology depositor), and the
codes the person obtained for HKU-Shenzhen open nothing at Clifford.

Dates are this machine's Hong Kong calendar date (UTC+8); the lookback itself comes from
the server (the session's ``visible_since``). Against a long-running server (``--url``,
with ``--operator-secret`` and a second operator's ``--approver CLIENT_ID:SECRET``) each
run adds a person, credentials and professionals, and one failed code attempt at each of
two institutions (well below the lock-out thresholds); it onboards the institutions it
uses afresh, which revokes their earlier admin credentials.
"""

from sim.demo.command import check_reachable, main, run_demo, run_self_started
from sim.demo.outcomes import DemoResult, DemoStopped, Exchange, ServerUnreachable, StepOutcome
from sim.demo.printing import today_in_hong_kong
from sim.demo.script import HA_RECORDS, PLAINTEXT_CONTENT, DemoRecord

__all__ = [
    "HA_RECORDS",
    "PLAINTEXT_CONTENT",
    "DemoRecord",
    "DemoResult",
    "DemoStopped",
    "Exchange",
    "ServerUnreachable",
    "StepOutcome",
    "check_reachable",
    "main",
    "run_demo",
    "run_self_started",
    "today_in_hong_kong",
]

"""What the demo saw: each step's calls and ``facts`` (tests assert on these rather than
on the narration), and the two ways a run stops early."""

from __future__ import annotations

from dataclasses import dataclass, field

Fact = str | int | bool | None | tuple[str, ...]


class DemoStopped(Exception):
    """A call answered what the demo did not expect (the message names the step, the
    call and the problem ``code``)."""


class ServerUnreachable(Exception):
    """No crossvault server answers at the URL, or none could be started."""


@dataclass(frozen=True)
class Exchange:
    """One HTTP call as the demo saw it."""

    who: str
    method: str
    path: str
    status: int
    code: str | None  # the problem ``code`` of a refusal


@dataclass
class StepOutcome:
    number: int
    title: str
    exchanges: list[Exchange] = field(default_factory=list)
    facts: dict[str, Fact] = field(default_factory=dict)

    def answers(self, method: str, path_suffix: str) -> list[Exchange]:
        """The exchanges of ``method`` on a path ending with ``path_suffix``."""
        return [e for e in self.exchanges if e.method == method and e.path.endswith(path_suffix)]


@dataclass
class DemoResult:
    base_url: str
    steps: list[StepOutcome] = field(default_factory=list)

    def step(self, number: int) -> StepOutcome:
        return next(s for s in self.steps if s.number == number)

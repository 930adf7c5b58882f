"""The narrator: makes each HTTP call of the demo, prints it (who, method, path, a short
summary of the body) and its answer (status and key fields) with ``rich``, and records
what came back in the step's :class:`~sim.demo.outcomes.StepOutcome`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from sim.demo.outcomes import DemoStopped, Exchange, Fact, ServerUnreachable, StepOutcome
from sim.demo.printing import shown_path

WHO_WIDTH = 22

Body = dict[str, Any]


@dataclass(frozen=True)
class Actor:
    """Someone calling the API: a label for the narration and their request headers."""

    label: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Call:
    """One call of the demo: the request, its ``summary`` as printed, the status it must
    answer, and ``brief``, which picks the key fields to print from the JSON answer."""

    method: str
    path: str
    summary: str = ""
    expect: int = 200
    brief: Callable[[Body], str] | None = None
    json: Any = field(default=None, repr=False)
    data: dict[str, str] | None = field(default=None, repr=False)
    params: dict[str, str | int] | None = None
    content: bytes | None = field(default=None, repr=False)
    content_type: str | None = None


@dataclass(frozen=True)
class Answer:
    """An expected answer: status, problem code, the JSON body (``{}`` if none) and the
    raw content (never printed)."""

    status: int
    code: str | None
    body: Body
    content_type: str
    content: bytes = field(repr=False)

    @classmethod
    def of(cls, response: httpx.Response) -> Answer:
        body = json_body(response)
        code = None if response.is_success else body.get("code")
        return cls(
            response.status_code,
            code if isinstance(code, str) else None,
            body,
            response.headers.get("content-type", ""),
            response.content,
        )

    @property
    def outcome(self) -> str:
        return f"{self.status} {self.code}"


def json_body(response: httpx.Response) -> Body:
    """The answer's JSON object, or ``{}`` when it has none."""
    if "json" not in response.headers.get("content-type", ""):
        return {}
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _default_note(answer: Answer) -> str:
    if answer.code:
        return answer.code
    if answer.status == 204:
        return "no content"
    if not answer.body:
        return f"{answer.content_type}, {len(answer.content)} bytes (not shown)"
    return ""


class Narrator:
    """Prints steps and calls, makes the calls, and records what came back."""

    def __init__(self, http: httpx.Client, console: Console, *, pause: float = 0.0) -> None:
        self.http, self.console, self.pause = http, console, pause
        self.steps: list[StepOutcome] = []
        self._last_call = "no call yet"

    @property
    def current(self) -> StepOutcome:
        return self.steps[-1]

    @contextmanager
    def step(self, number: int, title: str, story: str) -> Iterator[StepOutcome]:
        """Announce a step; an answer body the step cannot use stops the demo."""
        if self.steps and self.pause > 0:
            time.sleep(self.pause)
        outcome = StepOutcome(number, title)
        self.steps.append(outcome)
        self.console.print()
        self.console.rule(f"[bold]{number} · {escape(title)}", align="left")
        self.console.print(Text(story, style="italic"))
        try:
            yield outcome
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            raise DemoStopped(
                f"step {number} ({title}): {self._last_call} answered a body the demo "
                f"cannot use ({type(exc).__name__})"
            ) from None

    def call(self, who: Actor, call: Call) -> Answer:
        """Make one call and print it; any status but ``call.expect`` stops the demo."""
        shown = shown_path(call.path)
        self._print_request(who.label, call.method, shown, call.summary)
        self._last_call = f"{call.method} {shown}"
        response = self._send(who, call, shown)
        answer = Answer.of(response)
        step = self.current
        step.exchanges.append(
            Exchange(who.label, call.method, call.path, answer.status, answer.code)
        )
        if answer.status != call.expect:
            raise DemoStopped(
                f"step {step.number} ({step.title}): {call.method} {shown} answered "
                f"{answer.status} {answer.code or response.reason_phrase}, expected {call.expect}"
            )
        brief = call.brief
        note = brief(answer.body) if brief and answer.code is None else _default_note(answer)
        self._print_answer(answer.status, note, refused=not response.is_success)
        return answer

    def say(self, text: str) -> None:
        self.console.print(Padding(Text(text, style="bold"), (0, 0, 0, 2)))

    def fact(self, **facts: Fact) -> None:
        self.current.facts.update(facts)

    def records(self, items: list[Body]) -> None:
        """A table of listed records: date, category, source, title (never content)."""
        table = Table(box=None, padding=(0, 2), show_edge=False, header_style="dim")
        for column in ("clinical date", "category", "source", "title"):
            table.add_column(column)
        for item in items:
            table.add_row(
                item["clinical_date"], item["category"], item["source"], escape(item["title"])
            )
        self.console.print(Padding(table, (0, 0, 0, 2)))

    def _send(self, who: Actor, call: Call, shown: str) -> httpx.Response:
        headers = {**who.headers}
        if call.content_type is not None:
            headers["Content-Type"] = call.content_type
        try:
            return self.http.request(
                call.method,
                call.path,
                headers=headers,
                json=call.json,
                data=call.data,
                params=call.params,
                content=call.content,
            )
        except httpx.TransportError as exc:
            raise ServerUnreachable(
                f"lost the server during {call.method} {shown}: {exc}"
            ) from None

    def _print_request(self, who: str, method: str, path: str, summary: str) -> None:
        line = Text.assemble((f"{method:<7}", "bold"), path)
        if summary:
            line.append("\n" + summary, style="dim")
        self._row(Text(who, style="cyan"), line)

    def _print_answer(self, status: int, note: str, *, refused: bool) -> None:
        line = Text.assemble("← ", (str(status), "bold yellow" if refused else "bold green"))
        if note:
            line.append(f"  {note}")
        self._row(Text(""), line)

    def _row(self, who: Text, body: Text) -> None:
        """Two columns, so that long lines wrap inside their own column."""
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=1)
        grid.add_column(width=WHO_WIDTH, no_wrap=True, overflow="ellipsis")
        grid.add_column(overflow="fold")
        grid.add_row("", who, body)
        self.console.print(grid)

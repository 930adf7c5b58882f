"""The terminal tables of one run's report (rich): decisions by actor kind and reason,
the programmes' ledger, latency per call kind, and the calibration table;
:func:`sim.simulation.report.print_summary` prints them."""

from __future__ import annotations

from typing import Any

from rich.table import Table

ANSWERS_VS_AUDIT = (
    "Answers (the overview) count every HTTP answer the simulator saw, set-up and the "
    "read-back included; the audit counts the decisions recorded about people. They "
    "differ: onboarding is on the system chain, about no person; logins are no access "
    "decision; one call may record several decisions (a session list, its views)."
)


def calibration_table(summary: dict[str, Any]) -> Table:
    """Published figures (at the run's scale) against what the run simulated."""
    table = Table(
        title=f"Calibration: published figures at scale {summary['scale']} against the run",
        title_justify="left",
    )
    for column in ("figure", "as of", "published", "expected", "simulated", "ratio"):
        table.add_column(column, justify="left" if column in ("figure", "as of") else "right")
    for row in summary["calibration"]:
        shown = _percent if row["unit"] == "share" else _count
        ratio = "—" if row["ratio"] is None else f"{row['ratio']:.3f}"
        table.add_row(
            row["figure"],
            row["as_of"],
            shown(row["published"]),
            shown(row["expected"]),
            shown(row["simulated"]),
            ratio,
        )
    return table


def programmes_table(programmes: dict[str, Any]) -> Table:
    """The programmes' ledger as of their figures' dates."""
    table = Table(
        title="Programmes around the vault (the simulator's ledger, not the vault)",
        title_justify="left",
    )
    table.add_column("programme")
    table.add_column("figure", overflow="fold")
    table.add_column("as of")
    table.add_column("value", justify="right")
    voucher = programmes.get("voucher")
    if voucher:
        rows = [
            ("users", f"{voucher['users']:,}"),
            ("transactions", f"{voucher['transactions']:,}"),
            ("claimed", f"HK${voucher['claimed_hkd']:,}"),
        ]
        total = voucher["transactions"] or 1
        rows += [(f"share: {s}", _percent(n / total)) for s, n in voucher["services"].items()]
        for figure_name, value in rows:
            table.add_row("voucher GBA pilot", figure_name, voucher["as_of"], value)
    pilot = programmes.get("ha_pilot")
    if pilot:
        for figure_name in ("patients", "visits"):
            table.add_row(
                "HA GBA patient pilot", figure_name, pilot["as_of"], f"{pilot[figure_name]:,}"
            )
    return table


def decisions_table(counts: dict[str, Any]) -> Table:
    if counts.get("audit"):
        table = Table(
            title="Decisions by actor kind and reason (the audit log, read back)",
            title_justify="left",
            caption=ANSWERS_VS_AUDIT,
            caption_justify="left",
        )
        table.add_column("actor kind")
        table.add_column("outcome")
        table.add_column("reason", overflow="fold", min_width=18)
        table.add_column("count", justify="right")
        for actor, outcomes in counts["audit"].items():
            for outcome in ("allowed", "denied"):
                ranked = sorted(outcomes.get(outcome, {}).items(), key=lambda kv: (-kv[1], kv[0]))
                for reason, n in ranked:
                    table.add_row(actor, outcome, reason, f"{n:,}")
        return table
    table = Table(
        title="Answers by actor kind (problem codes; the audit log was not read back)",
        title_justify="left",
    )
    table.add_column("actor kind")
    table.add_column("outcome")
    table.add_column("code", overflow="fold", min_width=18)
    table.add_column("count", justify="right")
    for actor, answers in counts["answers_by_actor"].items():
        table.add_row(actor, "permitted", "", f"{answers['permitted']:,}")
        for code, n in sorted(answers["denied"].items(), key=lambda kv: (-kv[1], kv[0])):
            table.add_row(actor, "denied", code, f"{n:,}")
    return table


def _percent(value: float) -> str:
    return f"{value:.1%}"


def _count(value: float) -> str:
    return f"{value:,.0f}"


def latency_table(latency: dict[str, dict[str, float]]) -> Table:
    table = Table(title="Latency per call kind (ms)", title_justify="left")
    for column in ("call", "n", "p50", "p95", "p99"):
        table.add_column(column, justify="left" if column == "call" else "right")
    for kind, row in latency.items():
        table.add_row(
            kind,
            f"{int(row['n']):,}",
            f"{row['p50']:.1f}",
            f"{row['p95']:.1f}",
            f"{row['p99']:.1f}",
        )
    return table

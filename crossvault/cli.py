"""The crossvault command: serve the API, provision or reset its data, drive demos,
simulations and benchmarks, and run the operator's tasks (audit, keys, schema, erasure).

Help texts are plain sentences (no reST markup): they are what an operator reads. Command
groups beyond these live in :mod:`crossvault.commands`."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import Progress

from crossvault.commands import workspace
from crossvault.commands.overview import add_index
from crossvault.http_options import Approver, OperatorSecret, ServerUrl
from crossvault.seeding_command import register as register_seed
from crossvault.simulate import simulate
from sim.benchmarks import OPT_IN, SUITES
from vault.core.errors import VaultError

if TYPE_CHECKING:
    from vault.runtime.opening import Vault

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="crossvault: a consent-based, encrypted, cross-border health-record vault "
    "simulator. Configured by environment: CROSSVAULT_DATA_DIR (default ./data), "
    "DATABASE_URL, CROSSVAULT_POLICY, CROSSVAULT_DEMO=1 (see the README).",
)
audit_app = typer.Typer(
    no_args_is_help=True, help="The hash-chained audit log: verify, checkpoint, prove."
)
keys_app = typer.Typer(no_args_is_help=True, help="The keyring and persons' data keys: rotate.")
db_app = typer.Typer(
    no_args_is_help=True, help="The database schema (Alembic migrations): upgrade, current."
)
persons_app = typer.Typer(no_args_is_help=True, help="Persons, on a verified request: erase.")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(persons_app, name="persons")
err = Console(stderr=True)
T = TypeVar("T")


def _refusing(action: Callable[[], T]) -> T:
    """Run ``action``; a vault error becomes one line on stderr and exit code 2."""
    try:
        return action()
    except VaultError as exc:
        print(f"crossvault: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None


def _open_vault() -> Vault:
    from vault.core.settings import Settings
    from vault.runtime.opening import Vault

    return _refusing(lambda: Vault.open(Settings()))


def _start_up_housekeeping(vault: Vault) -> None:
    """What a crash may have left behind, cleared before serving: sealed objects no
    record names, and temporary copies of the keyring file (see :mod:`vault.store.blobs`,
    :mod:`vault.keys.rotation`). Both only past a grace period, so another server sharing the
    data dir is never raced."""
    from vault.keys.rotation import remove_keyring_leftovers

    orphans = vault.collect_orphaned_blobs()
    leftovers = remove_keyring_leftovers(vault.keyring)
    if orphans or leftovers:
        print(
            f"crossvault: removed {orphans} orphaned blob(s) and {leftovers} keyring "
            "leftover(s) from an earlier crash",
            file=sys.stderr,
        )


def _check_policy() -> None:
    """Load ``CROSSVAULT_POLICY`` (or the default) now: a bad file is one line, exit 2."""
    from policies import PolicyError
    from policies.policy_file import default_policy_path, load_policy
    from vault.core.settings import Settings

    settings = _refusing(Settings)  # a bad setting: one line, exit 2
    try:
        load_policy(settings.policy or default_policy_path())
    except PolicyError as exc:
        print(f"crossvault: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to bind")] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Serve the API (SQLite + local blobs + a generated keyring unless configured)."""
    import uvicorn

    from api.app import create_app
    from api.transport import NoDelayH11Protocol
    from api.web import banner as web_banner
    from vault.core.settings import Settings

    _check_policy()
    vault = _open_vault()  # refuses (one line) before uvicorn takes over
    typer.echo(web_banner(host, port, Settings().demo))
    try:
        _start_up_housekeeping(vault)
        # no uvicorn access line (raw paths, queries): api/observability.py logs templates
        if workers == 1:  # the vault opened once: checked, cleaned and served
            app = create_app(Settings(), vault)
            uvicorn.run(
                app,
                host=host,
                port=port,
                access_log=False,
                server_header=False,
                http=NoDelayH11Protocol,
                loop="asyncio",  # uvloop is installed for the simulator's server only
            )
            return
    finally:
        vault.close()
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="crossvault-metrics-")
    # Several workers: each process opens its own vault (this one only checked it) and
    # listens on its own socket of the port, so connections spread (api/workers.py).
    from api.workers import run_workers

    run_workers(
        workers,
        host=host,
        port=port,
        app="api.app:app_from_env",
        factory=True,
        access_log=False,
        server_header=False,
        http=NoDelayH11Protocol,  # TCP_NODELAY: no 40 ms Nagle stall per keep-alive answer
        loop="asyncio",  # uvloop is installed for the simulator's server only
    )


@app.command()
def demo(
    url: ServerUrl = None,
    operator_secret: OperatorSecret = None,
    approver: Approver = None,
    pause: Annotated[float, typer.Option(min=0, help="seconds to wait between steps")] = 0.0,
    plain: Annotated[bool, typer.Option(help="no colours or styles")] = False,
) -> None:
    """A narrated walk-through of the cross-border flow over real HTTP."""
    from sim.demo import main as run

    raise typer.Exit(run(url, operator_secret, approver, pause=pause, plain=plain))


@audit_app.command("verify")
def audit_verify() -> None:
    """Verify every audit chain, then every signed checkpoint.

    Names the first broken chain and position, or the first bad checkpoint (exit 1; exit 2
    when there is no key to check a checkpoint with).
    """
    from vault.audit.verify import public_keys, verify_audit
    from vault.core.errors import KeyringError
    from vault.store.engine import reading

    vault = _open_vault()
    try:
        with reading(vault.engine) as session:
            report = verify_audit(session, public_keys(vault.keyring))
    except KeyringError as exc:
        err.print(f"cannot verify the checkpoints: {exc}")
        raise typer.Exit(2) from None
    print(report.describe())
    raise typer.Exit(0 if report.valid else 1)


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign a checkpoint over every chain's head now (none if nothing changed)."""
    from vault.audit.checkpoints import CheckpointBusy, fingerprint, make_checkpoint
    from vault.core.errors import KeyringError

    vault = _open_vault()
    try:
        made = make_checkpoint(vault.engine, vault.keyring, vault.clock.now())
    except (CheckpointBusy, KeyringError) as exc:
        err.print(f"no checkpoint made: {exc}")
        raise typer.Exit(2) from None
    if made is None:
        print("no chain changed since the last checkpoint: none made")
        return
    print(
        f"checkpoint {made.number}: {made.tree_size} chains, root {made.root_hash} "
        f"(signed by {made.kid}; fingerprint {fingerprint(made)})"
    )


@audit_app.command("prove")
def audit_prove(
    access_log: Annotated[
        list[Path], typer.Argument(help="access-log answers (JSON), newest page first")
    ],
    jwks: Annotated[Path, typer.Option(help="the server's /.well-known/jwks.json, saved")],
) -> None:
    """Check a person's saved access log offline against its signed checkpoint.

    Checks the signature, the inclusion proof, and every entry's hash and link (exit 1 on
    any problem).
    """
    import json

    from vault.audit.offline import check_access_log

    pages = [json.loads(p.read_text()) for p in access_log]
    problems = check_access_log(pages, json.loads(jwks.read_text()))
    for problem in problems:
        print(f"FAILED: {problem}")
    if problems:
        raise typer.Exit(1)
    chain, proof = pages[0]["chain"], pages[0]["checkpoint_proof"]
    print(
        f"verified: {chain['length']} entries of {chain['person_id']}; the first "
        f"{proof['leaf_length']} are in signed checkpoint {proof['checkpoint']['number']}"
    )


@keys_app.command("rotate")
def keys_rotate(
    retire: Annotated[bool, typer.Option(help="retire old keyring versions afterwards")] = True,
) -> None:
    """Re-wrap every data key under a new keyring version.

    Resumes an interrupted run.
    """
    from vault.keys.rotation import Pacing, retire_unused_versions, rotate

    vault = _open_vault()
    with Progress(console=err, transient=False) as bar:
        task = bar.add_task("re-wrapping data keys", total=None)
        report = rotate(
            vault.engine,
            vault.keyring,
            vault.keys,
            now=vault.clock.now,
            pacing=Pacing(
                progress=lambda done, total: bar.update(task, completed=done, total=total)
            ),
        )
    retired = retire_unused_versions(vault.engine, vault.keyring) if retire else []
    verb = "resumed and finished" if report.resumed else "finished"
    print(
        f"rotation {verb}: {report.rewrapped} keys now on version {report.version}; "
        f"retired versions: {retired or 'none'}"
    )


@persons_app.command("erase")
def persons_erase(
    person_id: Annotated[str, typer.Argument(help="the person's id")],
    reference: Annotated[
        str, typer.Option(help="the verified request's reference (kept in the audit log)")
    ],
) -> None:
    """Erase a person on their verified request.

    As a withdrawal: the data key destroyed, records and blobs deleted, every grant ended;
    audited as erased_on_request.
    """
    from policies.policy_file import default_policy_path, load_policy
    from vault.access.judge import Judge
    from vault.account.withdrawal import Withdrawal
    from vault.core.errors import NotFound
    from vault.core.settings import Settings

    policy = load_policy(Settings().policy or default_policy_path())
    vault = _open_vault()
    try:
        erased = Withdrawal(Judge(vault, policy)).erase_on_request(person_id, reference)
    except NotFound:
        print(f"crossvault: no person {person_id!r} (or already erased)", file=sys.stderr)
        raise typer.Exit(1) from None
    finally:
        vault.close()
    print(f"erased person {person_id}: {erased} record(s); the data key is destroyed")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the schema this crossvault expects (safe to repeat).

    A deployment (DATABASE_URL set) runs this before starting servers; the embedded
    SQLite default also does it by itself on every start.
    """
    from vault.core.settings import Settings
    from vault.runtime.opening import upgrade_database

    print(_refusing(lambda: upgrade_database(Settings())).describe())


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision (exit 0 if current, 1 if not)."""
    from vault.core.settings import Settings
    from vault.store.schema import SchemaStatus, current_state

    state = _refusing(lambda: current_state(Settings().resolved_database_url()))
    print(
        f"schema: {state.status.value} (database at {state.current or 'none'}, "
        f"code expects {state.expected})"
    )
    raise typer.Exit(0 if state.status is SchemaStatus.CURRENT else 1)


app.command()(simulate)


def _suite(name: str) -> str:
    if name not in SUITES and name not in OPT_IN:
        known = ", ".join([*SUITES, *OPT_IN])
        raise typer.BadParameter(f"no suite {name!r}; the suites: {known}")
    return name


@app.command()
def bench(
    scale: Annotated[float, typer.Option(help="size factor for the workloads")] = 1.0,
    only: Annotated[
        list[str] | None,
        typer.Option(
            help=(
                f"run only this suite (repeat for several): {', '.join(SUITES)}; "
                f"run only when named: {', '.join(OPT_IN)}"
            ),
            metavar="SUITE",
            parser=_suite,
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run every benchmark suite and print one report of side-by-side ratios."""
    from sim.benchmarks.report import run_all

    sys.exit(run_all(scale, only or []))


workspace.register(app)
register_seed(app)
add_index(app)  # last: the index names every command


def main() -> None:
    app()


if __name__ == "__main__":
    main()

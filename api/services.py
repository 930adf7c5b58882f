"""Everything a request handler may use, built once per app (``app.state.services``)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from api.observability import count_decision
from api.tokens import TokenAuthority
from policies.policy_file import Policy, default_policy_path, load_policy
from vault.access.judge import Judge
from vault.core.settings import Settings
from vault.crypto.secrets import Secret
from vault.records.reading import Records
from vault.runtime.opening import Vault

OPERATOR_CLIENT_ID = "operator"
OPERATOR_SECRET_FILE = "operator-secret"


@dataclass
class Services:
    settings: Settings
    vault: Vault
    policy: Policy
    judge: Judge
    records: Records
    tokens: TokenAuthority
    operator_secret: Secret[str]
    operators: dict[str, Secret[str]] = field(default_factory=dict)  # every operator client

    @classmethod
    def build(cls, settings: Settings, vault: Vault) -> Services:
        policy = load_policy(settings.policy or default_policy_path())
        judge = Judge(vault, policy, on_decision=count_decision)
        tokens = TokenAuthority(vault.keyring.signing_key_pem(), vault.keyring.signing_kid())
        bootstrap = operator_secret(settings)
        operators = {OPERATOR_CLIENT_ID: bootstrap, **operator_clients(settings)}
        return cls(settings, vault, policy, judge, Records(judge), tokens, bootstrap, operators)


DEMO_SECOND_OPERATOR = ("demo-operator-2", "demo-operator-secret-2")


def operator_clients(settings: Settings) -> dict[str, Secret[str]]:
    """The operators besides ``operator`` (``CROSSVAULT_OPERATORS``); in demo mode also a
    documented second one, so the four-eyes onboarding can be shown."""
    clients = {cid: Secret(secret) for cid, secret in settings.operators.items()}
    if settings.demo:
        clients.setdefault(DEMO_SECOND_OPERATOR[0], Secret(DEMO_SECOND_OPERATOR[1]))
    return clients


def operator_secret(settings: Settings) -> Secret[str]:
    """``CROSSVAULT_OPERATOR_SECRET``, or one generated on first run into the data dir
    (0600) and printed once to stderr."""
    if settings.operator_secret:
        return Secret(settings.operator_secret)
    path = Path(settings.data_dir) / OPERATOR_SECRET_FILE
    if path.exists():
        return Secret(path.read_text().strip())
    value = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker won the race: use its secret
        return Secret(path.read_text().strip())
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    print(
        f"crossvault: operator client_id={OPERATOR_CLIENT_ID} client_secret={value} "
        f"(generated into {path}, 0600; shown only this once)",
        flush=True,
    )
    return Secret(value)

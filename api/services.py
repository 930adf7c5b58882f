"""Everything a request handler may use, built once per app (``app.state.services``)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from api.lru import Lru
from api.observability import count_decision
from api.tokens import TokenAuthority
from policies.policy_file import Policy, default_policy_path, load_policy
from vault.access.judge import Judge
from vault.core.settings import Settings
from vault.crypto.secrets import Secret
from vault.records.reading import Records
from vault.runtime.opening import Vault
from vault.store.tables import Professional

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
    # Professionals are never changed once registered, so each process remembers them.
    professionals: Lru[str, Professional] = field(default_factory=lambda: Lru(4096))

    @classmethod
    def build(cls, settings: Settings, vault: Vault) -> Services:
        policy = load_policy(settings.policy or default_policy_path())
        judge = Judge(vault, policy, on_decision=count_decision)
        tokens = TokenAuthority(vault.keyring.signing_key_pem(), vault.keyring.signing_kid())
        return cls(
            settings, vault, policy, judge, Records(judge), tokens, operator_secret(settings)
        )


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

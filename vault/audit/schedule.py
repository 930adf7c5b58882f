"""The server's own checkpoints: one every ``CROSSVAULT_CHECKPOINT_SECONDS`` when any chain
changed. Each worker process runs one :class:`Checkpointer`; when two try at the same
moment one loses the race on the number (:class:`~vault.audit.checkpoints.CheckpointBusy`)
and simply waits for the next turn."""

from __future__ import annotations

import logging
import threading

from vault.audit.checkpoints import CheckpointBusy, make_checkpoint
from vault.core.errors import KeyringError
from vault.runtime.opening import Vault

log = logging.getLogger("crossvault.audit")


class Checkpointer:
    """A daemon thread making checkpoints every ``seconds`` until :meth:`stop`."""

    def __init__(self, vault: Vault, seconds: float) -> None:
        self.vault = vault
        self.seconds = seconds
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="checkpoints", daemon=True)

    def start(self) -> None:
        if self.seconds > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopped.wait(self.seconds):
            try:
                self.once()
            except KeyringError as exc:
                log.warning("no audit checkpoints: %s", exc)
                return
            except Exception:
                log.exception("an audit checkpoint failed; trying again next turn")

    def once(self) -> None:
        try:
            made = make_checkpoint(self.vault.engine, self.vault.keyring, self.vault.clock.now())
        except CheckpointBusy:
            return
        if made is not None:
            log.info("audit checkpoint %d: %d chains", made.number, made.tree_size)

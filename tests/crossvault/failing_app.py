"""An app factory that cannot build its app (``test_serve_workers``)."""

from __future__ import annotations


def app() -> object:
    raise RuntimeError("this app cannot start")

"""Command groups of ``crossvault`` that live outside :mod:`crossvault.cli` (which
registers them): the data dir's set-up and reset (:mod:`crossvault.commands.workspace`)
and the top-level help's index of every command (:mod:`crossvault.commands.overview`)."""

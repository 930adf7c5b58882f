"""The ``crossvault`` command: the composition root above :mod:`api` and :mod:`sim`."""

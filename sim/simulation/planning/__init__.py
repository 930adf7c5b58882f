"""How :mod:`sim.simulation.timeline` plans a run: a :class:`~.planner.Planner` holding the
seed's ``random.Random`` and the days planned so far, and one module per family of
events (the cross-border record, the Personal Folder and radiology, Hong Kong care)."""

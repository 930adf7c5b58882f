"""The simulator's concurrency defaults (a module of their own: the ``crossvault`` CLI
reads them for its help without importing the simulator). Measured in
``docs/simulation.md``: on two cores, two server processes and six client threads."""

SERVER_WORKERS = 2  # uvicorn worker processes of the server ``crossvault simulate`` starts
DEFAULT_WORKERS = 6  # client threads: people's lanes in flight

"""``crossvault simulate``: a synthetic population living through a scenario, driven
through the real HTTP API, and what the policy made of it.

* :mod:`~sim.simulation.scenario` — scenario files (TOML), validated;
* :mod:`~sim.simulation.population` — the people, from the seed;
* :mod:`~sim.simulation.events` — what a person's story can do on a day, as plain data;
* :mod:`~sim.simulation.timeline` — every event, planned up front, by simulated day
  (:mod:`~sim.simulation.planning`: one module per family of events);
* :mod:`~sim.simulation.driver` — the events as HTTP calls, day by day, clock moved
  by the operator;
* :mod:`~sim.simulation.client` — the HTTP client, tokens and timing;
* :mod:`~sim.simulation.tally`, :mod:`~sim.simulation.report`, :mod:`~sim.simulation.plots`
  — the counts, ``summary.json``, the terminal tables and the PNGs;
* :mod:`~sim.simulation.run` — the command itself.

``sim`` drives the API over HTTP and never imports ``api``.
"""

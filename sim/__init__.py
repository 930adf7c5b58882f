"""Synthetic population, scenarios, the narrated demo and the benchmarks.

``sim`` drives the API over real HTTP; micro-benchmarks may call ``vault``/``policies``
directly to measure them side by side with their raw baselines.
"""

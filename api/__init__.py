"""crossvault's HTTP API (FastAPI). Imports :mod:`vault` and :mod:`policies`, never the reverse."""

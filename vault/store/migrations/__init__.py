"""Alembic migrations of crossvault's schema; see ``README.md`` beside this file."""

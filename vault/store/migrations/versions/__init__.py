"""Revision scripts, oldest first by their ``NNNN_`` prefix (Alembic ignores this file)."""

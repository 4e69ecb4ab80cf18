"""Alembic revisions, written by hand; each must keep ``schema.py`` and the database equal."""

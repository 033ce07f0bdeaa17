"""Alembic migrations for the curator store, run by bot.store.migrate (no alembic.ini needed)."""

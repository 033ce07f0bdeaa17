"""The curator store: every question and what people did with its answer, in SQLite or PostgreSQL.

    settings = StoreSettings.from_env(os.environ)
    engine = settings.engine()                        # logs in from PLATBOT_DATABASE_SECRET_ARN if set
    upgrade(engine)                                   # once per host, before forking workers
    recorder = Recorder(engine, user_hash_key=settings.user_hash_key.reveal(), store_text=settings.store_text)
    ref = recorder.record_question(surface="command", workspace_id="T1", user_id="U1", ...)
    recorder.record_action(question_ref=ref, kind="feedback_up", workspace_id="T1", user_id="U1")
    recorder.close()                                  # at exit: writes what is still buffered

Each module's docstring says more: db (URLs, engines), migrate, recorder, privacy, settings.
"""

from bot.store.db import StoreError, database_url, make_engine, mask
from bot.store.migrate import current_revision, upgrade
from bot.store.privacy import Deleted, forget, prune, user_hash
from bot.store.recorder import Recorder, new_question_ref
from bot.store.settings import StoreSettings, engine_from_env

__all__ = [
    "Deleted",
    "Recorder",
    "StoreError",
    "StoreSettings",
    "current_revision",
    "database_url",
    "engine_from_env",
    "forget",
    "make_engine",
    "mask",
    "new_question_ref",
    "prune",
    "upgrade",
    "user_hash",
]

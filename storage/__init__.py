"""Storage: the database schema, sessions, migrations, the durable job queue, artifacts and outbox.

Every database statement of trainbot lives here; `bot/` and `trainer/` call its functions.
"""

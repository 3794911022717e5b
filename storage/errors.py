"""The database's failures as bot, worker and command line catch them, so that no room but
storage imports SQLAlchemy."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

# Any failure the database driver reported: unreachable, restarting, or a refused statement.
DatabaseError = DBAPIError


def database_away(error: DatabaseError) -> bool:
    """Whether the database could not be reached (down, restarting, the connection lost), as
    against a statement it refused: worth waiting out rather than failing the job."""
    return isinstance(error, OperationalError | InterfaceError) or error.connection_invalidated

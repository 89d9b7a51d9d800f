"""Which database errors say "not reachable": the edge answers them with 503, not 500.

PostgreSQL specifics (psycopg's SQLSTATEs); SQLite, the development database, is never
"unreachable".
"""

from __future__ import annotations

import psycopg
from sqlalchemy.exc import DBAPIError

# SQLSTATEs of a server that is there but will not serve: shutting down, crashed, starting up.
_SERVER_GOING_AWAY = ("57P01", "57P02", "57P03")


def is_unreachable(exc: BaseException) -> bool:
    """The database could not be reached or went away: refused, unresolvable, timed out, shut
    down, connection lost. Retrying later can succeed; nothing about the request was wrong.

    A database that answered with an error (a constraint, a syntax error, a serialization
    failure: SQLSTATEs of other classes) is not "unreachable".
    """
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if not isinstance(orig, psycopg.OperationalError):
        return False
    sqlstate = orig.sqlstate
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in _SERVER_GOING_AWAY

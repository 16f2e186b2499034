"""Reports from a streaming replica: the reads a view chooses go to the `replica` alias, everything else stays on
the primary.

Nothing is routed by guesswork: a view opts in with `reads_from_replica` (function views) or `ReplicaReadsView`
(DRF views). Only its GET and HEAD requests read from the replica, and even there a read inside a transaction
and every write go to the primary. With DATABASE_REPLICA_URL unset there is no replica alias and nothing changes.

Before the view runs, its request measures how far behind the replica is (`replica_freshness_measure`): past
REPLICA_MAX_LAG_SECONDS, or when the replica does not answer, the view reads from the primary instead, so a page
never fails because of the replica; past REPLICA_LAG_NOTICE_SECONDS the page says how old its figures are.
"""

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, OperationalError, connections
from django.http import StreamingHttpResponse

log = logging.getLogger(__name__)

REPLICA = "replica"
_SAFE_METHODS = ("GET", "HEAD")


@dataclass(frozen=True)
class ReplicaFreshness:
    """How fresh the replica's figures are: every commit up to `as_of` is there (`lag_seconds` before its now)."""

    as_of: datetime
    lag_seconds: float

    @property
    def notice(self) -> bool:
        """The page should say how old its figures are."""
        return self.lag_seconds >= settings.REPLICA_LAG_NOTICE_SECONDS

    @property
    def usable(self) -> bool:
        return self.lag_seconds <= settings.REPLICA_MAX_LAG_SECONDS


# The freshness of the replica this block reads from; None: every read goes to the primary.
_reading: ContextVar[ReplicaFreshness | None] = ContextVar("replica_reading", default=None)
# A replica that failed is left alone for REPLICA_RETRY_SECONDS (per process): pages go straight to the
# primary instead of each paying a connect timeout.
_down_until = 0.0


def replica_configured() -> bool:
    return REPLICA in connections.settings


class ReplicaRouter:
    """Reads go to the replica only inside a block that chose it, and never inside a transaction on the primary;
    writes and migrations always go to the primary."""

    def db_for_read(self, model, **hints):
        if _reading.get() is None or connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS
        return REPLICA

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        # The same database, one copy behind the other: a row read from either may point at a row of the other.
        return {obj1._state.db, obj2._state.db} <= {DEFAULT_DB_ALIAS, REPLICA} or None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # A replica is read-only: it gets its tables by replaying the primary's migrations.
        return False if db == REPLICA else None


# One query on each side. The replica has everything the primary had committed when asked if it has replayed the
# primary's WAL position of a moment before. Otherwise its figures are as of the last transaction it replayed:
# measured by position first, because an idle primary commits nothing and would make that time look old.
_PRIMARY_POSITION = "SELECT pg_current_wal_lsn()"
_REPLICA_FRESHNESS = """
    SELECT now(),
           CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_replay_lsn() >= %s::pg_lsn THEN now()
                ELSE pg_last_xact_replay_timestamp() END
"""


def replica_freshness_measure() -> ReplicaFreshness | None:
    """The replica's freshness now, or None when it is not to be read: not configured, failed a moment ago,
    not answering, or too far behind to know (no transaction replayed since it started, and behind)."""
    if not replica_configured() or time.monotonic() < _down_until:
        return None
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(_PRIMARY_POSITION)
        (position,) = cursor.fetchone()
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(_REPLICA_FRESHNESS, [position])
            now, as_of = cursor.fetchone()
    except (OperationalError, InterfaceError) as error:
        replica_failed(error)
        return None
    if as_of is None:
        return None
    # Clocks of two machines: a replica "ahead" of the primary is simply up to date.
    return ReplicaFreshness(as_of=min(as_of, now), lag_seconds=max((now - as_of) / timedelta(seconds=1), 0.0))


def replica_failed(error: BaseException) -> None:
    """Leave the replica alone for a while; its connection is dropped so that the next try connects afresh."""
    global _down_until  # one verdict per process, read by every request
    _down_until = time.monotonic() + settings.REPLICA_RETRY_SECONDS
    log.warning("replica unavailable (%s: %s); reading from the primary", error.__class__.__name__, error)
    connections[REPLICA].close()


def replica_retry_now() -> None:
    """Forget a failure: the next request tries the replica again (tests, and after a planned restart)."""
    global _down_until
    _down_until = 0.0


@contextmanager
def replica_reads(freshness: ReplicaFreshness | None):
    """Reads inside go to the replica of this freshness (None: to the primary)."""
    token = _reading.set(freshness)
    try:
        yield
    finally:
        _reading.reset(token)


def _streamed_on_replica(content: Iterable, freshness: ReplicaFreshness) -> Iterator:
    """A streamed response's rows are read as the client takes them, after the view has returned: each chunk is
    read inside the block again, and the server between chunks reads from the primary."""
    iterator = iter(content)
    while True:
        with replica_reads(freshness):
            try:
                chunk = next(iterator)
            except StopIteration:
                return
        yield chunk


def _replica_raised() -> bool:
    # Django flags the connection whose query raised (DatabaseErrorWrapper): the replica's, or another's.
    return replica_configured() and connections[REPLICA].errors_occurred


def replica_reads_call(view, request, *args, **kwargs):
    """Run `view` with its reads on the replica when it is fresh enough, else on the primary. A replica that fails
    during the view (gone; a query cancelled by replay; a migration's column not replayed yet) fails over: the view
    runs again on the primary, which a GET may."""
    freshness = replica_freshness_measure() if request.method in _SAFE_METHODS else None
    freshness = freshness if freshness is not None and freshness.usable else None
    request.replica_freshness = freshness
    if freshness is None:
        return view(request, *args, **kwargs)
    try:
        with replica_reads(freshness):
            response = view(request, *args, **kwargs)
    except DatabaseError as error:
        if not _replica_raised():
            raise
        replica_failed(error)
        request.replica_freshness = None
        return view(request, *args, **kwargs)
    if isinstance(response, StreamingHttpResponse):
        response.streaming_content = _streamed_on_replica(response.streaming_content, freshness)
    return response


def reads_from_replica(view):
    """A view whose reads may come from the replica (reports, exports): see the module's docstring."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        return replica_reads_call(view, request, *args, **kwargs)

    return wrapped


class ReplicaReadsView:
    """A DRF view (this class before DRF's) whose reads may come from the replica, like `reads_from_replica`."""

    def dispatch(self, request, *args, **kwargs):
        return replica_reads_call(super().dispatch, request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        # Who is asking comes from the primary, as on the pages: a key or token made a moment ago works at once.
        with replica_reads(None):
            super().initial(request, *args, **kwargs)

    def handle_exception(self, exc):
        # DRF would answer a database error with a 503 here: the replica's goes out to be run again on the primary.
        if isinstance(exc, DatabaseError) and _reading.get() is not None and _replica_raised():
            raise exc
        return super().handle_exception(exc)

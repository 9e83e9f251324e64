"""The batch journal on PostgreSQL: many submitter processes on many hosts share one batch.

Same interface and states as :class:`~gateway.batch.journal.SqliteJournal` (deterministic
messageIds, every transition committed before the call returns), with what sharing needs:

- **Claiming** is ``UPDATE … WHERE seq IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n)``:
  submitters never wait for each other and never get the same item. A claim stamps the item
  with ``claimed_by`` (``host:pid:token``) and a **lease** (``lease`` seconds, 300 by default,
  on the database server's clock so that hosts with skewed clocks agree).
- **Recovery** (:meth:`PgJournal.recover`, run when a submitter starts) puts back to pending
  only the ``sending`` items of submitters that are gone: the lease has expired, or the
  claimer's database session has ended (each journal holds a session advisory lock on its
  token; the server drops it when the process dies or its connection closes). Items of live
  submitters stay theirs. A crashed submitter's items are therefore resent at once by the
  next ``shep batch resume`` anywhere, and those of a host that vanished without closing its
  connection once its lease runs out. The lease must exceed the longest send (read timeout
  times attempts); behind a transaction-pooling PgBouncer the session check means nothing
  and only the lease counts (connect directly or through a session pooler).
- **Recording** applies an outcome only to an item this journal still holds (``claimed_by``
  is ours and it is ``sending``): after its lease expired someone else may be sending it
  again, with the same messageId, and that newer attempt owns the row. One exception: a
  late *delivered* is applied to an item nobody is sending (pending or retry-wait), since it
  is true and saves a resend. Any other late answer is logged and dropped.

One database holds any number of batches; every row is keyed by ``batch_id``.
:meth:`~PgJournal.open_batch` selects (or creates) one; a journal opened without it, as by
``shep batch status URL``, uses the only batch there is, or the one named by ``?batch=ID``
in the URL. The tables (``shep_batches``, ``shep_batch_items``) are created when missing,
in the first schema of the connection's ``search_path``, under an advisory lock so that
submitters starting together do not race. libpq also reads its usual ``PG*`` variables and
``~/.pgpass``; passwords never appear in our messages or ``repr``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import secrets
import socket
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import unquote

from gateway.batch.journal import (
    BatchInfo,
    Claim,
    ItemResult,
    NewItem,
    Outcome,
    State,
    check_same_item,
    message_id_for,
)
from gateway.errors import ConfigError, InputError

try:
    import psycopg
    import psycopg.conninfo
except ModuleNotFoundError as exc:  # the optional driver: say how to get it
    raise ConfigError(
        "PostgreSQL journals need the psycopg driver: pip install 'shep-gateway[postgres]'",
        field="journal",
    ) from exc

__all__ = ["DEFAULT_LEASE", "PgJournal"]

log = logging.getLogger(__name__)

DEFAULT_LEASE = 300.0
"""Seconds a claimed item belongs to its submitter before others may take it back."""

_LOCK_CLASS = 0x53484550
"""First key of our advisory locks ("SHEP"); the second is 0 for schema creation, else the
journal's token."""
_CONNECT_TIMEOUT = 10
_INGEST_CHUNK = 1000
_RESULTS_CHUNK = 2000
_SECRET_PARAMS = frozenset({"password", "sslpassword"})
_SCHEMES = ("postgresql://", "postgres://")
_cursor_numbers = itertools.count(1)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS shep_batches (
    batch_id   TEXT PRIMARY KEY,
    service_id TEXT NOT NULL,
    source     TEXT NOT NULL,
    ingested   BOOLEAN NOT NULL DEFAULT false,
    created    DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS shep_batch_items (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    batch_id    TEXT NOT NULL REFERENCES shep_batches ON DELETE CASCADE,
    key         TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    service_id  TEXT NOT NULL,
    ref         TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'sending', 'delivered', 'failed', 'retry-wait')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    retry_at    DOUBLE PRECISION,
    status_code TEXT,
    error       TEXT,
    first_at    DOUBLE PRECISION,
    done_at     DOUBLE PRECISION,
    elapsed     DOUBLE PRECISION,
    claimed_by  TEXT,
    claim_token INTEGER,
    lease_until DOUBLE PRECISION,
    UNIQUE (batch_id, key)
);
CREATE INDEX IF NOT EXISTS shep_batch_items_due ON shep_batch_items (batch_id, state, seq);
"""

_CLAIM = """
WITH due AS (
    SELECT seq FROM shep_batch_items
    WHERE batch_id = %(batch)s
      AND (state = 'pending' OR (state = 'retry-wait' AND retry_at <= %(now)s))
    ORDER BY seq
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE shep_batch_items AS i
SET state = 'sending', attempts = i.attempts + 1, first_at = COALESCE(i.first_at, %(now)s),
    claimed_by = %(me)s, claim_token = %(token)s,
    lease_until = extract(epoch FROM clock_timestamp()) + %(lease)s
FROM due
WHERE i.seq = due.seq
RETURNING i.seq, i.key, i.message_id, i.service_id, i.ref, i.attempts
"""

_RECOVER = """
WITH stale AS (
    SELECT i.seq FROM shep_batch_items AS i
    WHERE i.batch_id = %(batch)s AND i.state = 'sending'
      AND (i.lease_until IS NULL OR i.lease_until < extract(epoch FROM clock_timestamp())
           OR NOT EXISTS (
               SELECT 1 FROM pg_locks AS l
               WHERE l.locktype = 'advisory' AND l.granted
                 AND l.database = (SELECT oid FROM pg_database
                                   WHERE datname = current_database())
                 AND l.classid = %(lock_class)s::oid AND l.objid = i.claim_token::oid
                 AND l.objsubid = 2))
    FOR UPDATE OF i SKIP LOCKED
)
UPDATE shep_batch_items AS i SET state = 'pending', lease_until = NULL
FROM stale WHERE i.seq = stale.seq
"""

_RECORD = """
UPDATE shep_batch_items
SET state = %(state)s, status_code = %(status_code)s, error = %(error)s,
    retry_at = %(retry_at)s, done_at = %(done_at)s, lease_until = NULL,
    elapsed = COALESCE(elapsed, 0) + %(elapsed)s, attempts = attempts - %(uncount)s
WHERE batch_id = %(batch)s AND key = %(key)s
  AND ((state = 'sending' AND claimed_by = %(me)s)
       OR (%(state)s = 'delivered' AND state IN ('pending', 'retry-wait')))
"""


class PgJournal:
    """The journal in a PostgreSQL database, shared by any number of submitter processes.

    ``url`` is a ``postgresql://`` URL (libpq syntax, plus an optional ``batch=ID`` query
    parameter); ``lease`` is how many seconds a claimed item stays with this submitter.
    """

    def __init__(
        self, url: str, *, batch_id: str | None = None, lease: float = DEFAULT_LEASE
    ) -> None:
        if not lease > 0:
            raise ConfigError("the lease must be a positive number of seconds", field="lease")
        self._lease = float(lease)
        conninfo, url_batch = _split_batch_param(url)
        self._where = _display_url(conninfo)
        self._batch_id = batch_id or url_batch
        self._info: BatchInfo | None = None
        params = _connect_params(conninfo, self._where)
        self._password = str(params.get("password") or "")
        self._db = _connect(params, self._where, self._password)
        try:
            with self._translate():
                self._token = self._take_token()
                with self._db.transaction():
                    self._db.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_LOCK_CLASS,))
                    self._db.execute(_SCHEMA)
        except BaseException:
            self._db.close()
            raise
        self._me = f"{socket.gethostname()}:{os.getpid()}:{self._token:08x}"

    def __repr__(self) -> str:
        return f"PgJournal({self._where!r}, batch_id={self._batch_id!r})"

    # ---- batch

    def open_batch(self, *, batch_id: str, service_id: str, source: str) -> BatchInfo:
        """Create the batch if this database does not hold it yet, and select it."""
        with self._translate():
            self._db.execute(
                "INSERT INTO shep_batches (batch_id, service_id, source, created)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (batch_id) DO NOTHING",
                (batch_id, service_id, source, time.time()),
            )
        self._batch_id = batch_id
        return self.batch()

    def batch(self) -> BatchInfo:
        with self._translate():
            if self._batch_id is None:
                self._batch_id = self._only_batch()
            row = self._db.execute(
                "SELECT batch_id, service_id, source, ingested, created FROM shep_batches"
                " WHERE batch_id = %s",
                (self._batch_id,),
            ).fetchone()
        if row is None:
            raise InputError(f"the journal holds no batch {self._batch_id}", file=self._where)
        self._info = BatchInfo(
            batch_id=row[0], service_id=row[1], source=row[2], ingested=row[3], created=row[4]
        )
        return self._info

    def _only_batch(self) -> str:
        ids = [
            row[0]
            for row in self._db.execute(
                "SELECT batch_id FROM shep_batches ORDER BY created DESC LIMIT 6"
            )
        ]
        if not ids:
            raise InputError("the journal holds no batch", file=self._where)
        if len(ids) > 1:
            shown = ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")
            raise ConfigError(
                f"the database holds several batches ({shown}); "
                "name one with ?batch=ID in the journal URL",
                file=self._where,
            )
        return str(ids[0])

    def add_items(self, items: Iterable[NewItem]) -> int:
        """Add items not yet known (by key), in chunks; safe to repeat, even concurrently."""
        info = self._info or self.batch()
        added = 0
        chunk: list[NewItem] = []
        for item in items:
            chunk.append(item)
            if len(chunk) >= _INGEST_CHUNK:
                added += self._insert(info, chunk)
                chunk = []
        if chunk:
            added += self._insert(info, chunk)
        return added

    def _insert(self, info: BatchInfo, items: list[NewItem]) -> int:
        with self._translate(), self._db.transaction():
            cursor = self._db.execute(
                "INSERT INTO shep_batch_items (batch_id, key, message_id, service_id, ref)"
                " SELECT %s, k, m, s, r"
                " FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[])"
                "   WITH ORDINALITY AS u (k, m, s, r, n) ORDER BY n"
                " ON CONFLICT (batch_id, key) DO NOTHING",
                (
                    info.batch_id,
                    [item.key for item in items],
                    [message_id_for(info.batch_id, item.key) for item in items],
                    [item.service_id or info.service_id for item in items],
                    [item.ref for item in items],
                ),
            )
            added = max(cursor.rowcount, 0)
            journaled = dict(
                self._db.execute(
                    "SELECT key, ref FROM shep_batch_items WHERE batch_id = %s AND key = ANY(%s)",
                    (info.batch_id, [item.key for item in items]),
                ).fetchall()
            )
            for item in items:  # a key met again must be the same item (a re-run)
                check_same_item(item.key, item.ref, journaled[item.key])
        return added

    def mark_ingested(self) -> None:
        with self._translate():
            self._db.execute(
                "UPDATE shep_batches SET ingested = true WHERE batch_id = %s", (self._batch(),)
            )

    # ---- sending

    def recover(self) -> int:
        """Put back to pending the in-flight items of submitters that are gone (lease expired
        or database session ended); those of live submitters stay theirs."""
        with self._translate():
            cursor = self._db.execute(_RECOVER, {"batch": self._batch(), "lock_class": _LOCK_CLASS})
            return max(cursor.rowcount, 0)

    def claim(self, limit: int, *, now: float) -> list[Claim]:
        """Take up to ``limit`` due items, skipping those other submitters are taking."""
        with self._translate():
            rows = self._db.execute(
                _CLAIM,
                {
                    "batch": self._batch(),
                    "now": now,
                    "limit": limit,
                    "me": self._me,
                    "token": self._token,
                    "lease": self._lease,
                },
            ).fetchall()
        return [
            Claim(key=r[1], message_id=r[2], service_id=r[3], ref=r[4], attempts=r[5])
            for r in sorted(rows)
        ]

    def record(self, outcome: Outcome, *, now: float) -> None:
        """Commit an outcome of an item this submitter holds (see the module docstring for
        late answers after a lease expired)."""
        done = outcome.state in (State.DELIVERED, State.FAILED)
        with self._translate():
            cursor = self._db.execute(
                _RECORD,
                {
                    "state": str(outcome.state),
                    "status_code": outcome.status_code,
                    "error": outcome.error,
                    "retry_at": outcome.retry_at,
                    "done_at": now if done else None,
                    "elapsed": outcome.elapsed,
                    "uncount": 0 if outcome.counted else 1,
                    "batch": self._batch(),
                    "key": outcome.key,
                    "me": self._me,
                },
            )
        if cursor.rowcount == 0:
            log.warning(
                "item %s: late %s answer dropped (its lease expired and another attempt owns it)",
                outcome.key,
                outcome.state,
            )

    def record_many(self, outcomes: Sequence[Outcome], *, now: float) -> None:
        """Several outcomes, one transaction (fewer commits per message under load)."""
        with self._translate(), self._db.transaction():
            for outcome in outcomes:
                self.record(outcome, now=now)

    # ---- reading

    def counts(self) -> dict[str, int]:
        counts = {str(state): 0 for state in State}
        with self._translate():
            rows = self._db.execute(
                "SELECT state, COUNT(*) FROM shep_batch_items WHERE batch_id = %s GROUP BY state",
                (self._batch(),),
            ).fetchall()
        counts.update((str(state), int(n)) for state, n in rows)
        return counts

    def next_retry_at(self) -> float | None:
        with self._translate():
            row = self._db.execute(
                "SELECT MIN(retry_at) FROM shep_batch_items"
                " WHERE batch_id = %s AND state = 'retry-wait'",
                (self._batch(),),
            ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def last_errors(self, limit: int = 5) -> list[tuple[str, str]]:
        with self._translate():
            rows = self._db.execute(
                "SELECT key, error FROM shep_batch_items"
                " WHERE batch_id = %s AND error IS NOT NULL"
                " ORDER BY COALESCE(done_at, retry_at) DESC NULLS LAST, seq DESC LIMIT %s",
                (self._batch(), limit),
            ).fetchall()
        return [(str(key), str(error)) for key, error in rows]

    def results(self) -> Iterator[ItemResult]:
        """Every item in input order, streamed through a server-side cursor."""
        batch_id = self._batch()
        with self._translate(), self._db.transaction():
            cursor = self._db.cursor(name=f"shep_results_{next(_cursor_numbers)}")
            cursor.itersize = _RESULTS_CHUNK
            with cursor:
                cursor.execute(
                    f"SELECT {ItemResult.COLUMNS} FROM shep_batch_items"  # noqa: S608
                    " WHERE batch_id = %s ORDER BY seq",
                    (batch_id,),
                )
                for row in cursor:
                    yield ItemResult.from_row(row)

    def close(self) -> None:
        """Close the connection; the server releases this submitter's session lock."""
        self._db.close()

    def __enter__(self) -> PgJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- internals

    def _batch(self) -> str:
        """The selected batch's id, checked to exist the first time (a mistyped ``?batch=``
        must not read as an empty batch)."""
        return (self._info or self.batch()).batch_id

    def _take_token(self) -> int:
        """A random token, unique among live submitters, held as a session advisory lock:
        while it is held the claimer is alive."""
        while True:
            token = secrets.randbelow(2**31 - 1) + 1
            row = self._db.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", (_LOCK_CLASS, token)
            ).fetchone()
            if row is not None and row[0]:
                return token

    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        """psycopg errors become ours here, at the module edge, without the password."""
        try:
            yield
        except psycopg.OperationalError as exc:
            message = _scrub(str(exc), self._password)
            raise ConfigError(
                f"PostgreSQL journal unavailable: {message}", file=self._where
            ) from exc
        except psycopg.Error as exc:
            message = _scrub(str(exc), self._password)
            raise InputError(f"not a usable journal: {message}", file=self._where) from exc


def _connect(params: dict[str, Any], where: str, password: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(**params, autocommit=True)
    except psycopg.Error as exc:
        message = _scrub(str(exc).strip(), password)
        raise ConfigError(
            f"cannot connect to the PostgreSQL journal: {message}", file=where
        ) from exc


def _connect_params(conninfo: str, where: str) -> dict[str, Any]:
    try:
        params = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.Error as exc:
        # libpq's parse errors may quote the URL, password included: name the problem only.
        raise ConfigError("not a valid PostgreSQL URL", file=where) from exc
    params.setdefault("connect_timeout", _CONNECT_TIMEOUT)
    params.setdefault("application_name", "shep batch")
    return params


def _split_batch_param(url: str) -> tuple[str, str | None]:
    """Take our ``batch=ID`` query parameter out of the URL (libpq would refuse it).

    The other parameters are kept byte for byte: libpq reads ``+`` literally, so decoding
    and re-encoding the query would change them."""
    if not url.startswith(_SCHEMES):
        raise ConfigError("expected a postgresql:// URL", field="journal")
    base, _, query = url.partition("?")
    pieces = [piece for piece in query.split("&") if piece]
    batches = [unquote(p.partition("=")[2]) for p in pieces if p.partition("=")[0] == "batch"]
    if len(batches) > 1:
        raise ConfigError("name at most one batch in the URL", file=_display_url(url))
    rest = "&".join(p for p in pieces if p.partition("=")[0] != "batch")
    return (f"{base}?{rest}" if rest else base), (batches[0] if batches else None)


def _display_url(url: str) -> str:
    """The URL for messages: user, hosts, database and options, never a password."""
    base, has_query, query = url.partition("?")
    scheme, _, rest = base.partition("://")
    user = ""
    if "@" in rest:  # up to the last '@', in case an unescaped password holds '/' or '@'
        userinfo, rest = rest.rsplit("@", 1)
        name, has_password, _ = userinfo.partition(":")
        user = f"{name}{':***' if has_password else ''}@"
    hosts, slash, path = rest.partition("/")
    pieces = [
        f"{name}=***" if name in _SECRET_PARAMS else f"{name}{eq}{value}"
        for name, eq, value in (piece.partition("=") for piece in query.split("&") if piece)
    ]
    shown = f"{scheme}://{user}{hosts}{slash}{path}"
    return f"{shown}?{'&'.join(pieces)}" if has_query and pieces else shown


def _scrub(message: str, password: str) -> str:
    """One line (libpq adds indented hints), and never the password, should libpq quote it."""
    message = " ".join(message.split())
    return message.replace(password, "***") if password else message

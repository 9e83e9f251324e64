"""The batch journal: what was sent, what came back, what is left — durable across crashes.

Every item has a deterministic messageId (UUIDv5 of the batch id and the item key), so a
re-run or a resend after a crash carries the same id and never creates a second message.
Each state change is committed before the next network action::

    pending ──claim──▶ sending ──▶ delivered
       ▲                  │  └───▶ failed        (permanent: fault, bad payload, attempts used)
       └── retry-wait ◀───┘                      (retryable: timeout, 503, dropped answer)

After a crash, items left in ``sending`` were in flight: :meth:`Journal.recover` puts them
back to ``pending`` and they are resent with the same messageId, so the gateway sees at most
one duplicate per item that was in flight at the crash.

SQLite (WAL, one file per batch) is the default; ``gateway.batch.pgjournal`` implements the
same interface on PostgreSQL for many submitters on many hosts.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from gateway.errors import ConfigError, InputError

__all__ = [
    "BatchInfo",
    "Claim",
    "ItemResult",
    "Journal",
    "NewItem",
    "Outcome",
    "SqliteJournal",
    "State",
    "message_id_for",
]

_ID_NAMESPACE = uuid.UUID("6f1d7f0e-3c7a-5b8e-9a51-5be6c1a0d9b2")


def message_id_for(batch_id: str, key: str) -> str:
    """The item's messageId: the same batch and key always give the same id."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{batch_id}\x1f{key}"))


class State(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"
    RETRY_WAIT = "retry-wait"


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchInfo:
    batch_id: str
    service_id: str
    source: str
    ingested: bool
    created: float


@dataclass(frozen=True, slots=True, kw_only=True)
class NewItem:
    """An input item: its key, and where to read its payload again (never the payload)."""

    key: str
    ref: str
    """JSON describing where the payload is (file, or file + byte offset/length)."""
    service_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """An item taken for sending; its attempt count already includes this attempt."""

    key: str
    message_id: str
    service_id: str
    ref: str
    attempts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What one attempt ended in; ``state`` is delivered, failed or retry-wait."""

    key: str
    state: State
    status_code: str | None = None
    error: str | None = None
    retry_at: float | None = None
    elapsed: float = 0.0
    counted: bool = True
    """False when the attempt never got its chance (a fatal error stopped the run): the
    claim's increment of ``attempts`` is taken back."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemResult:
    """One row of ``shep batch results``: outcome and timings, never payload or secrets."""

    key: str
    message_id: str
    service_id: str
    state: str
    status_code: str | None
    error: str | None
    attempts: int
    first_attempt_at: float | None
    finished_at: float | None
    elapsed: float | None = field(default=None)

    COLUMNS: ClassVar[str] = (
        "key, message_id, service_id, state, status_code, error, attempts,"
        " first_at, done_at, elapsed"
    )
    """The journal columns :meth:`from_row` expects, in order (both journals use them)."""

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> ItemResult:
        return cls(
            key=row[0],
            message_id=row[1],
            service_id=row[2],
            state=row[3],
            status_code=row[4],
            error=row[5],
            attempts=row[6],
            first_attempt_at=row[7],
            finished_at=row[8],
            elapsed=row[9],
        )


def check_same_item(key: str, ref: str, journaled_ref: str) -> None:
    """Ingesting again after a crash meets the same keys with the same references; another
    reference means two input items share a key, and one of them would never be sent."""
    if ref == journaled_ref:
        return
    where = json.loads(ref)
    raise InputError(
        f"duplicate key {key!r} (keys must be unique: the messageId derives from the key;"
        " or the input changed since it was journaled)",
        file=str(where.get("path")) if isinstance(where, dict) else None,
        line=where.get("line") if isinstance(where, dict) else None,
    )


class Journal(Protocol):
    """Durable batch state. One submitter process per SQLite journal; many on PostgreSQL."""

    def open_batch(self, *, batch_id: str, service_id: str, source: str) -> BatchInfo: ...
    def batch(self) -> BatchInfo: ...
    def add_items(self, items: Iterable[NewItem]) -> int: ...
    def mark_ingested(self) -> None: ...
    def recover(self) -> int: ...
    def claim(self, limit: int, *, now: float) -> list[Claim]: ...
    def record(self, outcome: Outcome, *, now: float) -> None: ...
    def record_many(self, outcomes: Sequence[Outcome], *, now: float) -> None: ...
    def counts(self) -> dict[str, int]: ...
    def next_retry_at(self) -> float | None: ...
    def last_errors(self, limit: int = 5) -> list[tuple[str, str]]: ...
    def results(self) -> Iterator[ItemResult]: ...
    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS batch (
    batch_id   TEXT PRIMARY KEY,
    service_id TEXT NOT NULL,
    source     TEXT NOT NULL,
    ingested   INTEGER NOT NULL DEFAULT 0,
    created    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    key         TEXT NOT NULL UNIQUE,
    message_id  TEXT NOT NULL UNIQUE,
    service_id  TEXT NOT NULL,
    ref         TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending',
    attempts    INTEGER NOT NULL DEFAULT 0,
    retry_at    REAL,
    status_code TEXT,
    error       TEXT,
    first_at    REAL,
    done_at     REAL,
    elapsed     REAL
);
CREATE INDEX IF NOT EXISTS items_due ON items (state, retry_at, seq);
CREATE INDEX IF NOT EXISTS items_pending ON items (state, seq);
"""

_INGEST_CHUNK = 1000


class SqliteJournal:
    """The journal in one SQLite file (WAL mode, synchronous=FULL: a committed transition
    survives power loss). Locked to one submitter process at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.is_dir():
            raise InputError("journal path is a directory", file=str(path))
        self._lock_file = _exclusive_lock(path)
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._lock_file.close()
            raise InputError(f"not a usable journal: {exc}", file=str(path)) from exc
        self._info: BatchInfo | None = None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        if self._db.in_transaction:  # an interrupt between BEGIN and COMMIT: undo it first
            self._db.execute("ROLLBACK")
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def open_batch(self, *, batch_id: str, service_id: str, source: str) -> BatchInfo:
        """Create the batch, or check that the journal already holds this same batch."""
        with self._transaction() as db:
            row = db.execute("SELECT batch_id, service_id, source FROM batch").fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO batch (batch_id, service_id, source, created) VALUES (?,?,?,?)",
                    (batch_id, service_id, source, time.time()),
                )
            elif row[0] != batch_id:
                raise ConfigError(
                    f"journal holds batch {row[0]} (from {row[2]}), not {batch_id}; "
                    "use `shep batch resume` or another --journal",
                    file=str(self.path),
                )
        return self.batch()

    def batch(self) -> BatchInfo:
        row = self._db.execute(
            "SELECT batch_id, service_id, source, ingested, created FROM batch"
        ).fetchone()
        if row is None:
            raise InputError("the journal holds no batch", file=str(self.path))
        self._info = BatchInfo(
            batch_id=row[0],
            service_id=row[1],
            source=row[2],
            ingested=bool(row[3]),
            created=row[4],
        )
        return self._info

    def add_items(self, items: Iterable[NewItem]) -> int:
        """Add items not yet known (by key), in chunks; safe to repeat after a crash."""
        info = self._info or self.batch()
        added = 0
        chunk: list[tuple[str, str, str, str]] = []
        for item in items:
            chunk.append(
                (
                    item.key,
                    message_id_for(info.batch_id, item.key),
                    item.service_id or info.service_id,
                    item.ref,
                )
            )
            if len(chunk) >= _INGEST_CHUNK:
                added += self._insert(chunk)
                chunk = []
        if chunk:
            added += self._insert(chunk)
        return added

    def _insert(self, rows: list[tuple[str, str, str, str]]) -> int:
        with self._transaction() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO items (key, message_id, service_id, ref) VALUES (?,?,?,?)",
                rows,
            )
            added = db.total_changes - before
            for key, _, _, ref in rows:  # a key met again must be the same item (a re-run)
                row = db.execute("SELECT ref FROM items WHERE key = ?", (key,)).fetchone()
                check_same_item(key, ref, row[0])
            return added

    def mark_ingested(self) -> None:
        with self._transaction() as db:
            db.execute("UPDATE batch SET ingested = 1")

    def recover(self) -> int:
        """Items a dead process left in flight go back to pending (same messageId)."""
        with self._transaction() as db:
            return db.execute("UPDATE items SET state = 'pending' WHERE state = 'sending'").rowcount

    def claim(self, limit: int, *, now: float) -> list[Claim]:
        """Take up to ``limit`` due items for sending, committed before anything is sent."""
        with self._transaction() as db:
            # Two index range scans, not a sort of every due row: a claim costs the same
            # with 200,000 items queued as with 1,000.
            rows = db.execute(
                "UPDATE items SET state = 'sending', attempts = attempts + 1,"
                " first_at = COALESCE(first_at, :now)"
                " WHERE seq IN ("
                "   SELECT seq FROM (SELECT seq FROM items WHERE state = 'pending'"
                "                    ORDER BY seq LIMIT :n)"
                "   UNION ALL"
                "   SELECT seq FROM (SELECT seq FROM items WHERE state = 'retry-wait'"
                "                    AND retry_at <= :now ORDER BY seq LIMIT :n)"
                "   ORDER BY seq LIMIT :n)"
                " RETURNING key, message_id, service_id, ref, attempts",
                {"now": now, "n": limit},
            ).fetchall()
        return [
            Claim(key=r[0], message_id=r[1], service_id=r[2], ref=r[3], attempts=r[4]) for r in rows
        ]

    def record(self, outcome: Outcome, *, now: float) -> None:
        self.record_many((outcome,), now=now)

    def record_many(self, outcomes: Sequence[Outcome], *, now: float) -> None:
        """Commit several outcomes in one transaction (the dispatcher collects them)."""
        with self._transaction() as db:
            db.executemany(
                "UPDATE items SET state = ?, status_code = ?, error = ?, retry_at = ?,"
                " done_at = ?, elapsed = COALESCE(elapsed, 0) + ?, attempts = attempts - ?"
                " WHERE key = ?",
                [
                    (
                        str(o.state),
                        o.status_code,
                        o.error,
                        o.retry_at,
                        now if o.state in (State.DELIVERED, State.FAILED) else None,
                        o.elapsed,
                        0 if o.counted else 1,
                        o.key,
                    )
                    for o in outcomes
                ],
            )

    def counts(self) -> dict[str, int]:
        counts = {str(state): 0 for state in State}
        counts.update(self._db.execute("SELECT state, COUNT(*) FROM items GROUP BY state"))
        return counts

    def next_retry_at(self) -> float | None:
        row = self._db.execute(
            "SELECT MIN(retry_at) FROM items WHERE state = 'retry-wait'"
        ).fetchone()
        return None if row is None else row[0]

    def last_errors(self, limit: int = 5) -> list[tuple[str, str]]:
        return [
            (key, error)
            for key, error in self._db.execute(
                "SELECT key, error FROM items WHERE error IS NOT NULL"
                " ORDER BY COALESCE(done_at, retry_at) DESC LIMIT ?",
                (limit,),
            )
        ]

    def results(self) -> Iterator[ItemResult]:
        """Every item in input order, streamed (a cursor, not a list)."""
        cursor = self._db.execute(
            f"SELECT {ItemResult.COLUMNS} FROM items ORDER BY seq"  # noqa: S608  (constant)
        )
        for row in cursor:
            yield ItemResult.from_row(row)

    def close(self) -> None:
        self._db.close()
        self._lock_file.close()

    def __enter__(self) -> SqliteJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _exclusive_lock(path: Path) -> Any:
    """One submitter per SQLite journal: a second one would resend what the first has in
    flight. (PostgreSQL journals let many submitters share the work safely.)"""
    lock_path = path.with_name(path.name + ".lock")
    handle = lock_path.open("a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConfigError(
            "another submitter is using this journal (one process per SQLite journal; "
            "use a PostgreSQL journal to run several)",
            file=str(path),
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"pid": os.getpid()}))
    handle.flush()
    return handle

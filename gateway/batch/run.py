"""What ``shep batch`` does, as library calls: pick the journal, name the batch, load the input,
export results. Kept apart from the CLI so tests and other programs drive the same steps."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from gateway.batch.inputs import iter_items
from gateway.batch.journal import ItemResult, Journal, SqliteJournal

__all__ = [
    "batch_id_for",
    "default_journal_path",
    "export_results",
    "ingest",
    "open_journal",
]

_BATCH_NAMESPACE = uuid.UUID("0b6a3f55-8d0e-5f8e-a7a4-3c1f9b0e6d21")


def default_journal_path(source: Path, service_id: str) -> Path:
    """``<input>.<service>.shep-journal.sqlite`` next to the input (a directory or a file):
    one input sent to two services makes two batches, so two journals."""
    resolved = source.resolve()
    service = re.sub(r"[^A-Za-z0-9_.-]+", "_", service_id).strip(".") or "service"
    return resolved.with_name(f"{resolved.name}.{service}.shep-journal.sqlite")


def batch_id_for(source: Path, service_id: str) -> str:
    """A stable batch id: the same input and service give the same id, hence the same
    messageIds, even when the journal is lost and the batch is started again."""
    return str(uuid.uuid5(_BATCH_NAMESPACE, f"{service_id}\x1f{source.resolve()}"))


def open_journal(spec: str | Path) -> Journal:
    """A SQLite journal file, or a PostgreSQL one for ``postgresql://…`` URLs."""
    text = str(spec)
    if text.startswith(("postgresql://", "postgres://")):
        from gateway.batch.pgjournal import PgJournal  # noqa: PLC0415  (optional driver)

        return PgJournal(text)
    return SqliteJournal(Path(text))


def ingest(journal: Journal, source: Path, *, service_id: str, batch_id: str | None) -> int:
    """Record the batch and every input item not yet in the journal (idempotent).

    The input is read again on every call, so items added to it since the last run join the
    batch; items already journaled keep their messageIds (and must still be the same items).
    """
    journal.open_batch(
        batch_id=batch_id or batch_id_for(source, service_id),
        service_id=service_id,
        source=str(source.resolve()),
    )
    added = journal.add_items(iter_items(source))
    journal.mark_ingested()
    return added


_COLUMNS = (
    "key",
    "message_id",
    "service_id",
    "state",
    "status_code",
    "error",
    "attempts",
    "first_attempt_at",
    "finished_at",
    "elapsed",
)


def export_results(journal: Journal, fmt: Literal["jsonl", "csv"]) -> Iterator[str]:
    """Per-item outcome lines (streamed): key, messageId, status, error, attempts, timings."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(_COLUMNS)
        yield _drain(buffer)
        for item in journal.results():
            writer.writerow(["" if v is None else v for v in _row(item)])
            yield _drain(buffer)
        return
    for item in journal.results():
        yield json.dumps(dict(zip(_COLUMNS, _row(item), strict=True)), ensure_ascii=False) + "\n"


def _row(item: ItemResult) -> tuple[object, ...]:
    return (
        item.key,
        item.message_id,
        item.service_id,
        item.state,
        item.status_code,
        item.error,
        item.attempts,
        item.first_attempt_at,
        item.finished_at,
        item.elapsed,
    )


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text

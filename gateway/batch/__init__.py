"""Batch submission with a durable journal: thousands of messages, nothing lost, no duplicates
beyond what was in flight at a crash (and those carry the same messageId)."""

from gateway.batch.inputs import iter_items, load_payload
from gateway.batch.journal import (
    BatchInfo,
    Claim,
    ItemResult,
    Journal,
    NewItem,
    Outcome,
    SqliteJournal,
    State,
    message_id_for,
)
from gateway.batch.submitter import BatchSummary, Sender, SubmitOptions, submit_batch

__all__ = [
    "BatchInfo",
    "BatchSummary",
    "Claim",
    "ItemResult",
    "Journal",
    "NewItem",
    "Outcome",
    "Sender",
    "SqliteJournal",
    "State",
    "SubmitOptions",
    "iter_items",
    "load_payload",
    "message_id_for",
    "submit_batch",
]

"""The SQLite journal: deterministic ids, committed transitions, crash recovery, locking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.batch import NewItem, Outcome, SqliteJournal, State, message_id_for
from gateway.batch.run import batch_id_for, export_results, ingest
from gateway.errors import ConfigError, InputError


def _items(n: int, start: int = 0) -> list[NewItem]:
    return [NewItem(key=f"k{i:05d}", ref=json.dumps({"i": i})) for i in range(start, start + n)]


@pytest.fixture
def journal(tmp_path: Path) -> SqliteJournal:
    journal = SqliteJournal(tmp_path / "j.sqlite")
    journal.open_batch(batch_id="b1", service_id="echo", source="test")
    yield journal  # type: ignore[misc]
    journal.close()


def test_message_ids_are_deterministic_and_distinct() -> None:
    assert message_id_for("b1", "k1") == message_id_for("b1", "k1")
    assert message_id_for("b1", "k1") != message_id_for("b1", "k2")
    assert message_id_for("b1", "k1") != message_id_for("b2", "k1")


def test_ingest_is_idempotent(journal: SqliteJournal) -> None:
    assert journal.add_items(_items(2500)) == 2500
    assert journal.add_items(_items(3000)) == 500  # re-run after a crash: only the new ones
    assert journal.counts()["pending"] == 3000


def test_claim_commits_sending_and_counts_attempts(journal: SqliteJournal) -> None:
    journal.add_items(_items(5))
    first = journal.claim(3, now=100.0)
    assert [c.key for c in first] == ["k00000", "k00001", "k00002"]
    assert all(c.attempts == 1 for c in first)
    assert first[0].message_id == message_id_for("b1", "k00000")
    assert journal.counts()["sending"] == 3
    assert [c.key for c in journal.claim(10, now=100.0)] == ["k00003", "k00004"]
    assert journal.claim(10, now=100.0) == []


def test_outcomes_and_retry_wait(journal: SqliteJournal) -> None:
    journal.add_items(_items(3))
    a, b, c = journal.claim(3, now=1.0)
    journal.record(Outcome(key=a.key, state=State.DELIVERED, status_code="SCSS001"), now=2.0)
    journal.record(Outcome(key=b.key, state=State.FAILED, error="fault X"), now=2.0)
    journal.record(Outcome(key=c.key, state=State.RETRY_WAIT, error="503", retry_at=50.0), now=2.0)
    assert journal.claim(5, now=10.0) == []  # not due yet
    assert journal.next_retry_at() == 50.0
    (again,) = journal.claim(5, now=50.0)
    assert (again.key, again.attempts) == (c.key, 2)
    counts = journal.counts()
    assert (counts["delivered"], counts["failed"], counts["sending"]) == (1, 1, 1)
    assert ("k00001", "fault X") in journal.last_errors()


def test_recover_puts_in_flight_items_back(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    first = SqliteJournal(path)
    first.open_batch(batch_id="b1", service_id="echo", source="x")
    first.add_items(_items(4))
    claimed = first.claim(2, now=1.0)
    first.close()  # the process "dies" with two items in flight

    second = SqliteJournal(path)
    assert second.recover() == 2
    again = second.claim(10, now=2.0)
    assert [c.key for c in again] == ["k00000", "k00001", "k00002", "k00003"]
    assert again[0].message_id == claimed[0].message_id  # resent under the same id
    assert again[0].attempts == 2
    second.close()


def test_one_submitter_per_sqlite_journal(journal: SqliteJournal, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="another submitter"):
        SqliteJournal(tmp_path / "j.sqlite")


def test_journal_refuses_another_batch(journal: SqliteJournal) -> None:
    with pytest.raises(ConfigError, match="holds batch b1"):
        journal.open_batch(batch_id="b2", service_id="echo", source="other")


def test_not_a_journal(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.sqlite"
    bogus.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InputError, match="not a usable journal"):
        SqliteJournal(bogus)


def test_ingest_from_jsonl_and_export(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"key": "a", "data": "<x/>"}\n\n'
        '{"key": "b", "data": "hi", "text": true, "service": "s2"}\n'
    )
    with SqliteJournal(tmp_path / "j.sqlite") as journal:
        assert ingest(journal, source, service_id="echo", batch_id=None) == 2
        assert ingest(journal, source, service_id="echo", batch_id=None) == 0
        assert journal.batch().batch_id == batch_id_for(source, "echo")
        (a,) = journal.claim(1, now=1.0)
        journal.record(Outcome(key=a.key, state=State.DELIVERED, status_code="SCSS001"), now=3.0)
        rows = [json.loads(line) for line in export_results(journal, "jsonl")]
        csv_text = "".join(export_results(journal, "csv"))
    assert [r["key"] for r in rows] == ["a", "b"]
    assert rows[0]["state"] == "delivered"
    assert rows[0]["message_id"] == message_id_for(batch_id_for(source, "echo"), "a")
    assert rows[1]["service_id"] == "s2"
    assert csv_text.splitlines()[0].startswith("key,message_id,service_id,state")
    assert len(csv_text.splitlines()) == 3

"""The PostgreSQL journal, on a real server (tests/batch/conftest.py starts one).

The SQLite journal's contract (states, idempotent ingest, export order), plus what sharing a
batch between processes needs: claims that never overlap, leases, late answers, and two
submitter processes that deliver each item exactly once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gateway.batch import (
    Journal,
    NewItem,
    Outcome,
    SqliteJournal,
    State,
    message_id_for,
)
from gateway.batch.run import export_results, ingest, open_journal
from gateway.demo import write_client_profile
from gateway.emulator import emulator_config_from_pki, start_emulator
from gateway.errors import ConfigError, InputError
from gateway.testpki import TestPki

psycopg = pytest.importorskip("psycopg")

from gateway.batch.pgjournal import PgJournal  # noqa: E402  (needs the optional driver)

if TYPE_CHECKING:
    from tests.batch.conftest import PgServer

DRIVER = Path(__file__).with_name("_pg_submitter.py")


def _items(n: int, start: int = 0) -> list[NewItem]:
    return [NewItem(key=f"k{i:05d}", ref=json.dumps({"i": i})) for i in range(start, start + n)]


def _with_batch(url: str, batch_id: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}batch={batch_id}"


def _eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    """The server ends a closed session (and drops its locks) just after the client leaves."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def journal(pg_url: str) -> Iterator[PgJournal]:
    with PgJournal(pg_url) as journal:
        journal.open_batch(batch_id="b1", service_id="echo", source="test")
        yield journal


@pytest.fixture
def peer(pg_url: str, journal: PgJournal) -> Iterator[PgJournal]:
    """A second submitter on the same batch: its own connection, its own claims."""
    with PgJournal(pg_url, batch_id="b1") as other:
        yield other


# ---- the contract it shares with SqliteJournal


def test_ingest_is_idempotent_in_chunks(journal: PgJournal) -> None:
    assert journal.add_items(_items(2500)) == 2500
    assert journal.add_items(_items(3000)) == 500  # re-run after a crash: only the new ones
    assert journal.counts()["pending"] == 3000


def test_claim_commits_sending_and_counts_attempts(journal: PgJournal, peer: PgJournal) -> None:
    journal.add_items(_items(5))
    first = journal.claim(3, now=100.0)
    assert [c.key for c in first] == ["k00000", "k00001", "k00002"]
    assert all(c.attempts == 1 for c in first)
    assert first[0].message_id == message_id_for("b1", "k00000")
    assert peer.counts()["sending"] == 3  # committed: another connection sees it
    assert [c.key for c in journal.claim(10, now=100.0)] == ["k00003", "k00004"]
    assert journal.claim(10, now=100.0) == []


def test_outcomes_and_retry_wait(journal: PgJournal, peer: PgJournal) -> None:
    journal.add_items(_items(3))
    a, b, c = journal.claim(3, now=1.0)
    journal.record(Outcome(key=a.key, state=State.DELIVERED, status_code="SCSS001"), now=2.0)
    journal.record(Outcome(key=b.key, state=State.FAILED, error="fault X"), now=3.0)
    journal.record(Outcome(key=c.key, state=State.RETRY_WAIT, error="503", retry_at=50.0), now=2.0)
    assert peer.claim(5, now=10.0) == []  # not due yet
    assert peer.next_retry_at() == 50.0
    (again,) = peer.claim(5, now=50.0)  # any submitter may take a due retry
    assert (again.key, again.attempts) == (c.key, 2)
    assert journal.counts() == {
        "pending": 0,
        "sending": 1,
        "delivered": 1,
        "failed": 1,
        "retry-wait": 0,
    }
    assert journal.last_errors() == [("k00002", "503"), ("k00001", "fault X")]
    assert journal.next_retry_at() is None


def _contract_scenario(journal: Journal, reopen: Callable[[], Journal]) -> list[tuple[object, ...]]:
    journal.open_batch(batch_id="b1", service_id="echo", source="test")
    assert journal.add_items(_items(6)) == 6
    journal.mark_ingested()
    a, b, c, _ = journal.claim(4, now=10.0)
    journal.record(Outcome(key=a.key, state=State.DELIVERED, status_code="OK"), now=11.0)
    journal.record(Outcome(key=b.key, state=State.FAILED, error="bad payload"), now=11.0)
    journal.record(Outcome(key=c.key, state=State.RETRY_WAIT, error="503", retry_at=20.0), now=11)
    journal.close()  # the process ends with one item in flight
    journal = reopen()
    assert journal.batch().ingested
    assert _eventually(lambda: journal.recover() == 1)
    claims = journal.claim(10, now=30.0)
    assert [(x.key, x.attempts) for x in claims] == [
        ("k00002", 2),
        ("k00003", 2),
        ("k00004", 1),
        ("k00005", 1),
    ]
    for claim in claims:
        journal.record(Outcome(key=claim.key, state=State.DELIVERED, status_code="OK"), now=31.0)
    rows = [
        (r.key, r.message_id, r.service_id, r.state, r.status_code, r.error, r.attempts)
        for r in journal.results()
    ]
    journal.close()
    return rows


def test_same_contract_as_sqlite(tmp_path: Path, pg_url: str) -> None:
    lite = _contract_scenario(
        SqliteJournal(tmp_path / "j.sqlite"), lambda: SqliteJournal(tmp_path / "j.sqlite")
    )
    pg = _contract_scenario(PgJournal(pg_url), lambda: PgJournal(pg_url))
    assert pg == lite
    assert [row[3] for row in pg] == ["delivered", "failed", *["delivered"] * 4]


def test_ingest_from_jsonl_and_export_in_input_order(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "in.jsonl"
    keys = [f"z{i:04d}" if i % 2 else f"a{i:04d}" for i in range(3000)]  # input order, not sorted
    source.write_text("".join(json.dumps({"key": k, "data": "<a/>"}) + "\n" for k in keys))
    with PgJournal(pg_url) as journal:
        assert ingest(journal, source, service_id="echo", batch_id="b1") == 3000
        assert ingest(journal, source, service_id="echo", batch_id="b1") == 0
        exported = [json.loads(line) for line in export_results(journal, "jsonl")]
    assert [row["key"] for row in exported] == keys
    assert exported[0]["message_id"] == message_id_for("b1", keys[0])
    assert {row["state"] for row in exported} == {"pending"}


# ---- many submitters


def test_concurrent_claims_never_get_the_same_item(pg_url: str, journal: PgJournal) -> None:
    journal.add_items(_items(600))
    claimed: list[list[str]] = [[], [], []]
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def submitter(index: int) -> None:
        try:
            with PgJournal(pg_url, batch_id="b1") as mine:
                start.wait()
                while batch := mine.claim(7, now=time.time()):
                    for claim in batch:
                        claimed[index].append(claim.key)
                        outcome = Outcome(key=claim.key, state=State.DELIVERED)
                        mine.record(outcome, now=time.time())
        except BaseException as exc:  # noqa: BLE001  (re-raised in the test thread)
            errors.append(exc)

    threads = [threading.Thread(target=submitter, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    every = [key for keys in claimed for key in keys]
    assert len(every) == len(set(every)) == 600
    assert all(claimed), [len(keys) for keys in claimed]
    assert journal.counts()["delivered"] == 600


def test_claim_skips_rows_another_submitter_is_locking(
    pg_url: str, journal: PgJournal, peer: PgJournal
) -> None:
    journal.add_items(_items(6))
    with psycopg.connect(pg_url) as other:  # a claimer half-way through its transaction
        other.execute(
            "SELECT seq FROM shep_batch_items WHERE key IN ('k00000', 'k00001') FOR UPDATE"
        )
        started = time.monotonic()
        assert [c.key for c in peer.claim(3, now=1.0)] == ["k00002", "k00003", "k00004"]
        assert time.monotonic() - started < 2.0  # skipped, not waited for
    assert [c.key for c in peer.claim(5, now=1.0)] == ["k00000", "k00001", "k00005"]


def test_recover_leaves_a_live_submitters_items_alone(journal: PgJournal, peer: PgJournal) -> None:
    journal.add_items(_items(4))
    mine = journal.claim(2, now=1.0)
    assert peer.recover() == 0  # journal is alive and its lease runs
    assert journal.recover() == 0
    assert [c.key for c in peer.claim(5, now=1.0)] == ["k00002", "k00003"]
    for claim in mine:
        journal.record(Outcome(key=claim.key, state=State.DELIVERED), now=2.0)
    assert journal.counts()["delivered"] == 2


def test_a_dead_submitters_items_come_back_at_once(pg_url: str, journal: PgJournal) -> None:
    journal.add_items(_items(3))
    dying = PgJournal(pg_url, batch_id="b1")  # default lease: 300 s
    assert len(dying.claim(2, now=1.0)) == 2
    dying.close()  # the process died: its session, and its lock, are gone
    assert _eventually(lambda: journal.recover() == 2)
    assert [(c.key, c.attempts) for c in journal.claim(5, now=2.0)] == [
        ("k00000", 2),
        ("k00001", 2),
        ("k00002", 1),
    ]


def test_an_expired_lease_returns_the_items(pg_url: str, journal: PgJournal) -> None:
    """A submitter whose session still exists (a hung host) but whose lease has run out."""
    journal.add_items(_items(3))
    with PgJournal(pg_url, batch_id="b1", lease=0.3) as slow:
        x, y = slow.claim(2, now=1.0)
        assert journal.recover() == 0
        time.sleep(0.5)
        assert journal.recover() == 2
        (again,) = journal.claim(1, now=2.0)
        assert (again.key, again.attempts) == (x.key, 2)
        # Late answers of the slow submitter: x is someone else's now, so its answer is
        # dropped; y is pending and nobody is sending it, so a late delivery still counts.
        slow.record(Outcome(key=x.key, state=State.FAILED, error="late fault"), now=3.0)
        slow.record(Outcome(key=y.key, state=State.DELIVERED, status_code="OK"), now=3.0)
        slow.record(Outcome(key="k00002", state=State.RETRY_WAIT, retry_at=0.0), now=3.0)
    states = {r.key: (r.state, r.error) for r in journal.results()}
    assert states == {
        "k00000": ("sending", None),
        "k00001": ("delivered", None),
        "k00002": ("pending", None),
    }
    journal.record(Outcome(key=x.key, state=State.DELIVERED, status_code="OK"), now=4.0)
    assert journal.counts()["delivered"] == 2


def test_schema_creation_is_safe_when_submitters_start_together(pg_url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_one() -> None:
        try:
            start.wait()
            PgJournal(pg_url).close()
        except BaseException as exc:  # noqa: BLE001  (re-raised in the test thread)
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []


# ---- batches in one database


def test_one_database_holds_many_batches(pg_url: str) -> None:
    with PgJournal(pg_url) as first, PgJournal(pg_url) as second:
        first.open_batch(batch_id="orders", service_id="echo", source="orders.jsonl")
        second.open_batch(batch_id="refunds", service_id="echo", source="refunds.jsonl")
        first.add_items(_items(3))
        second.add_items(_items(5))  # the same keys, another batch
        assert first.counts()["pending"] == 3
        assert second.counts()["pending"] == 5
        assert first.claim(1, now=1.0)[0].message_id == message_id_for("orders", "k00000")
        assert second.claim(1, now=1.0)[0].message_id == message_id_for("refunds", "k00000")
    with PgJournal(pg_url) as unnamed, pytest.raises(ConfigError) as caught:
        unnamed.counts()
    assert "orders" in str(caught.value)
    assert "refunds" in str(caught.value)
    assert "?batch=ID" in str(caught.value)
    chosen = open_journal(_with_batch(pg_url, "refunds"))
    try:
        assert isinstance(chosen, PgJournal)
        assert chosen.batch().source == "refunds.jsonl"
        assert chosen.counts()["pending"] == 4
    finally:
        chosen.close()


def test_the_only_batch_is_used_without_naming_it(pg_url: str, journal: PgJournal) -> None:
    journal.add_items(_items(2))
    with PgJournal(pg_url) as reader:
        assert reader.batch().batch_id == "b1"
        assert reader.counts()["pending"] == 2


def test_an_empty_or_unknown_batch_is_an_input_error(pg_url: str) -> None:
    with PgJournal(pg_url) as empty, pytest.raises(InputError, match="holds no batch"):
        empty.batch()
    with PgJournal(_with_batch(pg_url, "nope")) as unknown, pytest.raises(InputError, match="nope"):
        unknown.counts()


# ---- errors


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_connection_error_names_the_server_but_not_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = _closed_port()
    url = f"postgresql://shep:pw-NOT-TO-PRINT@127.0.0.1:{port}/journal?connect_timeout=3"
    with pytest.raises(ConfigError) as caught:
        PgJournal(url)
    error = caught.value
    assert error.file == f"postgresql://shep:***@127.0.0.1:{port}/journal?connect_timeout=3"
    assert "cannot connect" in str(error)
    assert "pw-NOT-TO-PRINT" not in str(error) + repr(error) + caplog.text


def test_unknown_database_is_a_config_error(pg_server: PgServer) -> None:
    url = pg_server.url("no_such_db")
    with pytest.raises(ConfigError, match="no_such_db"):
        PgJournal(url)


def test_bad_url_is_a_config_error_without_the_password() -> None:
    with pytest.raises(ConfigError, match="not a valid PostgreSQL URL") as caught:
        PgJournal("postgresql://u:pw-NOT-TO-PRINT@127.0.0.1/db?password=pw-NOT-TO-PRINT&bogus=1")
    assert "pw-NOT-TO-PRINT" not in str(caught.value)
    with pytest.raises(ConfigError, match="expected a postgresql:// URL") as caught:
        PgJournal("host=127.0.0.1 password=pw-NOT-TO-PRINT")
    assert "pw-NOT-TO-PRINT" not in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        PgJournal("postgresql://u:pw/NOT@TO-PRINT@127.0.0.1:1/db?connect_timeout=3")
    assert "pw" not in str(caught.value)
    assert "NOT" not in str(caught.value)
    with pytest.raises(ConfigError, match="at most one batch"):
        PgJournal("postgresql://127.0.0.1/db?batch=a&batch=b")
    with pytest.raises(ConfigError) as lease:
        PgJournal("postgresql://127.0.0.1/db", lease=0)
    assert lease.value.field == "lease"


def test_repr_hides_the_password(pg_url: str) -> None:
    url = pg_url.replace("postgres@", "postgres:pw-NOT-TO-PRINT@")  # trust auth ignores it
    with PgJournal(url) as journal:
        assert "pw-NOT-TO-PRINT" not in repr(journal)
        assert "127.0.0.1" in repr(journal)


# ---- end to end


def test_two_submitter_processes_deliver_each_item_once(
    tmp_path: Path, pki: TestPki, pg_url: str
) -> None:
    items = 300
    source = tmp_path / "orders.jsonl"
    with source.open("w") as handle:
        for i in range(items):
            data = f"<p:Order xmlns:p='urn:p'><p:n>{i}</p:n><p:t>Қазақстан</p:t></p:Order>"
            handle.write(json.dumps({"key": f"order-{i:05d}", "data": data}, ensure_ascii=False))
            handle.write("\n")
    with PgJournal(pg_url) as journal:
        assert ingest(journal, source, service_id="echo", batch_id=None) == items
        batch_id = journal.batch().batch_id
    url = _with_batch(pg_url, batch_id)
    with start_emulator(emulator_config_from_pki(pki)) as emulator:
        profile = write_client_profile(pki, url=emulator.url)
        processes = [
            subprocess.Popen(
                [sys.executable, str(DRIVER), url, str(profile)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            for process in processes:  # both loaded their keys and opened the journal
                assert process.stdout is not None
                assert process.stdout.readline().strip() == "ready", process.stderr
            for process in processes:
                assert process.stdin is not None
                process.stdin.write("go\n")
                process.stdin.flush()
            outputs = [process.communicate(timeout=120) for process in processes]
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        accepted = emulator.accepted_message_ids()
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    summaries = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    attempts = [summary["attempts"] for summary in summaries]
    assert all(attempts), attempts  # both processes did part of the work
    assert sum(attempts) == items
    with PgJournal(url) as journal:
        assert journal.counts()["delivered"] == items
        ids = [r.message_id for r in journal.results()]
    assert sorted(accepted) == sorted(ids)  # each messageId reached the gateway exactly once
    assert len(set(ids)) == items

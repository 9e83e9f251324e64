"""submit_batch against the real emulator over mutual TLS: delivery, retries, faults, stop."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.batch import Outcome, SqliteJournal, State, SubmitOptions, submit_batch
from gateway.batch.run import ingest
from gateway.client import GatewayClient
from gateway.config import load_profile, open_client
from gateway.demo import write_client_profile
from gateway.emulator import EmulatorConfig, FaultPlan, emulator_config_from_pki, start_emulator
from gateway.emulator.server import RunningEmulator
from gateway.testpki import TestPki
from gateway.transport import RetryPolicy

QUICK = RetryPolicy(backoff=0.001, backoff_max=0.01, jitter=0.0)


def _jsonl(
    path: Path, n: int, *, service: str | None = None, broken: set[int] = frozenset()
) -> Path:
    with path.open("w") as handle:
        for i in range(n):
            data = (
                "<p:Item xmlns:p='urn:p'><p:n>Ж"
                + str(i)
                + "</p:n>"
                + ("" if i not in broken else "<oops>")
            )
            data += "</p:Item>" if i not in broken else ""
            record: dict[str, object] = {"key": f"item-{i:05d}", "data": data}
            if service:
                record["service"] = service
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


@pytest.fixture(scope="module")
def base_config(pki: TestPki) -> EmulatorConfig:
    return emulator_config_from_pki(pki)


@pytest.fixture
def emulator_factory(base_config: EmulatorConfig) -> Iterator[object]:
    started: list[RunningEmulator] = []

    def start(**plan: object) -> RunningEmulator:
        running = start_emulator(dataclasses.replace(base_config, faults=FaultPlan(**plan)))  # type: ignore[arg-type]
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def _client(pki: TestPki, emulator: RunningEmulator) -> GatewayClient:
    profile = load_profile(write_client_profile(pki, url=emulator.url), environ={})
    return open_client(dataclasses.replace(profile, retries=0), environ={})


def test_every_item_is_delivered_once(
    pki: TestPki, emulator_factory: object, tmp_path: Path
) -> None:
    emulator = emulator_factory()  # type: ignore[operator]
    source = _jsonl(tmp_path / "in.jsonl", 120)
    with SqliteJournal(tmp_path / "j.sqlite") as journal, _client(pki, emulator) as client:
        ingest(journal, source, service_id="echo", batch_id=None)
        seen: list[Outcome] = []
        summary = submit_batch(
            journal, client, SubmitOptions(concurrency=4), on_outcome=seen.append
        )
        ids = {r.message_id for r in journal.results()}
    assert summary.counts["delivered"] == 120
    assert summary.finished
    assert summary.attempts == 120
    assert len(seen) == 120
    accepted = emulator.accepted_message_ids()
    assert sorted(accepted) == sorted(ids)  # each messageId exactly once


def test_injected_503s_and_drops_are_retried_until_delivered(
    pki: TestPki, emulator_factory: object, tmp_path: Path
) -> None:
    emulator = emulator_factory(unavailable_rate=0.2, drop_rate=0.1, seed=3, retry_after=0)  # type: ignore[operator]
    source = _jsonl(tmp_path / "in.jsonl", 80)
    options = SubmitOptions(concurrency=4, max_attempts=20, retry=QUICK)
    with SqliteJournal(tmp_path / "j.sqlite") as journal, _client(pki, emulator) as client:
        ingest(journal, source, service_id="echo", batch_id=None)
        summary = submit_batch(journal, client, options)
        results = list(journal.results())
    assert summary.counts["delivered"] == 80
    assert summary.attempts > 80  # some had to be retried
    assert any(r.attempts > 1 for r in results)
    accepted = emulator.accepted_message_ids()
    assert set(accepted) == {r.message_id for r in results}
    # a dropped answer means the gateway took the message: a resend is a duplicate, same id
    assert len(accepted) - len(set(accepted)) <= summary.attempts - 80


def test_permanent_failures_are_not_retried(
    pki: TestPki, emulator_factory: object, tmp_path: Path
) -> None:
    emulator = emulator_factory()  # type: ignore[operator]
    source = _jsonl(tmp_path / "in.jsonl", 6, broken={2})
    with SqliteJournal(tmp_path / "j.sqlite") as journal, _client(pki, emulator) as client:
        ingest(journal, source, service_id="no-such-service", batch_id=None)
        summary = submit_batch(journal, client, SubmitOptions(concurrency=2, retry=QUICK))
        results = {r.key: r for r in journal.results()}
    assert summary.counts["failed"] == 6
    assert all(r.attempts == 1 for r in results.values())
    assert "ESRV001" in (results["item-00000"].error or "")
    assert "in.jsonl:3" in (results["item-00002"].error or "")  # the broken payload, by line


def test_attempts_are_limited(pki: TestPki, emulator_factory: object, tmp_path: Path) -> None:
    emulator = emulator_factory(unavailable_rate=1.0, retry_after=0)  # type: ignore[operator]
    source = _jsonl(tmp_path / "in.jsonl", 3)
    options = SubmitOptions(concurrency=3, max_attempts=3, retry=QUICK)
    with SqliteJournal(tmp_path / "j.sqlite") as journal, _client(pki, emulator) as client:
        ingest(journal, source, service_id="echo", batch_id=None)
        summary = submit_batch(journal, client, options)
        results = list(journal.results())
    assert summary.counts["failed"] == 3
    assert all(r.attempts == 3 for r in results)
    assert all("gave up after 3 attempts" in (r.error or "") for r in results)
    assert emulator.accepted_message_ids() == []


def test_stop_leaves_a_consistent_journal_that_resumes(
    pki: TestPki, emulator_factory: object, tmp_path: Path
) -> None:
    emulator = emulator_factory(latency=0.02)  # type: ignore[operator]
    source = _jsonl(tmp_path / "in.jsonl", 200)
    stop = threading.Event()
    delivered = 0

    def count(outcome: Outcome) -> None:
        nonlocal delivered
        delivered += outcome.state is State.DELIVERED
        if delivered == 30:
            stop.set()

    path = tmp_path / "j.sqlite"
    with SqliteJournal(path) as journal, _client(pki, emulator) as client:
        ingest(journal, source, service_id="echo", batch_id=None)
        first = submit_batch(
            journal, client, SubmitOptions(concurrency=4), on_outcome=count, stop=stop
        )
    assert first.interrupted
    assert first.counts["sending"] == 0  # in-flight items were finished and recorded
    assert 30 <= first.counts["delivered"] < 200
    with SqliteJournal(path) as journal, _client(pki, emulator) as client:
        second = submit_batch(journal, client, SubmitOptions(concurrency=4))
    assert second.counts["delivered"] == 200
    accepted = emulator.accepted_message_ids()
    assert len(accepted) == len(set(accepted)) == 200


def test_rate_limit_spaces_the_sends(
    pki: TestPki, emulator_factory: object, tmp_path: Path
) -> None:
    emulator = emulator_factory()  # type: ignore[operator]
    source = _jsonl(tmp_path / "in.jsonl", 11)
    with SqliteJournal(tmp_path / "j.sqlite") as journal, _client(pki, emulator) as client:
        ingest(journal, source, service_id="echo", batch_id=None)
        started = time.monotonic()
        submit_batch(journal, client, SubmitOptions(concurrency=4, rate=50.0))
        took = time.monotonic() - started
    # a lower bound only: 11 sends 1/50 s apart cannot finish sooner than 10 intervals
    assert took >= 10 / 50.0

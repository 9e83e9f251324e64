"""Kill -9 the real `shep batch` process at random points, resume, and lose nothing."""

from __future__ import annotations

import dataclasses
import json
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.batch import SqliteJournal
from gateway.demo import write_client_profile
from gateway.emulator import FaultPlan, emulator_config_from_pki, start_emulator
from gateway.emulator.server import RunningEmulator
from gateway.testpki import TestPki

SHEP = str(Path(sys.executable).parent / "shep")
CONCURRENCY = 8


def _input(path: Path, n: int) -> Path:
    with path.open("w") as handle:
        for i in range(n):
            data = f"<p:Order xmlns:p='urn:p'><p:n>{i}</p:n><p:t>Қазақстан</p:t></p:Order>"
            handle.write(json.dumps({"key": f"order-{i:05d}", "data": data}, ensure_ascii=False))
            handle.write("\n")
    return path


@pytest.fixture
def emulator(pki: TestPki, request: pytest.FixtureRequest) -> Iterator[RunningEmulator]:
    faults = getattr(request, "param", FaultPlan())
    config = dataclasses.replace(emulator_config_from_pki(pki), faults=faults)
    with start_emulator(config) as running:
        yield running


def _run(argv: list[str], *, kill_after: float | None) -> int | None:
    process = subprocess.Popen(
        [SHEP, *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if kill_after is None:
        _, err = process.communicate(timeout=240)
        assert "Traceback" not in err, err
        return process.returncode
    try:
        process.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        return None  # killed mid-run
    return process.returncode


def _crash_and_resume(
    tmp_path: Path, pki: TestPki, emulator: RunningEmulator, *, items: int, kills: int
) -> tuple[Path, int]:
    profile = write_client_profile(pki, url=emulator.url)
    source = _input(tmp_path / "orders.jsonl", items)
    journal = tmp_path / "orders.sqlite"
    common = ["--config", str(profile), "--concurrency", str(CONCURRENCY), "--quiet"]
    common += ["--max-attempts", "50"]
    rng = random.Random(20261130)
    killed = 0
    first = ["batch", "submit", str(source), "--service", "echo", "--journal", str(journal)]
    argv = [*first, *common]
    for _ in range(kills):
        code = _run(argv, kill_after=rng.uniform(0.8, 2.5))
        killed += code is None
        argv = ["batch", "resume", str(journal), *common]
        if code is not None:
            break  # it finished before we could kill it
    assert _run(["batch", "resume", str(journal), *common], kill_after=None) == 0
    return journal, killed


def _check(journal_path: Path, emulator: RunningEmulator, *, items: int, killed: int) -> None:
    with SqliteJournal(journal_path) as journal:
        counts = journal.counts()
        ids = [r.message_id for r in journal.results()]
    assert counts["delivered"] == items, counts
    accepted = emulator.accepted_message_ids()
    assert set(accepted) == set(ids)  # the emulator saw every messageId
    duplicates = len(accepted) - len(set(accepted))
    # a duplicate can only be an item in flight at a kill, resent under the same messageId
    assert duplicates <= killed * CONCURRENCY, (duplicates, killed)


def test_sigkill_at_random_points_loses_nothing(
    tmp_path: Path, pki: TestPki, emulator: RunningEmulator
) -> None:
    journal, killed = _crash_and_resume(tmp_path, pki, emulator, items=2000, kills=4)
    assert killed >= 2  # the test must actually have killed it mid-batch
    _check(journal, emulator, items=2000, killed=killed)


@pytest.mark.parametrize(
    "emulator",
    [FaultPlan(seed=11, unavailable_rate=0.05, drop_rate=0.03, retry_after=0)],
    indirect=True,
    ids=["503s-and-drops"],
)
def test_sigkill_with_injected_503s_and_dropped_answers(
    tmp_path: Path, pki: TestPki, emulator: RunningEmulator
) -> None:
    journal, killed = _crash_and_resume(tmp_path, pki, emulator, items=1000, kills=3)
    with SqliteJournal(journal) as store:
        retried = sum(1 for r in store.results() if r.attempts > 1)
    assert retried > 0
    # drops mean the emulator took a message whose answer never arrived: the resend is a
    # duplicate too, bounded by the number of drops
    with SqliteJournal(journal) as store:
        counts = store.counts()
        ids = [r.message_id for r in store.results()]
        attempts = sum(r.attempts for r in store.results())
    assert counts["delivered"] == 1000
    accepted = emulator.accepted_message_ids()
    assert set(accepted) == set(ids)
    assert len(accepted) - len(set(accepted)) <= killed * CONCURRENCY + (attempts - 1000)


@pytest.mark.parametrize("emulator", [FaultPlan(latency=0.01)], indirect=True, ids=["slow"])
def test_ctrl_c_finishes_in_flight_items_and_keeps_the_journal_consistent(
    tmp_path: Path, pki: TestPki, emulator: RunningEmulator
) -> None:
    profile = write_client_profile(pki, url=emulator.url)
    source = _input(tmp_path / "orders.jsonl", 3000)
    journal = tmp_path / "orders.sqlite"
    process = subprocess.Popen(
        [
            SHEP,
            "batch",
            "submit",
            str(source),
            "--service",
            "echo",
            "--journal",
            str(journal),
            "--config",
            str(profile),
            "--concurrency",
            str(CONCURRENCY),
            "--quiet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = 60.0
    while deadline > 0 and not emulator.accepted_message_ids():
        deadline -= 0.05
        subprocess.run(["sleep", "0.05"], check=True)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted; `shep batch resume` continues" in err
    assert "Traceback" not in err
    with SqliteJournal(journal) as store:
        counts = store.counts()
    assert counts["sending"] == 0  # nothing left half-way
    assert 0 < counts["delivered"] < 3000
    # every message the emulator took is recorded as delivered: nothing in flight was lost
    assert len(set(emulator.accepted_message_ids())) == counts["delivered"]

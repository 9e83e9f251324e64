"""Batch submission throughput and memory: ``submit_batch`` against the naive zeep loop.

One local gateway emulator on a throw-away test PKI, in a subprocess (bench_send.py's own
``--serve`` helper), serves every sender of this run. Every submitter runs in a fresh
subprocess of its own (this script's ``--probe`` mode), so its peak RSS is its own and it does
not share this process's GIL. The input is a JSONL file whose lines carry the same ~2 KiB XML
payload as bench_send.py (Kazakh and Russian person records). One run measures:

1. ``submit_batch`` (SqliteJournal in a temp dir, ``open_client(..., pool_size=N)``) over
   5,000 items for concurrency 1 (the first 500 only), 4, 8 and 16: msg/s, CPU per message
   of the submitter and of the emulator, time the dispatcher spends in the journal, peak RSS;
2. the baseline: bench_send.py's naive sequential loop (zeep + BinarySignature rsa-sha256,
   a new ``requests.post`` per message) against the same emulator, in short rounds before
   and after every row of 1, so each row has a baseline measured next to it;
3. threads against processes at the best concurrency C: 1 process with C threads against
   2 processes with C/2 each (each on its own half of the items and its own journal,
   started together), 2,500 items;
4. the journal's cost: the same 1-process run with an in-memory ``Journal`` (defined here),
   between two SQLite runs (the VM's speed drifts);
5. memory flatness: peak RSS of a submitter with 10,000 and 200,000 items in its journal
   (streamed ingestion, then only the first 500 sent).

Nothing here fails on time; targets print ``met`` or ``MISSED``. Run from the repository root:

    .venv/bin/python bench/bench_batch.py [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from peakrss import peak_rss, reset_peak_rss, status_bytes  # bench/peakrss.py

from gateway.batch import (
    BatchInfo,
    Claim,
    ItemResult,
    Journal,
    NewItem,
    Outcome,
    SqliteJournal,
    State,
    SubmitOptions,
    iter_items,
    load_payload,
    message_id_for,
    submit_batch,
)
from gateway.batch.run import ingest
from gateway.config import load_profile, open_client
from gateway.demo import write_client_profile
from gateway.testpki import generate_test_pki

SERVICE_ID = "echo"  # the same as bench_send.SERVICE_ID; kept here so a probe need not import it
NAIVE_TO_BATCH_TARGET = 10.0
"""The issue's goal: best batch msg/s at least this multiple of the naive sequential loop."""
FLAT_TARGET = 1.2
"""Peak RSS with 200,000 items queued over the peak with 10,000: at most this."""
WARMUP_SENDS = 20
"""Unrecorded sends in every submitter before timing: imports, zeep contract, TLS setup."""
MIB = 1024 * 1024


# --------------------------------------------------------------------------- in-memory journal


@dataclass(slots=True)
class _Row:
    seq: int
    key: str
    message_id: str
    service_id: str
    ref: str
    state: State = State.PENDING
    attempts: int = 0
    retry_at: float | None = None
    status_code: str | None = None
    error: str | None = None
    first_at: float | None = None
    done_at: float | None = None
    elapsed: float = 0.0


class MemoryJournal:
    """The ``Journal`` protocol in process memory: no file, no fsync, no durability. It is
    here only to show what the SQLite journal costs the submitter."""

    def __init__(self) -> None:
        self._info: BatchInfo | None = None
        self._rows: dict[str, _Row] = {}
        self._pending: deque[str] = deque()
        self._waiting: dict[str, float] = {}

    def open_batch(self, *, batch_id: str, service_id: str, source: str) -> BatchInfo:
        if self._info is None:
            self._info = BatchInfo(
                batch_id=batch_id,
                service_id=service_id,
                source=source,
                ingested=False,
                created=time.time(),
            )
        elif self._info.batch_id != batch_id:
            raise ValueError(f"journal holds batch {self._info.batch_id}, not {batch_id}")
        return self._info

    def batch(self) -> BatchInfo:
        if self._info is None:
            raise ValueError("the journal holds no batch")
        return self._info

    def add_items(self, items: Iterable[NewItem]) -> int:
        info = self.batch()
        added = 0
        for item in items:
            if item.key in self._rows:
                continue
            self._rows[item.key] = _Row(
                seq=len(self._rows),
                key=item.key,
                message_id=message_id_for(info.batch_id, item.key),
                service_id=item.service_id or info.service_id,
                ref=item.ref,
            )
            self._pending.append(item.key)
            added += 1
        return added

    def mark_ingested(self) -> None:
        self._info = dataclasses.replace(self.batch(), ingested=True)

    def recover(self) -> int:
        stuck = sorted(
            (row for row in self._rows.values() if row.state is State.SENDING),
            key=lambda row: row.seq,
            reverse=True,
        )
        for row in stuck:
            row.state = State.PENDING
            self._pending.appendleft(row.key)
        return len(stuck)

    def claim(self, limit: int, *, now: float) -> list[Claim]:
        keys: list[str] = []
        due = sorted((self._rows[key].seq, key) for key, at in self._waiting.items() if at <= now)
        for _seq, key in due[:limit]:
            del self._waiting[key]
            keys.append(key)
        while self._pending and len(keys) < limit:
            keys.append(self._pending.popleft())
        claims = []
        for key in keys:
            row = self._rows[key]
            row.state = State.SENDING
            row.attempts += 1
            row.first_at = row.first_at if row.first_at is not None else now
            claims.append(
                Claim(
                    key=key,
                    message_id=row.message_id,
                    service_id=row.service_id,
                    ref=row.ref,
                    attempts=row.attempts,
                )
            )
        return claims

    def record(self, outcome: Outcome, *, now: float) -> None:
        row = self._rows[outcome.key]
        row.state = outcome.state
        row.status_code = outcome.status_code
        row.error = outcome.error
        row.retry_at = outcome.retry_at
        row.done_at = now if outcome.state in (State.DELIVERED, State.FAILED) else None
        row.elapsed += outcome.elapsed
        if outcome.state is State.RETRY_WAIT:
            self._waiting[outcome.key] = outcome.retry_at or now

    def record_many(self, outcomes: Sequence[Outcome], *, now: float) -> None:
        for outcome in outcomes:
            self.record(outcome, now=now)

    def counts(self) -> dict[str, int]:
        counts = {str(state): 0 for state in State}
        counts.update(Counter(str(row.state) for row in self._rows.values()))
        return counts

    def next_retry_at(self) -> float | None:
        return min(self._waiting.values(), default=None)

    def last_errors(self, limit: int = 5) -> list[tuple[str, str]]:
        failed = [row for row in self._rows.values() if row.error is not None]
        failed.sort(key=lambda row: row.done_at or row.retry_at or 0.0, reverse=True)
        return [(row.key, row.error or "") for row in failed[:limit]]

    def results(self) -> Iterator[ItemResult]:
        for row in self._rows.values():
            yield ItemResult(
                key=row.key,
                message_id=row.message_id,
                service_id=row.service_id,
                state=str(row.state),
                status_code=row.status_code,
                error=row.error,
                attempts=row.attempts,
                first_attempt_at=row.first_at,
                finished_at=row.done_at,
                elapsed=row.elapsed,
            )

    def close(self) -> None:
        return None


class TimedJournal:
    """Any journal, with the time the dispatcher spends in ``claim`` and ``record`` summed
    (``submit_batch`` calls the journal from its dispatching thread only)."""

    def __init__(self, inner: Journal) -> None:
        self.inner = inner
        self.claim_s = 0.0
        self.record_s = 0.0
        self.other_s = 0.0
        self.claims = 0
        self.claimed = 0
        self.records = 0
        self.max_claim_s = 0.0

    def open_batch(self, *, batch_id: str, service_id: str, source: str) -> BatchInfo:
        return self.inner.open_batch(batch_id=batch_id, service_id=service_id, source=source)

    def batch(self) -> BatchInfo:
        return self.inner.batch()

    def add_items(self, items: Iterable[NewItem]) -> int:
        return self.inner.add_items(items)

    def mark_ingested(self) -> None:
        self.inner.mark_ingested()

    def recover(self) -> int:
        started = time.perf_counter()
        try:
            return self.inner.recover()
        finally:
            self.other_s += time.perf_counter() - started

    def claim(self, limit: int, *, now: float) -> list[Claim]:
        started = time.perf_counter()
        claims = self.inner.claim(limit, now=now)
        spent = time.perf_counter() - started
        self.claim_s += spent
        self.max_claim_s = max(self.max_claim_s, spent)
        self.claims += 1
        self.claimed += len(claims)
        return claims

    def record(self, outcome: Outcome, *, now: float) -> None:
        self.record_many((outcome,), now=now)

    def record_many(self, outcomes: Sequence[Outcome], *, now: float) -> None:
        started = time.perf_counter()
        self.inner.record_many(outcomes, now=now)
        self.record_s += time.perf_counter() - started
        self.records += len(outcomes)

    def counts(self) -> dict[str, int]:
        started = time.perf_counter()
        try:
            return self.inner.counts()
        finally:
            self.other_s += time.perf_counter() - started

    def next_retry_at(self) -> float | None:
        started = time.perf_counter()
        try:
            return self.inner.next_retry_at()
        finally:
            self.other_s += time.perf_counter() - started

    def last_errors(self, limit: int = 5) -> list[tuple[str, str]]:
        return self.inner.last_errors(limit)

    def results(self) -> Iterator[ItemResult]:
        return self.inner.results()

    def close(self) -> None:
        self.inner.close()


# --------------------------------------------------------------------------- memory probes


# --------------------------------------------------------------------------- the submitter probe


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeSpec:
    """What one submitter subprocess does."""

    profile: str
    source: str
    journal: str  # "sqlite" or "memory"
    workdir: str
    batch_id: str
    concurrency: int
    stop_after: int | None = None


def probe(spec: ProbeSpec) -> int:
    """Child process: set up, ingest, say ready, wait for ``go`` on stdin, submit, report.

    Peak RSS is measured twice, each time from a reset mark: over the ingestion and over the
    sending. Client setup and warm-up sends come before both, so one-time imports and the
    zeep contract are in the starting RSS, not in the peaks' growth.
    """
    rss_start = status_bytes("VmRSS") or 0
    profile = load_profile(Path(spec.profile), environ={})
    client = open_client(
        dataclasses.replace(profile, retries=0), environ={}, pool_size=spec.concurrency
    )
    source = Path(spec.source)
    first = next(iter_items(source))
    payload = load_payload(first.ref)
    for _ in range(WARMUP_SENDS):
        client.send(SERVICE_ID, payload, message_id=str(uuid.uuid4()))
    inner: Journal
    if spec.journal == "memory":
        inner = MemoryJournal()
    else:
        inner = SqliteJournal(Path(spec.workdir) / f"{spec.batch_id}.sqlite")
    journal = TimedJournal(inner)
    gc.collect()
    rss_setup = status_bytes("VmRSS") or 0
    reset = reset_peak_rss()
    ingest_started = time.perf_counter()
    added = ingest(journal, source, service_id=SERVICE_ID, batch_id=spec.batch_id)
    ingest_s = time.perf_counter() - ingest_started
    peak_ingest = peak_rss()
    gc.collect()
    print(json.dumps({"ready": added}), flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1

    stop = threading.Event()
    outcomes = 0

    def on_outcome(_outcome: Outcome) -> None:
        nonlocal outcomes
        outcomes += 1
        if spec.stop_after is not None and outcomes >= spec.stop_after:
            stop.set()

    rss_before_send = status_bytes("VmRSS") or 0
    reset_peak_rss()
    cpu_before = time.process_time()
    wall_start = time.time()
    started = time.perf_counter()
    summary = submit_batch(
        journal,
        client,
        SubmitOptions(concurrency=spec.concurrency),
        on_outcome=on_outcome,
        stop=stop,
    )
    elapsed = time.perf_counter() - started
    wall_end = time.time()
    cpu = time.process_time() - cpu_before
    peak_send = peak_rss()
    errors = journal.last_errors(3)
    journal.close()
    client.close()
    print(
        json.dumps(
            {
                "added": added,
                "ingest_s": ingest_s,
                "rss_start": rss_start,
                "rss_setup": rss_setup,
                "peak_ingest": peak_ingest,
                "rss_before_send": rss_before_send,
                "peak_send": peak_send,
                "peak_reset": reset,
                "elapsed": elapsed,
                "wall_start": wall_start,
                "wall_end": wall_end,
                "cpu": cpu,
                "counts": summary.counts,
                "attempts": summary.attempts,
                "outcomes": outcomes,
                "claim_s": journal.claim_s,
                "record_s": journal.record_s,
                "other_s": journal.other_s,
                "claims": journal.claims,
                "claimed": journal.claimed,
                "max_claim_s": journal.max_claim_s,
                "errors": errors,
            }
        ),
        flush=True,
    )
    return 0


@dataclass(slots=True)
class Result:
    """One submitter's report, plus what the parent measured around it."""

    label: str
    spec: ProbeSpec
    data: dict[str, Any]
    server_cpu: float = 0.0
    keys: list[str] = field(default_factory=list)

    @property
    def delivered(self) -> int:
        return int(self.data["counts"]["delivered"])

    @property
    def rate(self) -> float:
        return self.delivered / float(self.data["elapsed"])

    @property
    def journal_s(self) -> float:
        return float(self.data["claim_s"] + self.data["record_s"] + self.data["other_s"])

    @property
    def peak(self) -> int:
        return max(int(self.data["peak_ingest"]), int(self.data["peak_send"]))


class Probe:
    """A submitter subprocess (started and stopped by us, by its handle)."""

    def __init__(self, spec: ProbeSpec) -> None:
        self.spec = spec
        self._proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--probe",
                json.dumps(dataclasses.asdict(spec)),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    @property
    def _stdout(self) -> IO[str]:
        assert self._proc.stdout is not None
        return self._proc.stdout

    def _line(self) -> dict[str, Any]:
        line = self._stdout.readline()
        if not line:
            self.close()
            raise RuntimeError("a submitter subprocess failed (see its stderr above)")
        data: dict[str, Any] = json.loads(line)
        return data

    def ready(self) -> int:
        return int(self._line()["ready"])

    def go(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write("go\n")
        self._proc.stdin.flush()

    def result(self) -> dict[str, Any]:
        data = self._line()
        self.close()
        return data

    def close(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.terminate()
            self._proc.wait(timeout=10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


@dataclass(slots=True)
class Bench:
    """What every measurement shares: the emulator, the client profile, a work directory."""

    emulator: Any  # bench_send.EmulatorProcess
    profile: Path
    workdir: Path
    runs: int = 0

    def together(self, label: str, specs: list[ProbeSpec]) -> tuple[list[Result], float, float]:
        """Start every probe, wait until all are ready, then start them at once. Returns
        the results, the emulator CPU seconds in between, and the wall time from the first
        start to the last end."""
        probes = [Probe(spec) for spec in specs]
        try:
            for one in probes:
                one.ready()
            server_before = self.emulator.cpu()
            for one in probes:
                one.go()
            datas = [one.result() for one in probes]
        finally:
            for one in probes:
                one.close()
        server = self.emulator.cpu() - server_before
        wall = max(d["wall_end"] for d in datas) - min(d["wall_start"] for d in datas)
        results = [Result(label, spec, data) for spec, data in zip(specs, datas, strict=True)]
        for result in results:
            result.server_cpu = server / len(results)
        return results, server, wall

    def one(
        self,
        label: str,
        source: Path,
        concurrency: int,
        *,
        journal: str = "sqlite",
        stop_after: int | None = None,
    ) -> Result:
        results, _server, _wall = self.together(
            label, [self.spec(source, concurrency, journal=journal, stop_after=stop_after)]
        )
        return results[0]

    def spec(
        self,
        source: Path,
        concurrency: int,
        *,
        journal: str = "sqlite",
        stop_after: int | None = None,
    ) -> ProbeSpec:
        self.runs += 1
        return ProbeSpec(
            profile=str(self.profile),
            source=str(source),
            journal=journal,
            workdir=str(self.workdir),
            batch_id=f"bench-{self.runs:02d}-{uuid.uuid4()}",
            concurrency=concurrency,
            stop_after=stop_after,
        )


# --------------------------------------------------------------------------- inputs


def write_jsonl(path: Path, data: str, count: int, *, start: int = 0) -> list[str]:
    """``count`` lines ``{"key": ..., "data": <the payload>}``; returns the keys."""
    keys = [f"item-{i:06d}" for i in range(start, start + count)]
    body = json.dumps(data, ensure_ascii=False)
    with path.open("w", encoding="utf-8") as handle:
        for key in keys:
            handle.write(f'{{"key": "{key}", "data": {body}}}\n')
    return keys


# --------------------------------------------------------------------------- naive baseline


@dataclass(slots=True)
class NaiveRun:
    count: int = 0
    seconds: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    codes: Counter[str] = field(default_factory=Counter)
    ids: list[str] = field(default_factory=list)
    round_rates: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


def naive_round(sender: Any, emulator: Any, count: int, into: NaiveRun) -> None:
    """``count`` sequential sends of bench_send's naive zeep loop, after a short warm-up."""
    for _ in range(3):
        sender.send(str(uuid.uuid4()))
    gc.collect()
    server_before = emulator.cpu()
    cpu_before = time.process_time()
    started = time.perf_counter()
    for _ in range(count):
        message_id = str(uuid.uuid4())
        outcome = sender.send(message_id)
        into.codes[outcome.code] += 1
        into.ids.append(message_id)
    seconds = time.perf_counter() - started
    into.seconds += seconds
    into.client_cpu += time.process_time() - cpu_before
    into.server_cpu += emulator.cpu() - server_before
    into.count += count
    into.round_rates.append(count / seconds)


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True, slots=True)
class Plan:
    messages: int
    """Items of the concurrency sweep."""
    concurrencies: tuple[int, ...]
    first_only: int
    """Concurrency 1 sends only this many of the items (it is slow, and only a reference)."""
    naive_round: int
    """Naive messages per round; a round runs before and after every sweep row."""
    compare: int
    """Items of the threads/processes and journal comparisons."""
    flat_small: int
    flat_large: int
    flat_sent: int


FULL = Plan(5000, (1, 4, 8, 16), 500, 60, 2500, 10_000, 200_000, 500)
QUICK = Plan(1000, (1, 4, 8, 16), 150, 20, 600, 5_000, 50_000, 200)


@dataclass(slots=True)
class Measured:
    plan: Plan
    sweep: list[Result]
    naive: NaiveRun
    sqlite: list[Result]
    """1 process at the best concurrency, SQLite journal: before and after the two below."""
    pair: list[Result]
    pair_wall: float
    memory: Result
    flat: list[Result]
    accepted: Counter[str]

    @property
    def best_index(self) -> int:
        return max(range(len(self.sweep)), key=lambda i: self.sweep[i].rate)

    @property
    def best(self) -> Result:
        return self.sweep[self.best_index]

    def naive_around(self, index: int) -> float:
        """The naive rate measured just before and just after sweep row ``index``."""
        return statistics.fmean(self.naive.round_rates[index : index + 2])

    @property
    def pair_rate(self) -> float:
        return sum(r.delivered for r in self.pair) / self.pair_wall

    @property
    def sqlite_rate(self) -> float:
        seconds = sum(float(r.data["elapsed"]) for r in self.sqlite)
        return sum(r.delivered for r in self.sqlite) / seconds


def measure(plan: Plan, root: Path, payload: str) -> Measured:
    """Every measurement of the run, against one emulator subprocess."""
    import bench_send  # the emulator helper and the naive loop (kept out of the probes)

    pki = generate_test_pki(root / "pki")
    emulator = bench_send.EmulatorProcess(pki.directory)
    naive: Any = None
    try:
        bench = Bench(
            emulator=emulator, profile=write_client_profile(pki, url=emulator.url), workdir=root
        )
        source = root / "in.jsonl"
        keys = write_jsonl(source, payload, plan.messages)
        compare = root / "compare.jsonl"
        compare_keys = write_jsonl(compare, payload, plan.compare)
        half = plan.compare // 2
        halves = (root / "a.jsonl", root / "b.jsonl")
        half_keys = (
            write_jsonl(halves[0], payload, half),
            write_jsonl(halves[1], payload, plan.compare - half, start=half),
        )
        print(
            f"  emulator: subprocess pid {emulator.pid} at {emulator.url} (bench_send --serve); "
            f"items: {len(payload.encode())} B of XML each, in JSONL; every submitter is a fresh "
            f"subprocess and sends {WARMUP_SENDS} unrecorded messages first",
            flush=True,
        )

        # 1 and 2: the concurrency sweep, with a round of the naive loop before and after
        # every row, so each row has a baseline measured next to it (the VM's speed drifts).
        naive = bench_send.NaiveZeepSender(pki, emulator.sync_url, payload.encode(), sha256=True)
        naive_run = NaiveRun()
        naive_round(naive, emulator, plan.naive_round, naive_run)
        sweep: list[Result] = []
        for concurrency in plan.concurrencies:
            first = plan.first_only if concurrency == 1 else None
            label = f"threads, concurrency {concurrency:>2}" + (
                f" (first {first})" if first else ""
            )
            result = bench.one(label, source, concurrency, stop_after=first)
            result.keys = keys[: result.data["attempts"]]
            sweep.append(result)
            naive_round(naive, emulator, plan.naive_round, naive_run)
        best_c = max(max(sweep, key=lambda r: r.rate).spec.concurrency, 2)

        # 3 and 4 at the best concurrency: SQLite in 1 process, 2 processes, in-memory
        # journal, SQLite in 1 process again (its rate is the pooled one of both runs).
        sqlite = [bench.one(f"1 process  x {best_c:>2} threads (a)", compare, best_c)]
        pair, _server, pair_wall = bench.together(
            "", [bench.spec(halves[0], best_c // 2), bench.spec(halves[1], best_c - best_c // 2)]
        )
        for index, (result, part) in enumerate(zip(pair, half_keys, strict=True)):
            result.label = f"2 processes, #{index + 1} x {result.spec.concurrency:>2} threads"
            result.keys = part
        memory = bench.one(
            f"memory journal, 1 process x {best_c:>2}", compare, best_c, journal="memory"
        )
        sqlite.append(bench.one(f"1 process  x {best_c:>2} threads (b)", compare, best_c))
        for result in [*sqlite, memory]:
            result.keys = compare_keys

        # 5. Memory flatness: N items queued, only the first few sent.
        flat: list[Result] = []
        for count in (plan.flat_small, plan.flat_large):
            big = root / f"flat-{count}.jsonl"
            flat_keys = write_jsonl(big, payload, count)
            label = f"{count:>7} queued, first {plan.flat_sent}"
            result = bench.one(label, big, best_c, stop_after=plan.flat_sent)
            result.keys = flat_keys[: result.data["attempts"]]
            big.unlink()
            flat.append(result)

        accepted = Counter(emulator.accepted())
    finally:
        if naive is not None:
            naive.close()
        emulator.close()
    return Measured(plan, sweep, naive_run, sqlite, pair, pair_wall, memory, flat, accepted)


# --------------------------------------------------------------------------- report


def _mib(n: float) -> str:
    return f"{n / MIB:.1f} MiB"


def _ms(seconds: float, count: int) -> str:
    return f"{seconds / max(count, 1) * 1e3:.2f}ms"


def _us(seconds: float, count: int) -> str:
    return f"{seconds / max(count, 1) * 1e6:.0f}us"


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_rows(
    results: list[Result], accepted: Counter[str], naive: list[float] | None = None
) -> None:
    """One line per submitter; ``naive``: the baseline rate next to each row, for a column."""
    head = (
        f"{'run':<36} {'sent':>5} {'msg/s':>6} {'client CPU':>10} {'server CPU':>10} "
        f"{'journal':>8} {'claims':>6} {'peak RSS':>9} {'(growth)':>9} {'accepted':>10}"
        + (f" {'/naive':>7}" if naive else "")
    )
    print(head)
    print("-" * len(head))
    for index, r in enumerate(results):
        d = r.data
        sent = r.delivered
        ids = [message_id_for(r.spec.batch_id, key) for key in r.keys]
        ok = sum(1 for i in ids if accepted[i] >= 1)
        dup = sum(max(accepted[i] - 1, 0) for i in ids)
        seen = f"{ok}/{len(ids)}" + (f"+{dup}dup" if dup else "")
        print(
            f"{r.label:<36} {sent:>5} {r.rate:6.1f} {_ms(d['cpu'], sent):>10} "
            f"{_ms(r.server_cpu, sent):>10} {_us(r.journal_s, sent):>8} {d['claims']:>6} "
            f"{_mib(r.peak):>9} {'+' + _mib(d['peak_send'] - d['rss_before_send']):>9} "
            f"{seen:>10}" + (f" {r.rate / naive[index]:6.2f}x" if naive else "")
        )
        bad = {k: v for k, v in d["counts"].items() if v and k not in ("delivered", "pending")}
        if bad or d["attempts"] != d["outcomes"] or d["attempts"] != sent:
            print(f"    NOT ALL DELIVERED: {bad}, {d['attempts']} attempts: {d['errors']}")


def report_sweep(m: Measured) -> None:
    print(f"1. submit_batch over {m.plan.messages} items, SqliteJournal, one process per row:")
    print_rows(m.sweep, m.accepted, [m.naive_around(i) for i in range(len(m.sweep))])
    print("   client CPU / server CPU: CPU time per delivered message (user + system, all")
    print("   threads) of the submitter and of the emulator. journal: time the dispatching")
    print("   thread spent in claim/record/recover/counts, per message. claims: claim calls.")
    print("   peak RSS: the submitter's VmHWM over ingest + send; growth: over its RSS just")
    print("   before submit_batch. accepted: the emulator's record of the batch's messageIds.")
    print("   /naive: msg/s over the naive loop's rate in the rounds just before and after.")
    best = m.best
    print(f"   best: {best.label.strip()}, {best.rate:.1f} msg/s, peak RSS {_mib(best.peak)}")


def report_baseline(m: Measured, cores: int) -> None:
    naive, best = m.naive, m.best
    naive_ok = sum(1 for i in naive.ids if m.accepted[i] >= 1)
    print(
        "2. Baseline: bench_send's naive loop (zeep + BinarySignature rsa-sha256, a new "
        f"requests.post each), sequential, {len(naive.round_rates)} rounds of "
        f"{m.plan.naive_round} around the sweep's rows:"
    )
    print(
        f"   {naive.rate:.1f} msg/s (rounds "
        + ", ".join(f"{rate:.0f}" for rate in naive.round_rates)
        + f"); client CPU {_ms(naive.client_cpu, naive.count)}, server CPU "
        f"{_ms(naive.server_cpu, naive.count)} per message; accepted {naive_ok}/{naive.count}; "
        f"answers {dict(naive.codes)}"
    )
    adjacent = m.naive_around(m.best_index)
    ratio = best.rate / adjacent
    print(
        f"   best batch / naive = {best.rate:.1f} / {adjacent:.1f} (the rounds next to it) = "
        f"{ratio:.2f}x  [{best.rate / naive.rate:.2f}x against all rounds]   target >= "
        f"{NAIVE_TO_BATCH_TARGET:g}x: {_verdict(ratio >= NAIVE_TO_BATCH_TARGET)}"
    )
    client = best.data["cpu"] / best.delivered
    server = best.server_cpu / best.delivered
    ceiling = cores / (client + server)
    print(
        f"   CPU budget of the best run: {(client + server) * 1e3:.2f} ms per message "
        f"(submitter {client * 1e3:.2f} + emulator {server * 1e3:.2f}); {cores} cores shared "
        f"with the emulator allow at most {ceiling:.0f} msg/s = {ceiling / adjacent:.1f}x "
        f"naive; the best run reaches {best.rate / ceiling:.0%} of that."
    )
    print(
        f"   A bound, not a measurement: with the gateway on other cores the submitter's CPU "
        f"alone allows {cores / client:.0f} msg/s = {cores / client / adjacent:.1f}x this naive "
        "rate (and a remote gateway slows the naive loop further: its new TLS connection per "
        "message costs round trips)."
    )


def report_processes(m: Measured) -> None:
    total = m.sqlite[0].spec.concurrency
    print(
        f"3. Threads vs processes, {m.plan.compare} items, total concurrency {total}; "
        "1 process before and after (a, b):"
    )
    print_rows([m.sqlite[0], *m.pair, m.sqlite[1]], m.accepted)
    print("   (the 2 processes start together, each on its own half and journal; the")
    print("   emulator's CPU is split evenly between their rows)")
    one = m.sqlite_rate
    ratio = m.pair_rate / one
    faster = "2 processes" if ratio > 1 else "1 process (threads)"
    print(
        f"   1 process {one:.1f} msg/s (a and b pooled); 2 processes {m.pair_rate:.1f} msg/s "
        f"(all delivered / first start to last end) = {ratio:.2f}x -> faster on this machine: "
        f"{faster}"
    )


def report_journal(m: Measured) -> None:
    mem = m.memory
    print(
        f"4. Journal overhead, 1 process, concurrency {mem.spec.concurrency}, "
        f"{m.plan.compare} items: SQLite (a, b above) vs in-memory (between them):"
    )
    print_rows([mem], m.accepted)
    sq_rate = m.sqlite_rate
    sent = sum(r.delivered for r in m.sqlite)
    sq_cpu = sum(r.data["cpu"] for r in m.sqlite) / sent
    wall_us = (1 / sq_rate - 1 / mem.rate) * 1e6
    cpu_us = (sq_cpu - mem.data["cpu"] / mem.delivered) * 1e6
    print(
        f"   SQLite {sq_rate:.1f} msg/s, in-memory {mem.rate:.1f} msg/s: the SQLite journal "
        f"adds {mem.rate / sq_rate - 1:+.1%} wall time: {wall_us:+.0f} us per message, "
        f"and {cpu_us:+.0f} us of submitter CPU per message"
    )
    journal = sum(r.journal_s for r in m.sqlite)
    claim = sum(r.data["claim_s"] for r in m.sqlite)
    record = sum(r.data["record_s"] for r in m.sqlite)
    claims = sum(r.data["claims"] for r in m.sqlite)
    print(
        f"   SQLite on the dispatching thread: {_us(journal, sent)} per message (claim "
        f"{_us(claim, sent)}, record {_us(record, sent)}); {claims} claims for {sent} items; "
        "one transaction per claim and per dispatcher pass of outcomes (synchronous=FULL)"
    )


def report_flat(m: Measured) -> None:
    plan = m.plan
    print(
        f"5. Memory flatness: N items ingested (streamed), then only the first {plan.flat_sent} "
        f"sent, concurrency {m.flat[0].spec.concurrency}:"
    )
    head = (
        f"{'queued':>8} {'ingest':>7} {'peak ingest':>12} {'peak send':>10} {'peak RSS':>10} "
        f"{'over setup':>11} {'sent':>5} {'msg/s':>6} {'claim avg':>10} {'claim max':>10}"
    )
    print(head)
    print("-" * len(head))
    for r in m.flat:
        d = r.data
        print(
            f"{d['added']:>8} {d['ingest_s']:6.1f}s {_mib(d['peak_ingest']):>12} "
            f"{_mib(d['peak_send']):>10} {_mib(r.peak):>10} "
            f"{'+' + _mib(r.peak - d['rss_setup']):>11} {d['attempts']:>5} "
            f"{d['attempts'] / d['elapsed']:6.1f} {_ms(d['claim_s'], d['claims']):>10} "
            f"{d['max_claim_s'] * 1e3:8.1f}ms"
        )
    small, large = m.flat
    ratio = large.peak / small.peak
    print(
        f"   peak RSS, {plan.flat_large} / {plan.flat_small} queued = {ratio:.2f}x   "
        f"target < {FLAT_TARGET:g}x: {_verdict(ratio < FLAT_TARGET)}"
    )
    rate_small = small.data["attempts"] / small.data["elapsed"]
    rate_large = large.data["attempts"] / large.data["elapsed"]
    print(
        f"   send rate, {plan.flat_large} / {plan.flat_small} queued = "
        f"{rate_large / rate_small:.2f}x (claim time grows with the queue: see claim avg)"
    )
    if not all(bool(r.data["peak_reset"]) for r in [*m.sweep, *m.flat]):
        print("   (the peak-RSS mark could not be reset: peaks count from process start)")


def _fs_type(path: Path) -> str:
    """The file system a path lives on, from /proc/mounts (longest matching mount point)."""
    try:
        mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "unknown"
    target = str(path.resolve())
    best = ("", "unknown")
    for fields in mounts:
        point, kind = fields[1], fields[2]
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best[0]):
            best = (point, kind)
    return best[1]


def _load() -> str:
    try:
        return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def run(*, quick: bool) -> int:
    import bench_send

    plan = QUICK if quick else FULL
    cores = os.cpu_count() or 1
    started = time.perf_counter()
    print(f"shep-gateway batch benchmark ({'quick' if quick else 'full'} run)")
    print("  " + bench_send._versions())
    payload = bench_send.build_payload().decode("utf-8")
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        root = Path(tmp)
        print(f"  journals and inputs in {root} ({_fs_type(root)}); {_load()} at start")
        measured = measure(plan, root, payload)
    print()
    report_sweep(measured)
    print()
    report_baseline(measured, cores)
    print()
    report_processes(measured)
    print()
    report_journal(measured)
    print()
    report_flat(measured)
    print()
    print(f"Total time: {time.perf_counter() - started:.1f} s ({_load()} at the end)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (about a minute)")
    parser.add_argument("--probe", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        return probe(ProbeSpec(**json.loads(args.probe)))
    return run(quick=args.quick)


if __name__ == "__main__":
    sys.exit(main())

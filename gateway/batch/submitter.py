"""Send a journaled batch: concurrent workers, a global rate, retries with backoff, Ctrl-C.

Workers are threads. The RSA operation runs in ``cryptography`` with the GIL released and a
send mostly waits on the network, but building, canonicalizing and parsing hold the GIL, so
one process tops out near one core of Python work. bench/bench_batch.py measured it on the
2-core dev VM (with the emulator on the same cores): at concurrency 16 one process matched
two (0.96-1.10x); at 4-8 two processes were ~1.25x faster. Threads keep one client, one key
and one journal connection without pickling; run several submitters on a PostgreSQL journal
to use more cores or hosts. Only the dispatching thread touches the journal: workers send and
return an :class:`Outcome`; the dispatcher commits finished outcomes (one transaction per
pass) before it claims more.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

from gateway.batch.inputs import load_payload
from gateway.batch.journal import Claim, Journal, Outcome, State
from gateway.envelope import Payload
from gateway.errors import (
    ConfigError,
    EnvelopeError,
    GatewayError,
    GatewayFaultError,
    IdentityError,
    InputError,
    SignatureError,
    TlsError,
    TransportError,
)
from gateway.transport import RetryPolicy

__all__ = ["BatchSummary", "Sender", "SubmitOptions", "submit_batch"]

log = logging.getLogger(__name__)

_RETRYABLE_FAULT_CODES = frozenset({"Server", "Receiver"})
"""SOAP fault codes that blame the server side: worth another try later."""
_FATAL = (TlsError, ConfigError, IdentityError, SignatureError)
"""Errors no item can get past (TLS refused, key unusable): stop the run, keep the items."""


class _Answer(Protocol):
    @property
    def ok(self) -> bool: ...
    @property
    def status_code(self) -> str: ...
    @property
    def status_message(self) -> str: ...


class Sender(Protocol):
    """What the submitter needs of a client (``GatewayClient`` is one)."""

    def send(self, service_id: str, data: Payload, *, message_id: str | None = None) -> _Answer: ...


_BATCH_BACKOFF = RetryPolicy(backoff=0.5, backoff_max=60.0, jitter=1.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitOptions:
    concurrency: int = 4
    rate: float | None = None
    """Messages per second across all workers; None: as fast as the gateway answers."""
    max_attempts: int = 5
    retry: RetryPolicy = field(default_factory=lambda: _BATCH_BACKOFF)
    """Backoff between attempts of one item (1 s, 2 s, 4 s … up to 60 s, plus up to 1 s)."""

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigError("concurrency must be at least 1", field="concurrency")
        if self.rate is not None and self.rate <= 0:
            raise ConfigError("rate must be positive", field="rate")
        if self.max_attempts < 1:
            raise ConfigError("max attempts must be at least 1", field="max_attempts")


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchSummary:
    counts: dict[str, int]
    attempts: int
    elapsed: float
    interrupted: bool

    @property
    def finished(self) -> bool:
        return self.counts.get("pending", 0) + self.counts.get("retry-wait", 0) == 0 and (
            self.counts.get("sending", 0) == 0
        )


class _Pacer:
    """Spaces sends ``1/rate`` seconds apart across all workers. The dispatcher claims an
    item only when its slot has come: a claimed item is sent at once (its lease runs from the
    claim), and a Ctrl-C while pacing leaves nothing claimed to burst out unpaced."""

    def __init__(self, rate: float | None) -> None:
        self._interval = 0.0 if rate is None else 1.0 / rate
        self._next = time.monotonic()

    def allowance(self, free: int) -> int:
        """How many of ``free`` worker slots may be filled now (all of them, without a rate)."""
        if not self._interval:
            return free
        return min(free, 1) if self._next <= time.monotonic() else 0

    def delay(self) -> float:
        """Seconds until the next send is allowed."""
        return max(self._next - time.monotonic(), 0.0) if self._interval else 0.0

    def took(self) -> None:
        self._next = max(self._next, time.monotonic()) + self._interval


ProgressHook = Callable[[Outcome], None]


def submit_batch(
    journal: Journal,
    sender: Sender,
    options: SubmitOptions,
    *,
    on_outcome: ProgressHook | None = None,
    stop: threading.Event | None = None,
) -> BatchSummary:
    """Send every due item of the journal until none is left (or ``stop`` is set, or Ctrl-C).

    In-flight items are always finished and recorded before returning, so the journal is
    consistent; a second Ctrl-C is a hard stop (``shep batch resume`` resends what was in
    flight, with the same messageIds).
    """
    stop = stop or threading.Event()
    with _first_ctrl_c_sets(stop):
        return _submit(journal, sender, options, on_outcome, stop)


@contextlib.contextmanager
def _first_ctrl_c_sets(stop: threading.Event) -> Iterator[None]:
    """The first Ctrl-C only asks to stop (in-flight items finish and are recorded); a second
    one interrupts at once. Nothing is lost either way: a transition is one transaction."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.warning("stopping: finishing the messages in flight (Ctrl-C again to abort)")
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _submit(
    journal: Journal,
    sender: Sender,
    options: SubmitOptions,
    on_outcome: ProgressHook | None,
    stop: threading.Event,
) -> BatchSummary:
    started = time.monotonic()
    journal.recover()
    pacer = _Pacer(options.rate)
    in_flight: dict[Future[Outcome], Claim] = {}
    attempts = 0
    interrupted = False
    fatal: GatewayError | None = None
    with ThreadPoolExecutor(options.concurrency, thread_name_prefix="shep-send") as pool:
        try:
            while True:
                paced = 0.0
                if not stop.is_set() and fatal is None:
                    free = pacer.allowance(options.concurrency - len(in_flight))
                    for claim in journal.claim(free, now=time.time()) if free else []:
                        pacer.took()
                        future = pool.submit(_attempt, sender, claim, options)
                        in_flight[future] = claim
                        attempts += 1
                    paced = pacer.delay()
                if not in_flight:
                    if stop.is_set() or fatal is not None:
                        break
                    due = journal.next_retry_at()
                    if due is None and not paced:
                        break  # nothing pending, nothing waiting: done
                    until = paced or (due or 0) - time.time()
                    stop.wait(min(max(until, 0.01), 0.5))
                    continue
                timeout = min(max(paced, 0.01), 0.5) if paced else 0.5
                done, _ = wait(in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
                finished = {future: in_flight.pop(future) for future in done}
                fatal = _record(journal, finished, on_outcome) or fatal
        except KeyboardInterrupt:
            interrupted = True
            stop.set()
            log.warning("interrupted: finishing %d message(s) in flight", len(in_flight))
            _record(journal, dict(in_flight), on_outcome)  # waits for each, then commits
            in_flight.clear()
    if fatal is not None:
        raise fatal
    return BatchSummary(
        counts=journal.counts(),
        attempts=attempts,
        elapsed=time.monotonic() - started,
        interrupted=interrupted or stop.is_set(),
    )


def _record(
    journal: Journal, finished: dict[Future[Outcome], Claim], on_outcome: ProgressHook | None
) -> GatewayError | None:
    """Commit the outcomes of finished sends in one transaction; return a fatal error if a
    send hit one (that item goes back to wait, to be retried once the problem is fixed)."""
    outcomes: list[Outcome] = []
    put_back: list[Outcome] = []
    fatal: GatewayError | None = None
    for future, claim in finished.items():
        try:
            outcomes.append(future.result())
        except _FATAL as exc:
            fatal = exc
            put_back.append(  # the item did not get its chance: the attempt does not count
                Outcome(
                    key=claim.key,
                    state=State.RETRY_WAIT,
                    error=str(exc),
                    retry_at=time.time(),
                    counted=False,
                )
            )
    journal.record_many([*outcomes, *put_back], now=time.time())
    if on_outcome is not None:
        for outcome in outcomes:
            on_outcome(outcome)
    return fatal


def _attempt(sender: Sender, claim: Claim, options: SubmitOptions) -> Outcome:
    """One send of one item; every error becomes an outcome, except the fatal ones."""
    started = time.monotonic()

    def outcome(state: State, **details: object) -> Outcome:
        return Outcome(
            key=claim.key,
            state=state,
            elapsed=time.monotonic() - started,
            **details,  # type: ignore[arg-type]
        )

    def retry_or_fail(error: str) -> Outcome:
        if claim.attempts >= options.max_attempts:
            return outcome(State.FAILED, error=f"{error} (gave up after {claim.attempts} attempts)")
        delay = options.retry.backoff_delay(claim.attempts)
        return outcome(State.RETRY_WAIT, error=error, retry_at=time.time() + delay)

    try:
        payload = load_payload(claim.ref, key=claim.key)
        answer = sender.send(claim.service_id, payload, message_id=claim.message_id)
    except (InputError, EnvelopeError) as exc:
        return outcome(State.FAILED, error=str(exc))
    except GatewayFaultError as exc:
        if exc.fault_code in _RETRYABLE_FAULT_CODES:
            return retry_or_fail(str(exc))
        return outcome(State.FAILED, error=str(exc))
    except _FATAL:
        raise
    except TransportError as exc:
        return retry_or_fail(str(exc))
    if answer.ok:
        return outcome(State.DELIVERED, status_code=answer.status_code)
    return outcome(
        State.FAILED,
        status_code=answer.status_code,
        error=f"gateway status {answer.status_code}: {answer.status_message}",
    )

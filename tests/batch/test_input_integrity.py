"""Regressions: inputs that change, repeat a key or are not UTF-8; fatal stops; pacing."""

from __future__ import annotations

import itertools
import json
import threading
import time
from pathlib import Path

import pytest
from lxml import etree

from gateway.batch import SqliteJournal, State, SubmitOptions, iter_items, submit_batch
from gateway.batch.run import ingest, open_journal
from gateway.envelope import Payload
from gateway.errors import InputError, TlsError, TransportTimeoutError
from gateway.transport import RetryPolicy

QUICK = RetryPolicy(backoff=0.001, backoff_max=0.01, jitter=0.0)


class _Answer:
    ok = True
    status_code = "SCSS001"
    status_message = "ok"


class _Sender:
    """Records what would go out; ``fail`` raises instead, for as many sends as it is set."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.sent: list[tuple[str | None, str, float]] = []
        self.fail = fail
        self._lock = threading.Lock()

    def send(self, service_id: str, data: Payload, *, message_id: str | None = None) -> _Answer:
        text = data if isinstance(data, str) else etree.tostring(data).decode()
        with self._lock:
            self.sent.append((message_id, text, time.monotonic()))
        if self.fail is not None:
            raise self.fail
        return _Answer()


def _jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_a_jsonl_line_that_changed_is_not_sent_under_another_items_id(tmp_path: Path) -> None:
    source = _jsonl(
        tmp_path / "in.jsonl", [{"key": f"k{i}", "data": f"<a>{i}</a>"} for i in (0, 1)]
    )
    with SqliteJournal(tmp_path / "j.sqlite") as journal:
        ingest(journal, source, service_id="echo", batch_id="b")
        lines = source.read_text().splitlines(keepends=True)
        source.write_text("".join(reversed(lines)))  # same lengths: the offsets still "fit"
        sender = _Sender()
        submit_batch(journal, sender, SubmitOptions(concurrency=1))
        results = {item.key: item for item in journal.results()}
    assert sender.sent == []
    assert {item.state for item in results.values()} == {"failed"}
    assert "no longer holds item 'k0'" in str(results["k0"].error)


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_a_key_repeated_in_the_input_is_an_error(tmp_path: Path, kind: str) -> None:
    if kind == "jsonl":
        source = _jsonl(
            tmp_path / "in.jsonl",
            [{"key": "a", "data": "<a>1</a>"}, {"key": "a", "data": "<a>2</a>"}],
        )
    else:
        (tmp_path / "1.xml").write_text("<a>1</a>")
        (tmp_path / "2.xml").write_text("<a>2</a>")
        source = tmp_path / "in.csv"
        source.write_text("key,file\na,1.xml\na,2.xml\n")
    with SqliteJournal(tmp_path / "j.sqlite") as journal:
        with pytest.raises(InputError, match="duplicate key 'a'") as raised:
            ingest(journal, source, service_id="echo", batch_id=None)
        assert not journal.batch().ingested  # nothing is sent from a half-read input
    if kind == "jsonl":
        assert raised.value.line == 2


def test_ingesting_again_after_a_crash_is_not_a_duplicate(tmp_path: Path) -> None:
    source = _jsonl(tmp_path / "in.jsonl", [{"key": f"k{i}", "data": "<a/>"} for i in range(3)])
    with SqliteJournal(tmp_path / "j.sqlite") as journal:
        journal.open_batch(batch_id="b", service_id="echo", source=str(source))
        assert journal.add_items(iter_items(source)) == 3
        assert journal.add_items(iter_items(source)) == 0


def test_a_key_repeated_in_the_input_is_an_error_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    source = _jsonl(
        tmp_path / "in.jsonl", [{"key": "a", "data": "<a>1</a>"}, {"key": "a", "data": "<a>2</a>"}]
    )
    journal = open_journal(pg_url)
    try:
        with pytest.raises(InputError, match="duplicate key 'a'"):
            ingest(journal, source, service_id="echo", batch_id="b")
        assert not journal.batch().ingested
        assert sum(journal.counts().values()) == 0  # the chunk was rolled back
    finally:
        journal.close()


def test_csv_manifest_not_utf8_names_the_line_and_a_bom_is_fine(tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("key,file\nk1,a.xml\nk\xe9,a.xml\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8") as raised:
        list(iter_items(latin))
    assert (raised.value.file, raised.value.line) == (str(latin), 3)

    bom = tmp_path / "bom.csv"
    bom.write_bytes("key,file\r\nк1,a.xml\r\n".encode("utf-8-sig"))  # "CSV UTF-8" of a spreadsheet
    assert [item.key for item in iter_items(bom)] == ["к1"]


def test_a_fatal_error_does_not_use_up_the_items_attempts(tmp_path: Path) -> None:
    source = _jsonl(tmp_path / "in.jsonl", [{"key": "a", "data": "<a/>"}])
    options = SubmitOptions(concurrency=1, max_attempts=2, retry=QUICK)
    with SqliteJournal(tmp_path / "j.sqlite") as journal:
        ingest(journal, source, service_id="echo", batch_id=None)
        for _ in range(3):  # e.g. an expired TLS certificate, three runs in a row
            with pytest.raises(TlsError):
                submit_batch(journal, _Sender(TlsError("handshake refused")), options)
        assert [(r.state, r.attempts) for r in journal.results()] == [(State.RETRY_WAIT, 0)]
        sender = _Sender(TransportTimeoutError("read timed out"))
        submit_batch(journal, sender, options)
        (result,) = journal.results()
    assert len(sender.sent) == 2  # --max-attempts 2 real attempts once the certificate is fixed
    assert (result.state, result.attempts) == ("failed", 2)


def test_stopping_while_paced_sends_no_burst(tmp_path: Path) -> None:
    source = _jsonl(tmp_path / "in.jsonl", [{"key": f"k{i}", "data": "<a/>"} for i in range(40)])
    with SqliteJournal(tmp_path / "j.sqlite") as journal:
        ingest(journal, source, service_id="echo", batch_id=None)
        sender = _Sender()
        stop = threading.Event()
        timer = threading.Timer(0.55, stop.set)
        timer.start()
        summary = submit_batch(journal, sender, SubmitOptions(concurrency=16, rate=4.0), stop=stop)
        timer.join()
    times = [at for _, _, at in sender.sent]
    assert len(times) <= 4  # 0, 0.25, 0.5 s (+1 at most for timing slack), not 16
    assert all(b - a >= 0.2 for a, b in itertools.pairwise(times))
    assert summary.counts["sending"] == 0
    assert summary.counts["delivered"] == len(times)

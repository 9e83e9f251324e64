"""Sequential SyncChannel send rate over HTTPS + mutual TLS: ours against the naive zeep loop.

One local gateway emulator on a throw-away test PKI, started in a subprocess (a helper mode
of this script that calls ``start_emulator`` and prints its URL) so the server's CPU does not
share this process's GIL; the same ~2 KiB XML payload; one thread, one message at a time:

* ours: ``GatewayClient.send("echo", payload)``: one client, keep-alive connection pool,
  signing key parsed once;
* naive, zeep defaults: what users write today. A zeep ``Client`` from our
  ``wsdl/SyncChannel_v10.wsdl``; per message ``create_message``, the payload put into
  ``data``, ``BinarySignature(key_file, cert_file).apply`` (zeep's defaults: rsa-sha1 and
  sha1), ``requests.post`` with ``cert=``/``verify=`` (a new session, TLS handshake and
  connection for every message), lxml parse of the answer;
* naive + sha256: the same loop with ``signature_method=RSA_SHA256, digest_method=SHA256``,
  the least a zeep user has to change for the gateway profile to accept the message.

The variants run in alternating rounds (the machine's speed drifts) after a warm-up; the
ratio is the median of the per-round ratios. "accepted" is the emulator's own record
(``accepted_message_ids``: signature and credentials passed), matched against the ids sent.
A rejected message is still a full round trip, so its time is measured all the same.
Nothing here fails on time. Run from the repository root:

    .venv/bin/python bench/bench_send.py [--quick] [--messages N] [--profile]
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import requests
import xmlsec as _xmlsec_module
import zeep as _zeep_module
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree
from zeep.wsse import signature as _zeep_signature

from gateway.client import GatewayClient
from gateway.contracts import sync_channel
from gateway.emulator import SYNC_PATH, emulator_config_from_pki, start_emulator
from gateway.emulator.app import GatewayLogic
from gateway.envelope import build_sync_request, find_fault, parse_sync_response
from gateway.errors import GatewayError, GatewayFaultError
from gateway.identity import load_identity_from_path
from gateway.testpki import TestPki, generate_test_pki, load_test_pki
from gateway.transport import Transport, TransportConfig
from gateway.wssec import VerifyPolicy, make_signer, sign_envelope, verify_envelope
from gateway.xmlparse import parse_xml

# Neither ships complete type hints; keep their Any here, as gateway/suites.py does.
xmlsec: Any = _xmlsec_module
zeep: Any = _zeep_module
zeep_signature: Any = _zeep_signature

ROOT = Path(__file__).resolve().parents[1]
WSDL = ROOT / "wsdl" / "SyncChannel_v10.wsdl"
SENDER_ID = "demo-system"  # registered in emulator_config_from_pki, no password
SERVICE_ID = "echo"
PAYLOAD_BYTES = 2048
PAYLOAD_NS = "urn:kz:gov:bench:persons:v1"
EXPECTED_RATE = 100.0
"""Sequential msg/s below which ours deserves a profile (a loopback round trip with one RSA
sign on each side is a few ms)."""

SOAP_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
SOAP_FAULT = "{http://schemas.xmlsoap.org/soap/envelope/}Fault"


# --------------------------------------------------------------------------- payload

_PEOPLE = (
    ("Жұмабеков", "Дәурен", "Серікұлы", "г. Астана, пр. Абая"),  # noqa: RUF001 - Cyrillic data
    ("Нұрланова", "Айгүл", "Болатқызы", "г. Алматы, ул. Сәтпаева"),  # noqa: RUF001
    ("Сейтқали", "Бауыржан", "Қайратұлы", "Түркістан облысы, ул. Желтоқсан"),
    ("Смагулова", "Гүлнар", "Маратовна", "Алматинская область, мкр. Самал-2"),
)
_FILLER = "Мәліметтер мемлекеттік қызмет көрсету шеңберінде ұсынылды. "


def build_payload(size: int = PAYLOAD_BYTES) -> bytes:
    """A ``p:personsRequest`` document of exactly ``size`` bytes of UTF-8 (Kazakh/Russian)."""

    def sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
        child = etree.SubElement(parent, f"{{{PAYLOAD_NS}}}{name}")
        child.text = text
        return child

    root = etree.Element(f"{{{PAYLOAD_NS}}}personsRequest", nsmap={"p": PAYLOAD_NS})
    for index, (last, first, middle, address) in enumerate(_PEOPLE):
        person = sub(root, "person")
        sub(person, "iin", f"{(900101300017 + index * 7919) % 10**12:012d}")
        sub(person, "last", last)
        sub(person, "first", first)
        sub(person, "middle", middle)
        sub(person, "address", address)
        if len(etree.tostring(root, encoding="UTF-8")) > size - 400:
            break
    note = sub(root, "note", "")
    missing = size - len(etree.tostring(root, encoding="UTF-8"))
    if missing < 0:
        raise ValueError(f"payload skeleton is larger than {size} bytes")
    letters = "".join(ch for ch in _FILLER * (missing // 2 + 1) if len(ch.encode()) == 2)
    text = letters[: missing // 2]
    note.text = text + " " * (missing - len(text.encode()))
    data = etree.tostring(root, encoding="UTF-8")
    assert len(data) == size, (len(data), size)
    return data


# --------------------------------------------------------------------------- the emulator


def serve(pki_dir: Path) -> int:
    """Child process: run the emulator, print its URL, answer commands on stdin until EOF.

    ``cpu``: this process's CPU seconds so far (all threads, user + system); ``accepted``:
    the messageIds that passed signature and credential checks.
    """
    pki = load_test_pki(pki_dir)
    with start_emulator(emulator_config_from_pki(pki)) as emulator:
        print(json.dumps({"url": emulator.url, "pid": os.getpid()}), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "cpu":
                print(json.dumps(time.process_time()), flush=True)
            elif command == "accepted":
                print(json.dumps(emulator.accepted_message_ids()), flush=True)
    return 0


class EmulatorProcess:
    """The emulator in a child process (started and stopped by us, by its handle)."""

    def __init__(self, pki_dir: Path) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve", str(pki_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self._stdout.readline()
        if not line:
            self.close()
            raise RuntimeError("the emulator subprocess did not start (see its stderr above)")
        info = json.loads(line)
        self.url: str = info["url"]
        self.pid: int = info["pid"]
        self.sync_url = self.url + SYNC_PATH

    @property
    def _stdout(self) -> IO[str]:
        assert self._proc.stdout is not None
        return self._proc.stdout

    def _ask(self, command: str) -> Any:
        assert self._proc.stdin is not None
        self._proc.stdin.write(command + "\n")
        self._proc.stdin.flush()
        return json.loads(self._stdout.readline())

    def cpu(self) -> float:
        """CPU seconds the emulator process has used so far."""
        return float(self._ask("cpu"))

    def accepted(self) -> frozenset[str]:
        """messageIds the emulator accepted (signature and credentials passed)."""
        return frozenset(self._ask("accepted"))

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()  # EOF: the helper stops the emulator and exits
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.terminate()
            self._proc.wait(timeout=10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


# --------------------------------------------------------------------------- the senders


@dataclass(slots=True)
class Outcome:
    """How one message was answered: SCSS001, or the fault's errorCode (and why)."""

    code: str
    detail: str = ""


class Sender:
    """One way of sending; ``send(message_id)`` does one full round trip."""

    name: str

    def send(self, message_id: str) -> Outcome:
        raise NotImplementedError

    def close(self) -> None:
        return None


class OursSender(Sender):
    """``GatewayClient.send``: one client, keep-alive pool, signer prepared once."""

    def __init__(self, pki: TestPki, sync_url: str, payload: bytes) -> None:
        self.name = "ours: GatewayClient.send, keep-alive"
        password = pki.password.encode()
        signer = make_signer(load_identity_from_path(pki.signer_p12, password=password))
        tls = load_identity_from_path(pki.client_p12, password=password)
        transport = Transport(TransportConfig(ca_bundle=pki.ca.cert_path, client_identity=tls))
        self.signer, self.transport = signer, transport  # for the --profile breakdown
        self.client = GatewayClient(
            transport=transport,
            signer=signer,
            endpoint=sync_url,
            sender_id=SENDER_ID,
            sender_password=None,
        )
        self.payload = parse_xml(payload, source="payload").getroot()

    def send(self, message_id: str) -> Outcome:
        try:
            answer = self.client.send(SERVICE_ID, self.payload, message_id=message_id)
        except GatewayFaultError as fault:
            return Outcome(fault.error_code or "fault", fault.error_data or fault.message)
        return Outcome(answer.status_code, answer.status_message)

    def close(self) -> None:
        self.client.close()


@dataclass(slots=True)
class Phases:
    """Where the naive loop's time goes, summed over its messages."""

    messages: int = 0
    build_sign: float = 0.0
    post: float = 0.0
    parse: float = 0.0


class NaiveZeepSender(Sender):
    """zeep builds and signs; ``requests.post`` with a new connection for every message."""

    def __init__(self, pki: TestPki, sync_url: str, payload: bytes, *, sha256: bool) -> None:
        self.name = (
            "naive: zeep + requests, rsa-sha256" if sha256 else "naive: zeep + requests, defaults"
        )
        self.phases = Phases()
        self._url = sync_url
        self._client = zeep.Client(str(WSDL))  # zeep's default transport reads local files
        algorithms: dict[str, Any] = (
            {
                "signature_method": xmlsec.Transform.RSA_SHA256,
                "digest_method": xmlsec.Transform.SHA256,
            }
            if sha256
            else {}
        )
        self._wsse = zeep_signature.BinarySignature(
            str(pki.signer.key_path), str(pki.signer.cert_path), **algorithms
        )
        self._cert = (str(pki.client.cert_path), str(pki.client.key_path))
        self._verify = str(pki.ca.cert_path)
        self._payload = etree.fromstring(payload)

    def send(self, message_id: str) -> Outcome:
        started = time.perf_counter()
        request = {
            "requestInfo": {
                "messageId": message_id,
                "serviceId": SERVICE_ID,
                "messageDate": datetime.now(UTC),
                "sender": {"senderId": SENDER_ID},
            },
            "requestData": {"data": ""},
        }
        envelope = self._client.create_message(self._client.service, "SendMessage", request=request)
        data = envelope.find(".//requestData/data")
        assert data is not None
        data.text = None
        data.append(copy.deepcopy(self._payload))  # zeep writes anyType content as text only
        envelope, _headers = self._wsse.apply(envelope, {})
        body = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
        sent = time.perf_counter()
        # Module-level requests.post: a new Session, SSLContext, TLS handshake and connection.
        response = requests.post(
            self._url,
            data=body,
            headers=SOAP_HEADERS,
            cert=self._cert,
            verify=self._verify,
            timeout=(10, 30),
        )
        answered = time.perf_counter()
        root = etree.fromstring(response.content)
        outcome = _naive_outcome(root)
        done = time.perf_counter()
        self.phases.build_sign += sent - started
        self.phases.post += answered - sent
        self.phases.parse += done - answered
        self.phases.messages += 1
        return outcome


def _naive_outcome(root: etree._Element) -> Outcome:
    fault = root.find(f".//{SOAP_FAULT}")
    if fault is not None:
        code = fault.findtext(".//errorCode") or fault.findtext("faultcode") or "fault"
        return Outcome(code, fault.findtext("faultstring") or "")
    status = root.find(".//responseInfo/status")
    if status is None:
        return Outcome("no-status", "answer without responseInfo/status")
    return Outcome(status.findtext("code") or "", status.findtext("message") or "")


# --------------------------------------------------------------------------- measuring


@dataclass(slots=True)
class Run:
    """Everything measured for one sender, over all rounds."""

    sender: Sender
    durations: list[float] = field(default_factory=list)
    round_rates: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    details: dict[str, str] = field(default_factory=dict)
    sent_ids: set[str] = field(default_factory=set)
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    accepted: int = 0

    @property
    def count(self) -> int:
        return len(self.durations)

    @property
    def per_second(self) -> float:
        return self.count / sum(self.durations)

    def ms(self, quantile: float) -> float:
        ordered = sorted(self.durations)
        return ordered[min(len(ordered) - 1, int(len(ordered) * quantile))] * 1e3


def _one(run: Run, *, record: bool) -> None:
    message_id = str(uuid.uuid4())
    started = time.perf_counter()
    try:
        outcome = run.sender.send(message_id)
    except (GatewayError, requests.RequestException, etree.XMLSyntaxError) as exc:
        outcome = Outcome(f"error: {type(exc).__name__}", str(exc)[:200])
    elapsed = time.perf_counter() - started
    if record:
        run.durations.append(elapsed)
        run.sent_ids.add(message_id)
        run.outcomes[outcome.code] += 1
        run.details.setdefault(outcome.code, outcome.detail)


def measure_round(
    run: Run, emulator: EmulatorProcess, *, seconds: float, messages: int | None, warmup: int
) -> None:
    """``warmup`` unrecorded messages, then ``messages`` (or ``seconds`` worth) recorded."""
    for _ in range(warmup):
        _one(run, record=False)
    gc.collect()
    server_before = emulator.cpu()
    cpu_before = time.process_time()
    first = run.count
    started = time.perf_counter()
    deadline = started + seconds
    while (run.count - first < messages) if messages else (time.perf_counter() < deadline):
        _one(run, record=True)
    run.client_cpu += time.process_time() - cpu_before
    run.server_cpu += emulator.cpu() - server_before
    run.round_rates.append((run.count - first) / sum(run.durations[first:]))


def measure_all(
    senders: list[Sender],
    emulator: EmulatorProcess,
    *,
    rounds: int,
    seconds: float,
    messages: int | None,
    warmup_seconds: float,
) -> list[Run]:
    runs = [Run(sender) for sender in senders]
    for run in runs:  # first contact: imports, xmlsec, TLS session setup, lazy caches
        deadline = time.perf_counter() + warmup_seconds
        sent = 0
        while sent < 3 or time.perf_counter() < deadline:
            _one(run, record=False)
            sent += 1
    for index in range(rounds):
        order = runs if index % 2 == 0 else runs[::-1]
        # N messages split as evenly as the rounds allow (the caller keeps rounds <= N)
        share = messages // rounds + (index < messages % rounds) if messages else None
        for run in order:
            # A few unrecorded messages first: the keep-alive connection may have idled out
            # (the emulator closes idle connections after 5 s) while the others ran.
            measure_round(run, emulator, seconds=seconds, messages=share, warmup=3)
    accepted = emulator.accepted()
    for run in runs:
        run.accepted = len(run.sent_ids & accepted)
    return runs


# --------------------------------------------------------------------------- report


def _versions() -> str:
    parts = [
        f"Python {platform.python_version()}",
        f"requests {metadata.version('requests')}",
        f"urllib3 {metadata.version('urllib3')}",
        f"zeep {metadata.version('zeep')}",
        f"lxml {metadata.version('lxml')}",
        f"xmlsec {metadata.version('xmlsec')}",
        f"uvicorn {metadata.version('uvicorn')}",
        f"{os.cpu_count()} CPUs",
    ]
    return " | ".join(parts)


def print_table(runs: list[Run]) -> None:
    head = (
        f"{'sender':<38} {'msgs':>6} {'msg/s':>8} {'mean ms':>8} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'client CPU':>10} {'server CPU':>10} {'accepted':>12}"
    )
    print(head)
    print("-" * len(head))
    for run in runs:
        mean = statistics.fmean(run.durations) * 1e3
        print(
            f"{run.sender.name:<38} {run.count:>6} {run.per_second:8.1f} {mean:8.2f} "
            f"{run.ms(0.50):7.2f} {run.ms(0.95):7.2f} "
            f"{run.client_cpu / run.count * 1e3:8.2f}ms {run.server_cpu / run.count * 1e3:8.2f}ms "
            f"{f'{run.accepted}/{run.count}':>12}"
        )
    print("  (CPU columns: CPU time per message, user + system, all threads, of this process and")
    print("   of the emulator subprocess; a sequential send waits for both, so the mean latency")
    print("   is about their sum plus scheduling)")


def print_ratios(ours: Run, others: list[Run]) -> None:
    print("Ratios, ours/naive msg/s (median of per-round ratios; pooled in brackets):")
    for other in others:
        ratios = [a / b for a, b in zip(ours.round_rates, other.round_rates, strict=True)]
        print(
            f"  vs {other.sender.name:<36} {statistics.median(ratios):6.2f}x "
            f"[{ours.per_second / other.per_second:.2f}x; rounds "
            + ", ".join(f"{r:.2f}" for r in ratios)
            + "]"
        )


def print_outcomes(runs: list[Run]) -> None:
    print("Answers:")
    for run in runs:
        for code, count in run.outcomes.most_common():
            detail = run.details.get(code, "")
            print(
                f"  {run.sender.name:<38} {count:>6} x {code}" + (f": {detail}" if detail else "")
            )


def print_naive_phases(runs: list[Run]) -> None:
    print("Naive loop, mean ms per message (warm-up messages included):")
    for run in runs:
        if isinstance(run.sender, NaiveZeepSender):
            phases = run.sender.phases
            scale = 1e3 / max(phases.messages, 1)
            print(
                f"  {run.sender.name:<38} zeep build + sign {phases.build_sign * scale:6.2f}, "
                f"HTTPS post incl. new TLS connection {phases.post * scale:6.2f}, "
                f"answer parse {phases.parse * scale:5.2f}"
            )


def _timed(call: Callable[[], object], count: int) -> float:
    """Mean seconds of ``call`` over ``count`` calls, after a few unrecorded ones."""
    for _ in range(min(10, count)):
        call()
    started = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - started) / count


def breakdown(pki: TestPki, emulator: EmulatorProcess, ours: OursSender, count: int) -> None:
    """Where one send of ours spends its time, stage by stage, without profiler overhead.

    The client stages are the public functions ``GatewayClient.send`` runs, called one by
    one; the emulator's share is its ``GatewayLogic.process`` run in this process on the
    same signed envelopes; the HTTP floors are POSTs to a path the emulator answers 404 at
    once (no parsing, no signature, no worker thread).
    """
    contract = sync_channel()
    stages: dict[str, list[float]] = {
        "build": [],
        "sign": [],
        "post": [],
        "read": [],
        "parse": [],
    }
    wires: list[bytes] = []
    for index in range(count + 10):
        t0 = time.perf_counter()
        envelope = build_sync_request(
            contract,
            service_id=SERVICE_ID,
            sender_id=SENDER_ID,
            password=None,
            data=ours.payload,
        )
        t1 = time.perf_counter()
        wire = sign_envelope(envelope, ours.signer)
        t2 = time.perf_counter()
        answer = ours.transport.post(emulator.sync_url, wire)
        t3 = time.perf_counter()
        root = parse_xml(answer.content).getroot()
        assert find_fault(root) is None
        t4 = time.perf_counter()
        parse_sync_response(root, contract)
        t5 = time.perf_counter()
        if index >= 10:
            for name, spent in zip(
                stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True
            ):
                stages[name].append(spent)
            wires.append(wire)
    mean = {name: statistics.fmean(values) * 1e3 for name, values in stages.items()}
    whole = _timed(lambda: ours.send(str(uuid.uuid4())), count) * 1e3

    logic = GatewayLogic(emulator_config_from_pki(pki))
    policy = VerifyPolicy(trusted_certs=(pki.ca.certificate, pki.sigex.certificate))
    replies = iter(wires * 2)
    process = _timed(lambda: logic.process("sync", next(replies), signed=True), count) * 1e3
    roots = [parse_xml(wire).getroot() for wire in wires]
    checks = iter(roots * 2)
    verify = _timed(lambda: verify_envelope(next(checks), policy), count) * 1e3
    key = pki.signer.private_key
    assert isinstance(key, rsa.RSAPrivateKey)
    rsa_sign = _timed(lambda: key.sign(b"\0" * 32, padding.PKCS1v15(), hashes.SHA256()), count)

    nowhere = emulator.url + "/no-such-path/"
    keep_alive = _timed(lambda: ours.transport.post(nowhere, wires[0]), count) * 1e3
    cert = (str(pki.client.cert_path), str(pki.client.key_path))
    fresh = (
        _timed(
            lambda: requests.post(
                nowhere, data=wires[0], cert=cert, verify=str(pki.ca.cert_path), timeout=(10, 30)
            ),
            max(count // 4, 10),
        )
        * 1e3
    )

    other = mean["post"] - process - keep_alive
    print(
        f"Where a send of ours goes (mean ms over {count}; whole send measured alone {whole:.2f}):"
    )
    print(f"  client  build_sync_request (zeep render + XSD validate)    {mean['build']:6.2f}")
    print(
        f"  client  sign_envelope                                      {mean['sign']:6.2f}"
        f"   (RSA-2048 sign alone {rsa_sign * 1e3:.2f})"
    )
    print(f"  client  Transport.post, keep-alive (the round trip)       {mean['post']:6.2f}")
    print(f"            emulator GatewayLogic.process, in-process        {process:6.2f}")
    print(f"              of which verify_envelope                       {verify:6.2f}")
    print(f"            HTTP + TLS floor (404, same connection)          {keep_alive:6.2f}")
    print(f"            rest: emulator worker hand-off, scheduling       {other:6.2f}")
    print(f"  client  parse answer + find_fault                          {mean['read']:6.2f}")
    print(f"  client  parse_sync_response (XSD validate + read)          {mean['parse']:6.2f}")
    print(
        f"  for comparison: requests.post to the same 404 with a new TLS connection "
        f"(the naive loop's transport) {fresh:.2f}"
    )


def profile_ours(sender: OursSender, count: int) -> None:
    """cProfile ``count`` sends of ours (client process; waits on the emulator show up as
    time inside ``_ssl`` read/write)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        sender.send(str(uuid.uuid4()))
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(15)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    print(f"cProfile of {count} sends of ours, top functions by own time:")
    for line in lines[start : start + 16]:
        print("    " + line.rstrip())


# --------------------------------------------------------------------------- main


def run(*, quick: bool, messages: int | None, profile: bool) -> int:
    rounds = 3 if quick else 6
    if messages is not None:
        rounds = min(rounds, messages)
    seconds = 1.5 if quick else 4.0  # per sender and round, when --messages is not given
    warmup_seconds = 0.5 if quick else 1.5
    started = time.perf_counter()
    print(f"shep-gateway send benchmark ({'quick' if quick else 'full'} run)")
    print("  " + _versions())
    payload = build_payload()
    with tempfile.TemporaryDirectory(prefix="bench-send-") as tmp:
        pki = generate_test_pki(Path(tmp) / "pki")
        emulator = EmulatorProcess(pki.directory)
        senders: list[Sender] = []
        try:
            print(
                f"  emulator: subprocess pid {emulator.pid} (start_emulator, uvicorn, "
                f"mTLS) at {emulator.url}; sender {SENDER_ID!r}, service {SERVICE_ID!r}"
            )
            print(
                f"  payload {len(payload)} B of UTF-8 XML, the same element on every path; "
                f"one thread, sequential; {rounds} round(s) of "
                + (f"~{messages / rounds:.0f} messages" if messages else f"{seconds:g} s")
                + " per sender, after warm-up"
            )
            senders = [
                OursSender(pki, emulator.sync_url, payload),
                NaiveZeepSender(pki, emulator.sync_url, payload, sha256=False),
                NaiveZeepSender(pki, emulator.sync_url, payload, sha256=True),
            ]
            runs = measure_all(
                senders,
                emulator,
                rounds=rounds,
                seconds=seconds,
                messages=messages,
                warmup_seconds=warmup_seconds,
            )
            print()
            print_table(runs)
            print()
            print_ratios(runs[0], runs[1:])
            print()
            print_outcomes(runs)
            print()
            print_naive_phases(runs)
            ours = runs[0]
            if ours.per_second < EXPECTED_RATE and not profile:
                print()
                print(
                    f"  ours is under {EXPECTED_RATE:g} msg/s: rerun with --profile "
                    "to see where a send spends its time"
                )
            if profile:
                print()
                assert isinstance(ours.sender, OursSender)
                breakdown(pki, emulator, ours.sender, 100 if quick else 300)
                print()
                profile_ours(ours.sender, 50 if quick else 200)
        finally:
            for sender in senders:
                sender.close()
            emulator.close()
    print()
    print(f"Total time: {time.perf_counter() - started:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (about 20 s in all)")
    parser.add_argument(
        "--messages",
        type=int,
        metavar="N",
        help="measure N messages per sender (split over the rounds) instead of a fixed time",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also cProfile sends of ours (client side)"
    )
    parser.add_argument("--serve", metavar="PKI_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(Path(args.serve))
    if args.messages is not None and args.messages < 1:
        parser.error("--messages must be at least 1")
    return run(quick=args.quick, messages=args.messages, profile=args.profile)


if __name__ == "__main__":
    sys.exit(main())

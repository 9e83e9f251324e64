"""Transport-signature throughput and memory, as ratios against baselines from the same run.

For SyncChannel request envelopes whose Body is about 2 KiB, 100 KiB and 5 MiB, this measures:

* ours: ``sign_envelope(bytes)`` (parse, sign, serialize: what a caller does) and
  ``verify_envelope(bytes)`` (parse, policy checks, chain check, signature check);
* zeep: the loop users write today: parse with lxml, ``BinarySignature.apply``, serialize;
* openssl: ``openssl speed -seconds N rsa2048``, raw single-threaded RSA-2048 signs;
* peak RSS of one 5 MiB sign, in a fresh subprocess so nothing else in this run inflates it.

Absolute numbers depend on the machine; compare the ratios. Nothing here fails on time: the
targets are printed as met or missed. Run from the repository root:

    .venv/bin/python bench/bench_sign.py [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import xmlsec as _xmlsec_module
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree
from peakrss import peak_rss, reset_peak_rss, status_bytes  # bench/peakrss.py
from zeep.wsse import signature as _zeep_signature

from gateway.contracts import sync_channel
from gateway.envelope import build_sync_request, find_body
from gateway.identity import Identity
from gateway.testpki import generate_test_pki
from gateway.wssec import VerifyPolicy, make_signer, sign_envelope, verify_envelope

# Neither ships complete type hints; keep their Any here, as gateway/suites.py does.
xmlsec: Any = _xmlsec_module
zeep_signature: Any = _zeep_signature

KIB = 1024
MIB = 1024 * 1024
SIZES = (("2 KiB", 2 * KIB), ("100 KiB", 100 * KIB), ("5 MiB", 5 * MIB))
OPENSSL_TARGET = 0.85
"""ours/openssl sign rate at 2 KiB that we aim for (the RSA private-key op dominates there)."""

PAYLOAD_NS = "urn:kz:gov:bench:persons:v1"
_NS_DECL_BYTES = len(f' xmlns:p="{PAYLOAD_NS}"')
_NOTE_RESERVE = 160
"""Bytes kept free for the closing note that trims the Body to its exact target size."""


# --------------------------------------------------------------------------- payloads

# Realistic gateway data: Kazakh and Russian names, addresses and documents, 2-byte UTF-8.
_LAST = ("Жұмабеков", "Нұрланова", "Сейтқали", "Әбдірахманова", "Қасымов", "Смагулова")
_FIRST = ("Дәурен", "Айгүл", "Бауыржан", "Гүлнар", "Нұрсұлтан", "Жанар")
_MIDDLE = ("Серікұлы", "Болатқызы", "Сергеевич", "Маратовна", "Қайратұлы", "Ерланқызы")
_REGIONS = ("г. Астана", "г. Алматы", "Алматинская область", "Түркістан облысы")  # noqa: RUF001 - Cyrillic data
_STREETS = ("пр. Абая", "ул. Сәтпаева", "ул. Кенесары", "мкр. Самал-2", "ул. Желтоқсан")
_ISSUERS = ("МВД РК", "Министерство юстиции РК", "ҚР Ішкі істер министрлігі")  # noqa: RUF001
_FILLER = (
    "Сведения предоставлены в рамках оказания государственной услуги; "
    "Мәліметтер мемлекеттік қызмет көрсету шеңберінде ұсынылды. "
)


def _pick(pool: tuple[str, ...], index: int, step: int) -> str:
    return pool[(index * step) % len(pool)]


def _add_person(parent: etree._Element, index: int) -> etree._Element:
    """One nested ``p:person`` record (about 1 KiB of UTF-8), deterministic in ``index``."""

    def sub(
        element: etree._Element, name: str, text: str | None = None, **attrs: str
    ) -> etree._Element:
        child = etree.SubElement(element, f"{{{PAYLOAD_NS}}}{name}", attrs)
        child.text = text
        return child

    person = sub(parent, "person", seq=str(index))
    sub(person, "iin", f"{(900101300017 + index * 7919) % 10**12:012d}")
    name = sub(person, "name")
    sub(name, "last", _pick(_LAST, index, 1))
    sub(name, "first", _pick(_FIRST, index, 5))
    sub(name, "middle", _pick(_MIDDLE, index, 7))
    birth = sub(
        person, "birth", date=f"19{60 + index % 40}-{1 + index % 12:02d}-{1 + index % 28:02d}"
    )
    sub(birth, "place", f"{_pick(_REGIONS, index, 3)}, {_pick(_STREETS, index, 2)}")
    address = sub(person, "address", kind="registration")
    sub(address, "region", _pick(_REGIONS, index, 1))
    sub(address, "street", _pick(_STREETS, index, 3))
    sub(address, "building", str(1 + index % 120))
    sub(address, "flat", str(1 + index % 300))
    documents = sub(person, "documents")
    for n in range(2):
        document = sub(
            documents,
            "document",
            type=("удостоверение личности", "паспорт")[n],
            number=f"0{(45678123 + index * 31 + n) % 10**8:08d}",
            issued=f"20{10 + index % 14}-{1 + n:02d}-15",
        )
        sub(document, "issuer", _pick(_ISSUERS, index + n, 1))
    sub(person, "remark", _FILLER)
    return person


def _filler(size: int) -> str:
    """Cyrillic text of exactly ``size`` UTF-8 bytes (two per letter, one space if odd)."""
    if size < 0:
        raise ValueError(f"cannot make filler of {size} bytes")
    letters = "".join(ch for ch in _FILLER * (size // len(_FILLER) + 1) if len(ch.encode()) == 2)
    text = letters[: size // 2]
    return text + " " * (size - len(text.encode()))


def _body_size(body: etree._Element) -> int:
    return len(etree.tostring(body, encoding="UTF-8", xml_declaration=False))


def build_envelope(target_body: int) -> bytes:
    """A SyncChannel request whose UTF-8 Body is exactly ``target_body`` bytes, serialized."""
    channel = sync_channel()

    def envelope(payload: etree._Element) -> etree._Element:
        return build_sync_request(
            channel,
            service_id="BENCH_PERSONS_SERVICE",
            sender_id="bench-sender",
            password=None,
            data=payload,
        )

    probe = etree.Element(f"{{{PAYLOAD_NS}}}personsRequest", nsmap={"p": PAYLOAD_NS})
    etree.SubElement(probe, f"{{{PAYLOAD_NS}}}note").text = "x"
    budget = target_body - _body_size(find_body(envelope(probe)))
    payload = etree.Element(f"{{{PAYLOAD_NS}}}personsRequest", nsmap={"p": PAYLOAD_NS})
    used, index = 0, 0
    while True:
        person = _add_person(payload, index)
        size = len(etree.tostring(person, encoding="UTF-8")) - _NS_DECL_BYTES
        if used + size + _NOTE_RESERVE > budget:
            payload.remove(person)
            break
        used, index = used + size, index + 1
    note = etree.SubElement(payload, f"{{{PAYLOAD_NS}}}note")
    note.text = _filler(max(budget - used, 0))

    root = envelope(payload)
    body = find_body(root)
    built_note = body.find(f".//{{{PAYLOAD_NS}}}note")
    assert built_note is not None
    for _ in range(5):  # the estimate is close; correct it on the real Body
        error = target_body - _body_size(body)
        if error == 0:
            break
        built_note.text = _filler(len((built_note.text or "").encode()) + error)
    assert _body_size(body) == target_body, (_body_size(body), target_body)
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


# --------------------------------------------------------------------------- measuring


@dataclass(frozen=True, slots=True)
class Rate:
    """Calls of one operation, timed one by one with perf_counter."""

    durations: tuple[float, ...]

    @property
    def per_second(self) -> float:
        return len(self.durations) / sum(self.durations)

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.durations) * 1e3

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.durations)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1e3


def _warm_up(call: Callable[[], object], seconds: float) -> None:
    warm_until = time.perf_counter() + seconds
    for calls in range(1, 1_000_000):
        call()
        if calls >= 2 and time.perf_counter() >= warm_until:
            return


def measure(call: Callable[[], object], *, seconds: float, min_calls: int = 5) -> Rate:
    """Warm up, then call for ``seconds`` (at least ``min_calls`` times) in this thread."""
    _warm_up(call, seconds / 10)
    gc.collect()
    durations: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(durations) < min_calls or time.perf_counter() < deadline:
        start = time.perf_counter()
        call()
        durations.append(time.perf_counter() - start)
    return Rate(tuple(durations))


def measure_interleaved(
    calls: dict[str, Callable[[], object]], *, seconds: float, slice_seconds: float = 0.05
) -> dict[str, Rate]:
    """Like :func:`measure` for each call, in alternating short slices: drift hits all alike."""
    for call in calls.values():
        _warm_up(call, seconds / 10)
    gc.collect()
    durations: dict[str, list[float]] = {name: [] for name in calls}
    while any(sum(spent) < seconds for spent in durations.values()):
        for name, call in calls.items():
            slice_end = time.perf_counter() + slice_seconds
            while time.perf_counter() < slice_end:
                start = time.perf_counter()
                call()
                durations[name].append(time.perf_counter() - start)
    return {name: Rate(tuple(spent)) for name, spent in durations.items()}


@dataclass(frozen=True, slots=True)
class OpensslSpeed:
    version: str
    sign_per_second: float


_MR_LINE = re.compile(r"^\+F2:\d+:2048:([\d.]+):([\d.]+)", re.MULTILINE)
_TABLE_LINE = re.compile(
    r"^rsa\s+2048 bits\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)\s+([\d.]+)", re.MULTILINE
)


def openssl_speed(seconds: int) -> OpensslSpeed | None:
    """Single-threaded RSA-2048 sign/s from the ``openssl`` CLI; None if it is unavailable."""
    exe = shutil.which("openssl")
    if exe is None:
        return None
    version = subprocess.run(
        [exe, "version"], capture_output=True, text=True, check=False, timeout=30
    ).stdout.strip()
    done = subprocess.run(
        [exe, "speed", "-mr", "-seconds", str(seconds), "rsa2048"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30 + 4 * seconds,
    )
    found = _MR_LINE.search(done.stdout) or _TABLE_LINE.search(done.stdout)
    if done.returncode != 0 or found is None:
        print(f"  (openssl speed failed, rc={done.returncode}: {done.stderr.strip()[:200]})")
        return None
    return OpensslSpeed(version=version, sign_per_second=float(found.group(1)))


# --------------------------------------------------------------------------- the two signers


def zeep_signer(key_path: Path, cert_path: Path) -> Callable[[bytes], bytes]:
    """Parse, ``BinarySignature.apply``, serialize: zeep's loop, with our algorithms."""
    plugin = zeep_signature.BinarySignature(
        str(key_path),
        str(cert_path),
        signature_method=xmlsec.Transform.RSA_SHA256,
        digest_method=xmlsec.Transform.SHA256,
    )

    def sign(data: bytes) -> bytes:
        # A bare lxml parse on purpose: this is the baseline users write, not our code path.
        envelope, _headers = plugin.apply(etree.fromstring(data), {})
        result: bytes = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
        return result

    return sign


def our_signer(key_path: Path, cert_path: Path) -> Callable[[bytes], bytes]:
    signer = make_signer(_identity(key_path, cert_path))

    def sign(data: bytes) -> bytes:
        return sign_envelope(data, signer)

    return sign


def _identity(key_path: Path, cert_path: Path) -> Identity:
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return Identity(certificate=certificate, private_key=key, source=str(key_path))


# --------------------------------------------------------------------------- peak RSS probe


def rss_probe(kind: str, envelope: Path, warmup: Path, key: Path, cert: Path) -> dict[str, int]:
    """Child process: peak RSS and Python-heap peak of one sign of ``envelope``."""
    sign = (our_signer if kind == "ours" else zeep_signer)(key, cert)
    sign(warmup.read_bytes())  # one-time initialisation (xmlsec, lxml) is not the envelope's
    data = envelope.read_bytes()
    gc.collect()
    reset = reset_peak_rss()
    before = status_bytes("VmRSS") or peak_rss()
    peak_before = peak_rss()
    signed = sign(data)
    peak_after = peak_rss()
    output = len(signed)
    del signed
    gc.collect()
    tracemalloc.start()
    sign(data)
    _current, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "input": len(data),
        "output": output,
        "rss_before": before,
        "peak_before": peak_before,
        "peak_after": peak_after,
        "peak_reset": int(reset),
        "heap_peak": heap_peak,
    }


def run_rss_probe(kind: str, envelope: Path, warmup: Path, key: Path, cert: Path) -> dict[str, int]:
    done = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--rss-probe",
            kind,
            str(envelope),
            str(warmup),
            str(key),
            str(cert),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --------------------------------------------------------------------------- report


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    body: int
    envelope: int
    ours_sign: Rate
    ours_verify: Rate
    zeep_sign: Rate


def _fmt_bytes(n: float) -> str:
    if n >= MIB:
        return f"{n / MIB:.2f} MiB"
    if n >= KIB:
        return f"{n / KIB:.1f} KiB"
    return f"{n:.0f} B"


def _versions() -> Iterator[str]:
    yield f"Python {platform.python_version()}"
    yield f"lxml {metadata.version('lxml')} (libxml2 {'.'.join(map(str, etree.LIBXML_VERSION))})"
    libxmlsec = ".".join(map(str, xmlsec.get_libxmlsec_version()))
    yield f"xmlsec {metadata.version('xmlsec')} (libxmlsec1 {libxmlsec})"
    yield f"zeep {metadata.version('zeep')}"
    yield f"{os.cpu_count()} CPUs"


def print_table(rows: list[Row], openssl: float | None) -> None:
    head = (
        f"{'Body':>9} {'envelope':>10} {'ours sign/s':>12} {'ours verify/s':>14} "
        f"{'zeep sign/s':>12} {'openssl sign/s':>15} {'ours/zeep':>10}"
    )
    print(head)
    print("-" * len(head))
    for row in rows:
        ssl = f"{openssl:15.1f}" if openssl else f"{'n/a':>15}"
        print(
            f"{_fmt_bytes(row.body):>9} {_fmt_bytes(row.envelope):>10} "
            f"{row.ours_sign.per_second:12.1f} {row.ours_verify.per_second:14.1f} "
            f"{row.zeep_sign.per_second:12.1f} {ssl} "
            f"{row.ours_sign.per_second / row.zeep_sign.per_second:9.2f}x"
        )


def print_latency(rows: list[Row]) -> None:
    print("Per call, ms (p50 / p95; calls measured):")
    for row in rows:
        cells = [
            f"{name} {rate.p50_ms:.3f} / {rate.p95_ms:.3f} ({len(rate.durations)})"
            for name, rate in (
                ("ours sign", row.ours_sign),
                ("ours verify", row.ours_verify),
                ("zeep sign", row.zeep_sign),
            )
        ]
        print(f"  {row.label:>8}: " + "; ".join(cells))


def print_rss(label: str, probe: dict[str, int]) -> None:
    rss_delta = probe["peak_after"] - probe["rss_before"]
    # Without a peak reset, a peak below an earlier one (imports, warm-up) is not seen.
    exact = probe["peak_reset"] or probe["peak_after"] > probe["peak_before"]
    print(
        f"  {label}: input {_fmt_bytes(probe['input'])}, output {_fmt_bytes(probe['output'])}; "
        f"peak RSS +{_fmt_bytes(rss_delta)} over the pre-sign RSS "
        f"= {rss_delta / probe['input']:.1f}x input"
        + ("" if exact else " (a lower bound: the peak could not be reset)")
        + f"; Python heap peak {_fmt_bytes(probe['heap_peak'])} "
        f"= {probe['heap_peak'] / probe['input']:.1f}x input"
    )


def profile_sign(label: str, sign: Callable[[], object], seconds: float) -> None:
    """cProfile our sign for ``seconds``: top functions by own time (C calls included)."""
    sign()
    profiler = cProfile.Profile()
    calls = 0
    deadline = time.perf_counter() + seconds
    profiler.enable()
    while calls < 3 or time.perf_counter() < deadline:
        sign()
        calls += 1
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(12)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    print(f"cProfile of {calls} signs of ours at {label}, top functions by own time:")
    for line in lines[start : start + 13]:
        print("    " + line.rstrip())


# --------------------------------------------------------------------------- main


@dataclass(frozen=True, slots=True)
class Paired:
    """The 2 KiB sign rate, measured in rounds that alternate with ``openssl speed``.

    The machine's speed drifts (shared VMs, turbo), so each round's ratio compares numbers
    taken seconds apart; the median round is the headline.
    """

    openssl_runs: list[float]
    ours: Rate
    rsa_floor: Rate
    ratios: list[float]


@dataclass(frozen=True, slots=True)
class Results:
    rows: list[Row]
    paired: Paired
    probes: dict[str, dict[str, int]]


def measure_paired(
    sign: Callable[[], object], private_key: rsa.RSAPrivateKey, *, rounds: int, seconds: float
) -> Paired:
    """``rounds`` x (openssl speed; our 2 KiB sign interleaved with in-process RSA signs)."""
    digest = b"\x00" * 32
    rsa_sign = partial(private_key.sign, digest, padding.PKCS1v15(), hashes.SHA256())
    runs: list[float] = []
    ratios: list[float] = []
    ours: list[float] = []
    floor: list[float] = []
    for _ in range(rounds):
        speed = openssl_speed(1)
        rates = measure_interleaved({"ours": sign, "rsa": rsa_sign}, seconds=seconds / rounds)
        ours.extend(rates["ours"].durations)
        floor.extend(rates["rsa"].durations)
        if speed:
            if not runs:
                print(f"  baseline: {speed.version}, `openssl speed -seconds 1 rsa2048` per round")
            runs.append(speed.sign_per_second)
            ratios.append(rates["ours"].per_second / speed.sign_per_second)
            print(
                f"  round {len(runs)}: openssl {speed.sign_per_second:.1f} sign/s, "
                f"ours at 2 KiB {rates['ours'].per_second:.1f}/s -> {ratios[-1]:.2f}; "
                f"in-process RSA {rates['rsa'].per_second:.1f}/s"
            )
    return Paired(
        openssl_runs=runs, ours=Rate(tuple(ours)), rsa_floor=Rate(tuple(floor)), ratios=ratios
    )


def pin_to_one_cpu() -> int | None:
    """Run this process and its children (openssl, probes) on one CPU, where supported."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def measure_all(workdir: Path, seconds: float, rounds: int, *, profile: bool) -> Results:
    pki = generate_test_pki(workdir / "pki")
    key_path, cert_path = pki.signer.key_path, pki.signer.cert_path
    ours, zeep = our_signer(key_path, cert_path), zeep_signer(key_path, cert_path)
    policy = VerifyPolicy(trusted_certs=(pki.ca.certificate,))
    private_key = pki.signer.private_key
    assert isinstance(private_key, rsa.RSAPrivateKey)

    envelopes: list[tuple[str, int, bytes, bytes]] = []
    for label, size in SIZES:
        data = build_envelope(size)
        signed = ours(data)
        verify_envelope(signed, policy)
        verify_envelope(zeep(data), policy)  # same work: zeep's output passes our verifier
        envelopes.append((label, size, data, signed))

    paired = measure_paired(
        partial(ours, envelopes[0][2]), private_key, rounds=rounds, seconds=seconds
    )
    rows: list[Row] = []
    for label, size, data, signed in envelopes:
        rows.append(
            Row(
                label=label,
                body=size,
                envelope=len(data),
                ours_sign=paired.ours
                if not rows
                else measure(partial(ours, data), seconds=seconds),
                ours_verify=measure(partial(verify_envelope, signed, policy), seconds=seconds),
                zeep_sign=measure(partial(zeep, data), seconds=seconds),
            )
        )

    if profile:  # after the timings, so the profiler's overhead does not touch them
        for label, _size, data, _signed in envelopes[:: len(envelopes) - 1]:
            profile_sign(label, partial(ours, data), seconds)
        print()
    big, small = workdir / "big.xml", workdir / "small.xml"
    big.write_bytes(envelopes[-1][2])
    small.write_bytes(envelopes[0][2])
    probes = {
        kind: run_rss_probe(kind, big, small, key_path, cert_path) for kind in ("ours", "zeep")
    }
    return Results(rows=rows, paired=paired, probes=probes)


def print_ratios(results: Results) -> None:
    rows, paired = results.rows, results.paired
    first = rows[0]
    print("Ratios:")
    if paired.ratios:
        ratio = statistics.median(paired.ratios)
        verdict = "met" if ratio >= OPENSSL_TARGET else "MISSED"
        print(
            f"  ours/openssl sign at {first.label}: {ratio:.2f} "
            f"(target >= {OPENSSL_TARGET}: {verdict}; median of "
            + ", ".join(f"{r:.2f}" for r in paired.ratios)
            + ")"
        )
    else:
        print("  ours/openssl: n/a (no openssl CLI)")
    print(
        "  ours/zeep sign: "
        + ", ".join(
            f"{row.label} {row.ours_sign.per_second / row.zeep_sign.per_second:.2f}x"
            for row in rows
        )
    )
    floor = paired.rsa_floor.per_second
    openssl = statistics.median(paired.openssl_runs) if paired.openssl_runs else None
    print(
        f"  RSA-2048 sign alone, in-process (cryptography, no XML): {floor:.1f}/s"
        + (f" = {floor / openssl:.2f} of openssl" if openssl else "")
        + f"; ours at {first.label} = {first.ours_sign.per_second / floor:.2f} of it"
    )


def run(*, quick: bool, profile: bool) -> int:
    seconds = 0.6 if quick else 2.5
    started = time.perf_counter()
    cpu = pin_to_one_cpu()
    print(f"shep-gateway signing benchmark ({'quick' if quick else 'full'} run)")
    print("  " + " | ".join(_versions()))
    print(
        f"  {seconds:g} s per measurement after warm-up, one thread"
        + ("" if cpu is None else f" pinned to CPU {cpu} (openssl too)")
        + "; RSA-2048 test key; RSA-SHA256 + exc-c14n on both sides"
    )
    with tempfile.TemporaryDirectory(prefix="bench-sign-") as tmp:
        results = measure_all(Path(tmp), seconds, rounds=1 if quick else 4, profile=profile)

    print()
    runs = results.paired.openssl_runs
    print_table(results.rows, statistics.median(runs) if runs else None)
    print()
    print_ratios(results)
    print()
    print_latency(results.rows)
    print()
    print(f"Peak memory signing the {SIZES[-1][0]} Body envelope once (fresh subprocess each):")
    for kind, probe in results.probes.items():
        print_rss(kind, probe)
    ours, zeep = (p["peak_after"] - p["rss_before"] for p in results.probes.values())
    if zeep > 0:
        print(f"  ours/zeep peak RSS growth: {ours / zeep:.2f}")
    print()
    print(f"Total time: {time.perf_counter() - started:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (about 20 s in all)")
    parser.add_argument(
        "--profile", action="store_true", help="also cProfile our sign at 2 KiB and 5 MiB"
    )
    parser.add_argument("--rss-probe", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_probe:
        kind, *paths = args.rss_probe
        print(json.dumps(rss_probe(kind, *(Path(p) for p in paths))))
        return 0
    return run(quick=args.quick, profile=args.profile)


if __name__ == "__main__":
    sys.exit(main())

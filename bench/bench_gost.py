"""GOST 34.10-2015 signing speed against RSA-2048, as ratios measured in the same run.

One throw-away test PKI: an RSA-2048 signer under the RSA test CA, and GOST 34.10-2015
512-bit and 256-bit signers under the GOST test CA (512-bit). One run measures:

1. the bare signature on a fixed digest, no XML: RSA-2048 (``cryptography``, PKCS#1 v1.5,
   SHA-256 pre-hashed) against GOST-512 and GOST-256 (``gateway.gost``, ``sign_digest`` and
   ``verify_digest`` on a fixed Streebog digest), sign and verify;
2. whole transport signatures: ``sign_envelope(bytes)`` and ``verify_envelope(bytes)`` with
   the rsa-sha256, gost2015-512 and gost2015-256 suites, for SyncChannel request envelopes
   whose Body is 2 KiB and (not with ``--quick``) 100 KiB, built as bench_sign.py builds
   them. Verification includes the certificate chain check; gateway.gost caches a GOST
   issuer's verdict on a certificate by its exact bytes, so in this steady state (one signer,
   many messages) the chain costs a lookup, and a first message from a new signer costs one
   more GOST-512 verification (section 1's rate: the test GOST CA is 512-bit);
3. hashing: Streebog-512 and Streebog-256 (``gateway.gost.streebog``) against SHA-256
   (``hashlib``) on 1 MiB (128 KiB with ``--quick``).

The variants of each group run interleaved in short slices, the next slice always going to the
variant with the least time so far, so the machine's drift hits them alike; a rate is calls
divided by the summed call time (time.perf_counter around each call). Compare the ratios, not
the absolute rates. Nothing here fails on time. Run from the repository root:

    .venv/bin/python bench/bench_gost.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from pathlib import Path

from bench_sign import (  # bench/bench_sign.py: payloads, timing and openssl speed
    KIB,
    MIB,
    Rate,
    build_envelope,
    openssl_speed,
    pin_to_one_cpu,
)
from cryptography.hazmat.backends.openssl import backend as openssl_backend
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from gateway import gost
from gateway.identity import load_identity_from_path
from gateway.testpki import IssuedCert, TestPki, generate_test_pki
from gateway.wssec import ALL_SUITES, VerifyPolicy, make_signer, sign_envelope, verify_envelope

ENVELOPE_SIZES = (("2 KiB", 2 * KIB), ("100 KiB", 100 * KIB))
HASH_SIZE, HASH_SIZE_QUICK = MIB, 128 * KIB
MB = 1_000_000
"""Hash rates are in MB/s (10^6 bytes per second)."""

RSA, GOST512, GOST256 = "RSA-2048", "GOST-512", "GOST-256"
SHA256 = "SHA-256 (hashlib)"
SUITES = (("rsa-sha256", RSA), ("gost2015-512", GOST512), ("gost2015-256", GOST256))


# --------------------------------------------------------------------------- measuring


def measure_balanced(
    calls: dict[str, Callable[[], object]],
    *,
    seconds: float,
    min_calls: int = 5,
    warm_up: bool = True,
    slice_seconds: float = 0.05,
) -> dict[str, Rate]:
    """Time every variant for ``seconds`` (and ``min_calls``), interleaved in short slices.

    Like bench_sign's ``measure_interleaved``, but the next slice always goes to the variant
    with the least time so far, so a 0.25 ms RSA call and a 600 ms GOST call are measured
    side by side over the same stretch and the group ends after about ``len(calls) *
    seconds`` (equal round-robin slices would run RSA's 50 ms slices until the GOST variants
    had spent many times ``seconds``). With ``warm_up`` each variant first runs for
    ``seconds / 10`` (at least once); without it the caller warms up (Streebog of 1 MiB takes
    seconds a call, so it warms up on a small input).
    """
    if warm_up:
        for call in calls.values():
            warm_until = time.perf_counter() + seconds / 10
            call()
            while time.perf_counter() < warm_until:
                call()
    gc.collect()
    durations: dict[str, list[float]] = {name: [] for name in calls}
    spent = dict.fromkeys(calls, 0.0)

    def wanted(name: str) -> bool:
        return len(durations[name]) < min_calls or spent[name] < seconds

    while pending := [name for name in calls if wanted(name)]:
        name = min(pending, key=spent.__getitem__)
        call = calls[name]
        slice_end = time.perf_counter() + slice_seconds
        while wanted(name) and time.perf_counter() < slice_end:
            start = time.perf_counter()
            call()
            took = time.perf_counter() - start
            durations[name].append(took)
            spent[name] += took
    return {name: Rate(tuple(times)) for name, times in durations.items()}


@dataclass(frozen=True, slots=True)
class Pair:
    """Sign and verify rates of one variant."""

    sign: Rate
    verify: Rate


def measure_raw(pki: TestPki, seconds: float) -> dict[str, Pair]:
    """Section 1: one signature of a fixed digest, and its verification; no XML, no chain."""
    rsa_key = pki.signer.private_key
    assert isinstance(rsa_key, rsa.RSAPrivateKey)
    sha256_digest = hashlib.sha256(b"shep-gateway bench").digest()
    rsa_args = (padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    rsa_signature = rsa_key.sign(sha256_digest, *rsa_args)
    rsa_public = rsa_key.public_key()
    rsa_public.verify(rsa_signature, sha256_digest, *rsa_args)  # raises if it does not verify

    signs: dict[str, Callable[[], object]] = {RSA: partial(rsa_key.sign, sha256_digest, *rsa_args)}
    verifies: dict[str, Callable[[], object]] = {
        RSA: partial(rsa_public.verify, rsa_signature, sha256_digest, *rsa_args)
    }
    for name, issued, bits in ((GOST512, pki.signer_gost, 512), (GOST256, pki.signer_gost256, 256)):
        key = issued.private_key
        assert isinstance(key, gost.GostPrivateKey), type(key)
        digest = gost.streebog(b"shep-gateway bench", bits)
        signature = key.sign_digest(digest)
        public = key.public_key()  # computed once here, not in the timed calls
        assert public.verify_digest(digest, signature), name
        signs[name] = partial(key.sign_digest, digest)
        verifies[name] = partial(public.verify_digest, digest, signature)

    sign = measure_balanced(signs, seconds=seconds)
    verify = measure_balanced(verifies, seconds=seconds)
    return {name: Pair(sign[name], verify[name]) for name in signs}


@dataclass(frozen=True, slots=True)
class EnvelopeRow:
    label: str
    body: int
    envelope: int
    rates: dict[str, Pair]


def _signer_for(issued: IssuedCert, expected_suite: str) -> Callable[[bytes], bytes]:
    signer = make_signer(load_identity_from_path(issued.key_path, cert_path=issued.cert_path))
    assert signer.suite.name == expected_suite, (signer.suite.name, expected_suite)
    return partial(sign_envelope, signer=signer)


def measure_envelopes(
    pki: TestPki, sizes: tuple[tuple[str, int], ...], seconds: float
) -> list[EnvelopeRow]:
    """Section 2: ``sign_envelope`` and ``verify_envelope`` per suite, for each Body size."""
    issued = {RSA: pki.signer, GOST512: pki.signer_gost, GOST256: pki.signer_gost256}
    signers = {name: _signer_for(issued[name], suite) for suite, name in SUITES}
    policy = VerifyPolicy(
        trusted_certs=(pki.gost_ca.certificate, pki.ca.certificate), suites=ALL_SUITES
    )
    rows: list[EnvelopeRow] = []
    for label, size in sizes:
        data = build_envelope(size)
        signs: dict[str, Callable[[], object]] = {}
        verifies: dict[str, Callable[[], object]] = {}
        for suite, name in SUITES:
            signed = signers[name](data)
            verified = verify_envelope(signed, policy)
            assert verified.suite.name == suite, (verified.suite.name, suite)
            signs[name] = partial(signers[name], data)
            verifies[name] = partial(verify_envelope, signed, policy)
        sign = measure_balanced(signs, seconds=seconds)
        verify = measure_balanced(verifies, seconds=seconds)
        rates = {name: Pair(sign[name], verify[name]) for name in signs}
        rows.append(EnvelopeRow(label=label, body=size, envelope=len(data), rates=rates))
    return rows


def measure_hashes(size: int, seconds: float) -> dict[str, Rate]:
    """Section 3: one digest of ``size`` bytes per call, the three hashes interleaved."""
    assert gost.streebog(b"", 512).hex().startswith("8e945da209aa869f")  # RFC 6986, empty input
    data = os.urandom(size)
    hashers: dict[str, Callable[[bytes], object]] = {
        SHA256: lambda b: hashlib.sha256(b).digest(),
        "Streebog-512": partial(gost.streebog, bits=512),
        "Streebog-256": partial(gost.streebog, bits=256),
    }
    for hasher in hashers.values():  # warm-up on a slice: Streebog's cost is linear in size
        hasher(data[: 4 * KIB])
    return measure_balanced(
        {name: partial(hasher, data) for name, hasher in hashers.items()},
        seconds=seconds,
        min_calls=3,
        warm_up=False,
    )


# --------------------------------------------------------------------------- report


def _versions() -> Iterator[str]:
    yield f"Python {platform.python_version()}"
    library = openssl_backend.openssl_version_text()
    yield f"cryptography {metadata.version('cryptography')} ({library})"
    yield f"gostcrypto {metadata.version('gostcrypto')}"
    yield f"{os.cpu_count()} CPUs"


def _ratio(value: float) -> str:
    """A ratio to the baseline, with the slowdown spelled out (ratios here are far below 1)."""
    return f"{value:.2g} (1/{1 / value:,.0f})" if value < 1 else f"{value:.2f}"


def _ms(rate: Rate) -> float:
    return 1e3 / rate.per_second


def _pair_cells(pair: Pair, base: Pair, digits: int) -> str:
    """sign/s, verify/s, ms per call of each, and the two ratios to ``base`` (none for it)."""
    cells = (
        f"{pair.sign.per_second:10.{digits}f} {pair.verify.per_second:10.{digits}f} "
        f"{_ms(pair.sign):9.3f} {_ms(pair.verify):10.3f}"
    )
    if pair is base:
        return cells
    sign, verify = (
        _ratio(getattr(pair, op).per_second / getattr(base, op).per_second)
        for op in ("sign", "verify")
    )
    return f"{cells}  {sign:>17} {verify:>17}"


_PAIR_HEAD = (
    f"{'sign/s':>10} {'verify/s':>10} {'sign ms':>9} {'verify ms':>10}  "
    f"{'sign / RSA':>17} {'verify / RSA':>17}"
)


def print_raw(raw: dict[str, Pair]) -> None:
    print("1. One signature of a fixed digest, no XML (RSA: PKCS#1 v1.5, SHA-256 pre-hashed):")
    head = f"  {'':9} {_PAIR_HEAD}"
    print(head)
    print("  " + "-" * (len(head) - 2))
    for name, pair in raw.items():
        print(f"  {name:9} {_pair_cells(pair, raw[RSA], 1)}")


def print_envelopes(rows: list[EnvelopeRow]) -> None:
    print("2. Transport signature, one sign_envelope / verify_envelope call (parse, c14n,")
    print("   digests, signature, serialize). Verify also checks the certificate chain; GOST")
    print("   issuer verdicts are cached per certificate, so this steady state (one signer) pays")
    print("   for the chain once; a new signer's first message adds one GOST-512 verification:")
    head = f"  {'Body':>8} {'suite':13} {_PAIR_HEAD}"
    print(head)
    print("  " + "-" * (len(head) - 2))
    for row in rows:
        for (suite, name), label in zip(SUITES, (row.label, "", ""), strict=True):
            print(f"  {label:>8} {suite:13} {_pair_cells(row.rates[name], row.rates[RSA], 2)}")


def print_hashes(rates: dict[str, Rate], size: int) -> None:
    label = f"{size // MIB} MiB" if size >= MIB else f"{size // KIB} KiB"
    print(f"3. Hashing {label} per call (MB = 10^6 bytes):")
    head = f"  {'':18} {'MB/s':>10} {'ms/call':>10} {'calls':>6}  {'/ SHA-256':>17}"
    print(head)
    print("  " + "-" * (len(head) - 2))
    for name, rate in rates.items():
        ratio = "" if name == SHA256 else _ratio(rate.per_second / rates[SHA256].per_second)
        print(
            f"  {name:18} {rate.per_second * size / MB:10.3f} {_ms(rate):10.2f} "
            f"{len(rate.durations):6}  {ratio:>17}".rstrip()
        )


def print_breakdown(
    raw: dict[str, Pair], rows: list[EnvelopeRow], hashes_: dict[str, Rate], hash_size: int
) -> None:
    """Section 2's GOST calls, split with section 1's and section 3's rates (all measured)."""
    print("Where a GOST envelope call goes, in ms, from the rates above: the signature at")
    print("section 1's rates, the Body's bytes at section 3's Streebog rate (the chain is cached);")
    print("'rest' is the XML work, the small digests (SignedInfo, certificate) and noise, so")
    print("it can come out slightly negative.")
    for row in rows:
        for name, hasher in ((GOST512, "Streebog-512"), (GOST256, "Streebog-256")):
            pair = row.rates[name]
            body = 1e3 * row.body / (hashes_[hasher].per_second * hash_size)
            signature, own = _ms(raw[name].sign), _ms(raw[name].verify)
            sign_rest = _ms(pair.sign) - signature - body
            verify_rest = _ms(pair.verify) - own - body
            print(
                f"  {row.label:>8} {name} sign   {_ms(pair.sign):7.1f} = signature"
                f" {signature:.1f} + Body hash {body:.1f} + rest {sign_rest:.1f}"
            )
            print(
                f"  {'':>8} {name} verify {_ms(pair.verify):7.1f} = signature {own:.1f}"
                f" + Body hash {body:.1f} + rest {verify_rest:.1f}"
            )


def run(*, quick: bool) -> int:
    seconds = 1.5 if quick else 4.0
    sizes = ENVELOPE_SIZES[:1] if quick else ENVELOPE_SIZES
    hash_size = HASH_SIZE_QUICK if quick else HASH_SIZE
    started = time.perf_counter()
    cpu = pin_to_one_cpu()
    print(f"shep-gateway GOST 34.10-2015 benchmark ({'quick' if quick else 'full'} run)")
    print("  " + " | ".join(_versions()))
    print(
        f"  {seconds:g} s per variant after warm-up (Streebog: at least 3 calls), one thread"
        + ("" if cpu is None else f" pinned to CPU {cpu}")
    )
    print("  the variants of a group interleaved in slices of up to 50 ms")
    with tempfile.TemporaryDirectory(prefix="bench-gost-") as tmp:
        pki = generate_test_pki(Path(tmp) / "pki")
        speed = openssl_speed(1)
        raw = measure_raw(pki, seconds)
        rows = measure_envelopes(pki, sizes, seconds)
    hashes_ = measure_hashes(hash_size, seconds)

    print()
    print_raw(raw)
    if speed:
        print(
            f"  RSA-2048 sign in-process = {raw[RSA].sign.per_second / speed.sign_per_second:.2f}"
            f" of `openssl speed -seconds 1 rsa2048` ({speed.sign_per_second:.1f}/s,"
            f" {speed.version.split(' (')[0]} CLI)"
        )
    print()
    print_envelopes(rows)
    print()
    print_hashes(hashes_, hash_size)
    print()
    print_breakdown(raw, rows, hashes_, hash_size)
    print()
    print(f"Total time: {time.perf_counter() - started:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2 KiB envelopes only, 128 KiB hashed, shorter runs (about 30 s)",
    )
    args = parser.parse_args(argv)
    return run(quick=args.quick)


if __name__ == "__main__":
    sys.exit(main())

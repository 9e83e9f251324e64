"""The main job on embedded defaults, for the README's first command.

Generates a throw-away test PKI, builds a sample SyncChannel ``SendMessage``, signs it with the
NCA-style legacy PKCS#12 signer through the same loader users' keys go through, verifies it by
policy, and reports what happened in a few human lines.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from gateway.contracts import sync_channel
from gateway.envelope import build_sync_request
from gateway.identity import format_name, load_identity_from_path
from gateway.outfile import write_atomic
from gateway.testpki import generate_test_pki
from gateway.wssec import VerifyPolicy, make_signer, sign_envelope, verify_envelope

__all__ = ["run_demo"]

SAMPLE_SERVICE = "GBDFL_UniversalServiceSync"
SAMPLE_SENDER = "demo-system"
_SAMPLE_PAYLOAD = (
    '<p:Request xmlns:p="urn:example:gbdfl">'
    "<p:iin>931002451325</p:iin>"
    "<p:comment>Сәлем, ШЭП! Проверка подписи.</p:comment>"
    "</p:Request>"
)


@contextmanager
def _workdir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="shep-demo-") as tmp:
        yield Path(tmp)


def run_demo(workdir: Path | None = None) -> list[str]:
    """Run the demo and return the summary lines (files go to ``workdir`` if given)."""
    with _workdir(workdir) as root:
        now = datetime.now(UTC)
        pki = generate_test_pki(root / "pki", now=now)
        identity = load_identity_from_path(
            pki.signer_legacy_p12, password=pki.password.encode("utf-8")
        )
        signer = make_signer(identity)
        payload = etree.fromstring(_SAMPLE_PAYLOAD)
        envelope = build_sync_request(
            sync_channel(),
            service_id=SAMPLE_SERVICE,
            sender_id=SAMPLE_SENDER,
            password=None,
            data=payload,
            now=now,
        )
        signed = sign_envelope(envelope, signer, source="demo message")
        out_file = root / "signed-request.xml"
        write_atomic(out_file, signed)
        policy = VerifyPolicy(trusted_certs=(pki.ca.certificate,), time=now)
        result = verify_envelope(signed, policy, source=str(out_file))
        subject = format_name(result.certificate.subject)
        lines = [
            "shep demo: the main job on embedded defaults",
            f"  test PKI        {pki.directory if workdir else '(temporary directory)'}",
            f"  signing key     {identity.source} (NCA-style legacy PKCS#12)",
            f"  signer          {subject}",
            f"  message         SendMessage to {SAMPLE_SERVICE}, id {result.message_id}",
            f"  signature       {result.suite.name}, key ref {result.key_ref}, "
            f"{len(signed)} bytes signed envelope",
            f"  verification    valid (trusted CA: {format_name(pki.ca.certificate.subject)})",
        ]
        if workdir:
            lines.append(f"  signed envelope {out_file}")
        return lines

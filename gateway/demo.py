"""The main job on embedded defaults, for the README's first command.

A throw-away test PKI, the local gateway emulator on a free port of 127.0.0.1, and the real
client configured the way a user configures it (a ``shep.toml`` profile): signed messages
travel over HTTPS with mutual TLS to the emulator and back, and a short report says what
happened. Nothing leaves loopback.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from gateway.client import GatewayClient
from gateway.config import load_profile, open_client
from gateway.emulator import ECHO_NAMESPACE, emulator_config_from_pki, start_emulator
from gateway.errors import GatewayFaultError
from gateway.identity import Identity, format_name
from gateway.outfile import write_atomic
from gateway.testpki import TestPki, generate_test_pki
from gateway.wssec import make_signer
from gateway.xmlparse import parse_xml

__all__ = ["client_profile_toml", "run_demo", "write_client_profile"]

_SAMPLE_PAYLOAD = (
    '<p:Request xmlns:p="urn:example:gbdfl">'
    "<p:iin>931002451325</p:iin>"
    "<p:comment>Сәлем, ШЭП! Проверка подписи.</p:comment>"
    "</p:Request>"
).encode()
_ECHO_REQUEST = (
    f'<e:EchoRequest xmlns:e="{ECHO_NAMESPACE}"><e:message>hello</e:message>'
    "<e:count>3</e:count></e:EchoRequest>"
).encode()


def client_profile_toml(pki: TestPki, *, url: str, password_file: Path) -> str:
    """A ``shep.toml`` with a ``local`` profile for an emulator at ``url`` on this PKI."""

    def rel(path: Path) -> str:
        return path.relative_to(pki.directory).as_posix()

    return "\n".join(
        [
            "# Client profile for the local gateway emulator (test PKI; nothing real here).",
            'default_profile = "local"',
            "",
            "[profiles.local]",
            f'endpoint = "{url}/bip-sync-wss-gost/"',
            f'async_endpoint = "{url}/bip-async/"',
            f'ca_bundle = "{rel(pki.ca.cert_path)}"',
            'sender_id = "demo-system"',
            f'signing_key = "{rel(pki.signer_legacy_p12)}"',
            f'signing_password_file = "{rel(password_file)}"',
            f'tls_key = "{rel(pki.client_p12)}"',
            f'tls_password_file = "{rel(password_file)}"',
            f'response_trust = "{rel(pki.ca.cert_path)}"',
            "",
        ]
    )


def write_client_profile(pki: TestPki, *, url: str) -> Path:
    """Write ``shep.toml`` (and the test password file it names) into the PKI directory."""
    password_file = pki.directory / "password.txt"
    write_atomic(password_file, pki.password.encode() + b"\n", mode=0o600)
    path = pki.directory / "shep.toml"
    write_atomic(path, client_profile_toml(pki, url=url, password_file=password_file).encode())
    return path


@contextmanager
def _workdir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="shep-demo-") as tmp:
        yield Path(tmp)


def run_demo(workdir: Path | None = None) -> list[str]:
    """Run the demo and return the report lines (files stay in ``workdir`` if given)."""
    with _workdir(workdir) as root:
        pki = generate_test_pki(root / "pki")
        gateway_key = Identity(
            certificate=pki.auth.certificate, private_key=pki.auth.private_key, source="emulator"
        )
        config = replace(emulator_config_from_pki(pki), response_signer=make_signer(gateway_key))
        lines = ["shep demo: signed messages over HTTPS + mutual TLS to a local gateway emulator"]
        with start_emulator(config) as emulator:
            profile_path = write_client_profile(pki, url=emulator.url)
            profile = load_profile(profile_path, environ={})
            lines += [
                f"  emulator        {emulator.url} (client certificates from the test CA)",
                f"  client profile  {profile_path if workdir else 'shep.toml (temporary)'}",
                f"  signing key     {pki.signer_legacy_p12.name} (NCA-style legacy PKCS#12)",
            ]
            with open_client(profile, environ={}) as client:
                lines += _exchanges(client)
            # The same gateway, the transport signature made with NCA's current key type.
            gost_profile = replace(profile, signing_key=pki.signer_gost_p12)
            with open_client(gost_profile, environ={}) as client:
                answer = client.send("echo", parse_xml(_SAMPLE_PAYLOAD, source="sample").getroot())
                suite = client.signer.suite.name
            lines.append(
                f"  sync  echo      {answer.status_code}, signed with {suite} "
                f"({pki.signer_gost_p12.name[:16]}…, GOST 34.10-2015 in pure Python)"
            )
            accepted = len(emulator.accepted_message_ids())
        lines.append(f"  emulator        accepted {accepted} signed messages, stopped")
        return lines


def _exchanges(client: GatewayClient) -> list[str]:
    lines: list[str] = []
    payload = parse_xml(_SAMPLE_PAYLOAD, source="sample").getroot()
    answer = client.send("echo", payload)
    signer = format_name(answer.signed_by.subject) if answer.signed_by else "unsigned"
    lines.append(
        f"  sync  echo      {answer.status_code} {answer.status_message!r}, "
        f"message {answer.message_id}, answer signed by {signer.split(',')[0]}"
    )
    echoed = answer.data
    comment = echoed.findtext(".//{urn:example:gbdfl}comment") if echoed is not None else None
    lines.append(f"                  echoed payload: {comment}")

    text = client.send("echo", "<note>plain text payload &amp; escaped XML</note>")
    lines.append(f"  sync  echo      {text.status_code}, xs:string payload: {text.data_text!r}")

    checked = client.send("echo-xsd", parse_xml(_ECHO_REQUEST, source="echo").getroot())
    lines.append(f"  sync  echo-xsd  {checked.status_code}, payload valid against its XSD")

    try:
        client.send("no-such-service", payload)
    except GatewayFaultError as fault:
        lines.append(f"  sync  unknown   fault {fault.error_code}: {fault.message}")

    sent = client.send_async("echo", payload)
    replies = client.poll("echo", sent.correlation_id, timeout=10, interval=0.2)
    receipt = client.confirm(replies[0])
    lines.append(
        f"  async echo      sent {sent.message_id}, pulled {len(replies)} reply, "
        f"confirmed ({receipt.notification_id})"
    )
    return lines

"""GatewayClient and Transport over real HTTPS with mutual TLS to the emulator on 127.0.0.1."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from gateway.client import GatewayClient
from gateway.contracts import sync_channel
from gateway.emulator import EmulatorConfig, FaultPlan, emulator_config_from_pki, start_emulator
from gateway.emulator.server import RunningEmulator
from gateway.envelope import build_sync_request, find_fault, serialize
from gateway.errors import (
    ConfigError,
    ConnectError,
    GatewayFaultError,
    HttpStatusError,
    ResponseTooLargeError,
    TlsError,
    TransportError,
    TransportTimeoutError,
    VerificationError,
)
from gateway.identity import Identity, load_identity_from_path
from gateway.testpki import IssuedCert, TestPki, make_ca
from gateway.transport import RetryPolicy, Transport, TransportConfig
from gateway.wssec import Signer, VerifyPolicy, make_signer, sign_envelope
from gateway.xmlparse import parse_xml

FAST_RETRY = RetryPolicy(attempts=3, backoff=0.01, backoff_max=0.05, jitter=0.0)
PAYLOAD = '<p:Request xmlns:p="urn:p"><p:text>Сәлем</p:text></p:Request>'.encode()


def _identity(issued: IssuedCert) -> Identity:
    return Identity(certificate=issued.certificate, private_key=issued.private_key, source="test")


@pytest.fixture(scope="module")
def signer(pki: TestPki) -> Signer:
    return make_signer(load_identity_from_path(pki.signer_p12, password=pki.password.encode()))


@pytest.fixture(scope="module")
def tls_identity(pki: TestPki) -> Identity:
    """The mTLS client key from its PKCS#12 container, as users configure it."""
    return load_identity_from_path(pki.client_p12, password=pki.password.encode())


@pytest.fixture(scope="module")
def base_config(pki: TestPki) -> EmulatorConfig:
    return emulator_config_from_pki(pki)


@pytest.fixture(scope="module")
def emulator(base_config: EmulatorConfig) -> Iterator[RunningEmulator]:
    with start_emulator(base_config) as running:
        yield running


def _transport(pki: TestPki, identity: Identity | None, **changes: object) -> Transport:
    config = TransportConfig(
        ca_bundle=pki.ca.cert_path,
        client_identity=identity,
        connect_timeout=2.0,
        read_timeout=5.0,
        retry=FAST_RETRY,
    )
    return Transport(dataclasses.replace(config, **changes))  # type: ignore[arg-type]


def _client(
    pki: TestPki,
    running: RunningEmulator,
    signer: Signer,
    tls_identity: Identity,
    **options: object,
) -> GatewayClient:
    transport_changes = options.pop("transport", {})
    return GatewayClient(
        transport=_transport(pki, tls_identity, **transport_changes),  # type: ignore[arg-type]
        signer=signer,
        endpoint=running.sync_url,
        async_endpoint=running.async_url,
        sender_id=str(options.pop("sender_id", "demo-system")),
        sender_password=options.pop("sender_password", None),  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def client(
    pki: TestPki, emulator: RunningEmulator, signer: Signer, tls_identity: Identity
) -> Iterator[GatewayClient]:
    with _client(pki, emulator, signer, tls_identity) as gateway:
        yield gateway


def _payload() -> etree._Element:
    return parse_xml(PAYLOAD).getroot()


# --------------------------------------------------------------------------- success


def test_send_round_trip(client: GatewayClient, emulator: RunningEmulator) -> None:
    answer = client.send("echo", _payload(), message_id="m-success-1")
    assert answer.ok
    assert answer.status_code == "SCSS001"
    assert answer.message_id == "m-success-1"
    assert answer.data is not None
    assert answer.data.findtext(".//{urn:p}text") == "Сәлем"
    assert answer.attempts == 1
    assert "m-success-1" in emulator.accepted_message_ids()


def test_text_payload_round_trip(client: GatewayClient) -> None:
    answer = client.send("echo", "<x>escaped &amp; text</x>")
    assert answer.data_text == "<x>escaped &amp; text</x>"


def test_signed_response_is_verified_by_policy(
    pki: TestPki, base_config: EmulatorConfig, signer: Signer, tls_identity: Identity
) -> None:
    gateway_signer = make_signer(_identity(pki.auth))
    with start_emulator(dataclasses.replace(base_config, response_signer=gateway_signer)) as run:
        policy = VerifyPolicy(trusted_certs=(pki.ca.certificate,))
        with _client(
            pki, run, signer, tls_identity, response_policy=policy, require_signed_response=True
        ) as gateway:
            answer = gateway.send("echo", _payload())
        assert answer.signed_by == pki.auth.certificate
        other = make_ca(pki.directory / "client-other", "Client Other CA")
        strict = VerifyPolicy(trusted_certs=(other.certificate,))
        with _client(pki, run, signer, tls_identity, response_policy=strict) as gateway:
            with pytest.raises(VerificationError) as info:
                gateway.send("echo", _payload(), message_id="m-resp-untrusted")
        assert info.value.message_id == "m-resp-untrusted"


def test_unsigned_fault_is_reported_as_the_fault_even_when_signatures_are_required(
    pki: TestPki, emulator: RunningEmulator, signer: Signer, tls_identity: Identity
) -> None:
    """zeep #1197: the fault must win over 'response not signed'."""
    policy = VerifyPolicy(trusted_certs=(pki.ca.certificate,))
    with _client(
        pki, emulator, signer, tls_identity, response_policy=policy, require_signed_response=True
    ) as gateway:
        with pytest.raises(GatewayFaultError) as info:
            gateway.send("no-such-service", _payload(), message_id="m-fault-1")
    assert info.value.error_code == "ESRV001"
    assert info.value.message_id == "m-fault-1"
    with _client(
        pki, emulator, signer, tls_identity, response_policy=policy, require_signed_response=True
    ) as gateway:
        with pytest.raises(VerificationError):
            gateway.send("echo", _payload())  # a normal answer, unsigned: refused


def test_async_send_poll_confirm(client: GatewayClient) -> None:
    sent = client.send_async("echo", _payload())
    replies = client.poll("echo", sent.correlation_id, timeout=10, interval=0.05)
    assert len(replies) == 1
    assert replies[0].data.findtext(".//{urn:p}text") == "Сәлем"
    receipt = client.confirm(replies[0])
    assert receipt.notification_id
    assert client.get_messages("echo", correlation_id=sent.correlation_id) == ()


# --------------------------------------------------------------------------- gateway faults


def test_unknown_service_and_bad_credentials_are_typed_faults(
    pki: TestPki, emulator: RunningEmulator, signer: Signer, tls_identity: Identity
) -> None:
    with _client(pki, emulator, signer, tls_identity) as gateway:
        with pytest.raises(GatewayFaultError) as info:
            gateway.send("no-such-service", _payload())
        assert info.value.error_code == "ESRV001"
        assert "no-such-service" in str(info.value)
    with _client(
        pki,
        emulator,
        signer,
        tls_identity,
        sender_id="test-sender",
        sender_password="not-the-password",
    ) as gateway:
        with pytest.raises(GatewayFaultError) as info:
            gateway.send("echo", _payload())
        assert info.value.error_code == "EAUTH001"
        assert "not-the-password" not in str(info.value)


@pytest.mark.parametrize("which", ["signer_gost", "signer_gost256"])
def test_gost_signed_requests_are_accepted(
    which: str, pki: TestPki, emulator: RunningEmulator, tls_identity: Identity
) -> None:
    """A GOST 34.10-2015 transport signature (NCA's GOST512 keys) passes the emulator's
    VerifyPolicy over real mutual TLS, with the RSA AUTH-style key for TLS."""
    gost_signer = make_signer(
        load_identity_from_path(
            getattr(pki, which).key_path, cert_path=getattr(pki, which).cert_path
        )
    )
    assert gost_signer.suite.name.startswith("gost2015-")
    with _client(pki, emulator, gost_signer, tls_identity) as gateway:
        answer = gateway.send("echo", _payload(), message_id=f"m-{which}")
    assert answer.ok
    assert answer.data is not None
    assert answer.data.findtext(".//{urn:p}text") == "Сәлем"
    assert f"m-{which}" in emulator.accepted_message_ids()


def test_a_gost_key_cannot_be_the_tls_key(pki: TestPki) -> None:
    identity = load_identity_from_path(pki.signer_gost_p12, password=pki.password.encode())
    with pytest.raises(ConfigError, match="GOST key cannot be a TLS client key"):
        _transport(pki, identity)


def test_wrong_key_is_a_signature_fault(
    pki: TestPki, emulator: RunningEmulator, tls_identity: Identity
) -> None:
    stranger_ca = make_ca(pki.directory / "client-stranger", "Stranger CA")
    stranger = make_signer(_identity(pki.issue("client-stranger", issuer=stranger_ca)))
    with _client(pki, emulator, stranger, tls_identity) as gateway:
        with pytest.raises(GatewayFaultError) as info:
            gateway.send("echo", _payload(), message_id="m-wrong-key")
    assert info.value.error_code == "ESIGN001"
    assert info.value.error_data == "untrusted-certificate"
    assert info.value.message_id == "m-wrong-key"
    assert "m-wrong-key" not in emulator.accepted_message_ids()


@pytest.mark.parametrize("variant", ["unsigned", "tampered"])
def test_unsigned_and_tampered_messages_get_the_signature_fault(
    variant: str, pki: TestPki, emulator: RunningEmulator, signer: Signer, tls_identity: Identity
) -> None:
    envelope = build_sync_request(
        sync_channel(), service_id="echo", sender_id="demo-system", password=None, data=_payload()
    )
    body = serialize(envelope)
    if variant == "tampered":
        body = sign_envelope(envelope, signer).replace("Сәлем".encode(), b"Hello")
    with _transport(pki, tls_identity) as transport:
        answer = transport.post(emulator.sync_url, body)
    assert answer.status == 500
    fault = find_fault(parse_xml(answer.content).getroot())
    assert fault is not None
    assert fault.error_code == "ESIGN001"
    assert fault.error_data == ("no-signature" if variant == "unsigned" else "digest-mismatch")


# --------------------------------------------------------------------------- TLS


def test_client_without_certificate_is_refused_at_the_tls_layer(
    pki: TestPki, emulator: RunningEmulator
) -> None:
    with _transport(pki, None) as transport, pytest.raises(TlsError) as info:
        transport.post(emulator.sync_url, b"<x/>", message_id="m-no-cert")
    assert info.value.url == emulator.sync_url
    assert info.value.message_id == "m-no-cert"


def test_client_certificate_from_another_ca_is_refused(
    pki: TestPki, emulator: RunningEmulator
) -> None:
    other = make_ca(pki.directory / "tls-other", "Other TLS CA")
    wrong = _identity(pki.issue("tls-wrong-client", issuer=other, usage="tls-client"))
    with _transport(pki, wrong) as transport, pytest.raises(TlsError):
        transport.post(emulator.sync_url, b"<x/>")


def test_server_from_an_untrusted_ca_is_refused(
    pki: TestPki, emulator: RunningEmulator, tls_identity: Identity
) -> None:
    other = make_ca(pki.directory / "server-other", "Other Server CA")
    with _transport(pki, tls_identity, ca_bundle=other.cert_path) as transport:
        with pytest.raises(TlsError) as info:
            transport.post(emulator.sync_url, b"<x/>")
    assert "certificate verify failed" in str(info.value)


def test_environment_ca_bundle_and_proxy_variables_change_nothing(
    pki: TestPki,
    emulator: RunningEmulator,
    signer: Signer,
    tls_identity: Identity,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    bogus = tmp_path / "bogus-ca.pem"
    bogus.write_text("not a certificate")
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(name, str(bogus))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    with _client(pki, emulator, signer, tls_identity) as gateway:
        assert gateway.send("echo", _payload()).ok


def test_plain_http_is_refused(pki: TestPki, tls_identity: Identity) -> None:
    with _transport(pki, tls_identity) as transport, pytest.raises(Exception, match="https"):
        transport.post("http://127.0.0.1:9/bip-sync/", b"<x/>")


def test_nothing_listening_is_a_connect_error_after_retries(
    pki: TestPki, tls_identity: Identity
) -> None:
    with _transport(pki, tls_identity) as transport, pytest.raises(ConnectError) as info:
        transport.post("https://127.0.0.1:9/bip-sync-wss-gost/", b"<x/>", message_id="m-c")
    assert "after 3 attempts" in str(info.value)


# --------------------------------------------------------------------------- retries, limits


@pytest.fixture
def faulty(base_config: EmulatorConfig) -> Iterator[object]:
    def start(**plan: object) -> RunningEmulator:
        running = start_emulator(dataclasses.replace(base_config, faults=FaultPlan(**plan)))  # type: ignore[arg-type]
        started.append(running)
        return running

    started: list[RunningEmulator] = []
    yield start
    for running in started:
        running.stop()


def test_injected_503s_are_retried_then_surface_typed(
    faulty: object, pki: TestPki, signer: Signer, tls_identity: Identity
) -> None:
    running = faulty(unavailable_rate=1.0, seed=1, retry_after=0)  # type: ignore[operator]
    with _client(pki, running, signer, tls_identity) as gateway:
        with pytest.raises(HttpStatusError) as info:
            gateway.send("echo", _payload(), message_id="m-503")
    assert info.value.status == 503
    assert info.value.message_id == "m-503"
    assert "after 3 attempts" in str(info.value)
    assert running.accepted_message_ids() == []  # 503 means "not taken"


def test_some_503s_are_absorbed_by_retries(
    faulty: object, pki: TestPki, signer: Signer, tls_identity: Identity
) -> None:
    running = faulty(unavailable_rate=0.3, seed=7, retry_after=0)  # type: ignore[operator]
    retry = RetryPolicy(attempts=6, backoff=0.001, backoff_max=0.01, jitter=0.0)
    with _client(pki, running, signer, tls_identity, transport={"retry": retry}) as gateway:
        answers = [gateway.send("echo", _payload()) for _ in range(20)]
    assert all(a.ok for a in answers)
    assert any(a.attempts > 1 for a in answers)  # seed 7 injects some 503s
    assert len(running.accepted_message_ids()) == 20


def test_read_timeouts_are_resent_with_the_same_message_id_then_typed(
    faulty: object, pki: TestPki, signer: Signer, tls_identity: Identity
) -> None:
    running = faulty(latency=1.0)  # type: ignore[operator]
    changes = {
        "read_timeout": 0.2,
        "retry": dataclasses.replace(FAST_RETRY, resend_after_send=True),
    }
    with _client(pki, running, signer, tls_identity, transport=changes) as gateway:
        with pytest.raises(TransportTimeoutError) as info:
            gateway.send("echo", _payload(), message_id="m-slow")
    assert "after 3 attempts" in str(info.value)


def test_dropped_answers_are_not_resent_unless_allowed(
    faulty: object, pki: TestPki, signer: Signer, tls_identity: Identity
) -> None:
    running = faulty(drop_rate=1.0)  # type: ignore[operator]
    with _client(pki, running, signer, tls_identity) as gateway:
        with pytest.raises(TransportError) as info:
            gateway.send("echo", _payload(), message_id="m-drop-once")
    assert "broken off" in str(info.value)
    assert running.accepted_message_ids() == ["m-drop-once"]

    resend = {"retry": dataclasses.replace(FAST_RETRY, resend_after_send=True)}
    with _client(pki, running, signer, tls_identity, transport=resend) as gateway:
        with pytest.raises(TransportError):
            gateway.send("echo", _payload(), message_id="m-drop-3")
    # every resend carried the same messageId: duplicates are recognisable
    assert running.accepted_message_ids().count("m-drop-3") == 3


def test_response_size_limit(
    pki: TestPki, emulator: RunningEmulator, signer: Signer, tls_identity: Identity
) -> None:
    with _client(
        pki, emulator, signer, tls_identity, transport={"max_response_bytes": 512}
    ) as gateway:
        with pytest.raises(ResponseTooLargeError):
            gateway.send("echo", _payload())


def test_client_repr_holds_no_password(
    pki: TestPki, emulator: RunningEmulator, signer: Signer, tls_identity: Identity
) -> None:
    with _client(
        pki,
        emulator,
        signer,
        tls_identity,
        sender_id="test-sender",
        sender_password="test-sender-password",
    ) as gateway:
        assert "test-sender-password" not in repr(gateway)
        assert gateway.send("echo", _payload()).ok


def test_transport_ignores_sslkeylogfile(
    pki: TestPki, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SSLKEYLOGFILE", str(tmp_path / "keys.log"))
    transport = _transport(pki, None)
    adapter = transport._session.get_adapter("https://gateway.example/")
    assert adapter._context.keylog_filename is None  # type: ignore[attr-defined]


def test_credentials_in_urls_never_reach_reprs_or_errors(pki: TestPki) -> None:
    config = TransportConfig(ca_bundle=pki.ca.cert_path, proxy="http://u:proxy-pw@proxy:3128")
    assert "proxy-pw" not in repr(config)
    transport = _transport(pki, None)
    with pytest.raises(ConfigError) as error:
        transport.post("https://user:endpoint-pw@127.0.0.1:1/bip-sync/", b"<x/>")
    assert "endpoint-pw" not in str(error.value)

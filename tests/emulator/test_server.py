"""gateway.emulator: a real HTTPS server with mutual TLS on 127.0.0.1, checked with requests.

Every test talks to the emulator over the network, as a client would: TLS refusals are
looked for at the TLS layer, faults are read from the bytes that came back.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from lxml import etree

from gateway.contracts import async_channel, sync_channel
from gateway.emulator import (
    ECHO_NAMESPACE,
    EMULATOR_SENDER_ID,
    EmulatorConfig,
    ErrorCode,
    FaultPlan,
    HandlerError,
    RequestInfo,
    RunningEmulator,
    echo_handler,
    emulator_config_from_pki,
    start_emulator,
    xsd_handler,
)
from gateway.envelope import (
    Fault,
    MessageType,
    Payload,
    TypedPayload,
    build_async_request,
    build_delivery_notification,
    build_get_messages_request,
    build_sync_request,
    find_body_element,
    find_fault,
    find_header,
    parse_async_send_response,
    parse_delivery_notification_response,
    parse_get_messages_response,
    parse_sync_response,
    serialize,
)
from gateway.errors import ConfigError
from gateway.identity import Identity, load_identity_from_path
from gateway.testpki import IssuedCert, TestPki, make_ca
from gateway.wssec import Signer, VerifyPolicy, make_signer, sign_envelope, verify_envelope
from gateway.xmlparse import parse_xml

SENDER_PASSWORD = "test-sender-password"
TIMEOUT = 10
XML = "text/xml; charset=utf-8"
INVALID_ECHO = f"""<e:EchoRequest xmlns:e="{ECHO_NAMESPACE}">
  <e:message>hello</e:message>
  <e:count>0</e:count>
</e:EchoRequest>"""


# --------------------------------------------------------------------------- fixtures


def _identity(issued: IssuedCert) -> Identity:
    return Identity(
        private_key=issued.private_key,
        certificate=issued.certificate,
        chain=(),
        source=str(issued.key_path),
    )


@pytest.fixture(scope="module")
def signer(pki: TestPki) -> Signer:
    return make_signer(load_identity_from_path(pki.signer_p12, password=pki.password.encode()))


@pytest.fixture(scope="module")
def other_ca(pki: TestPki) -> IssuedCert:
    return make_ca(pki.directory / "emulator-other", "Emulator Stranger CA")


@pytest.fixture(scope="module")
def signer_from_untrusted_ca(pki: TestPki, other_ca: IssuedCert) -> Signer:
    return make_signer(_identity(pki.issue("emulator-stranger", issuer=other_ca)))


@pytest.fixture(scope="module")
def client_cert_from_wrong_ca(pki: TestPki, other_ca: IssuedCert) -> IssuedCert:
    return pki.issue("emulator-wrong-client", issuer=other_ca, usage="tls-client")


def _strict_schema(directory: Path) -> Path:
    path = directory / "strict.xsd"
    path.write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:strict"'
        ' xmlns:s="urn:strict" elementFormDefault="qualified">\n'
        '  <xs:element name="Order" type="s:Order"/>\n'
        '  <xs:complexType name="Order"><xs:sequence>\n'
        '    <xs:element name="qty" type="xs:positiveInteger"/>\n'
        "  </xs:sequence></xs:complexType>\n"
        "</xs:schema>\n",
        encoding="utf-8",
    )
    return path


def _refuse(request: RequestInfo) -> Payload:
    raise HandlerError("SVC042", "the service refuses this request", data="policy")


def _crash(request: RequestInfo) -> Payload:
    raise RuntimeError(f"secret detail {request.data_text}")


@pytest.fixture(scope="module")
def config(pki: TestPki) -> EmulatorConfig:
    base = emulator_config_from_pki(pki)
    services = {
        **base.services,
        "strict": xsd_handler(_strict_schema(pki.directory)),
        "refuse": _refuse,
        "crash": _crash,
    }
    return dataclasses.replace(base, services=services, max_body_bytes=256 * 1024)


@pytest.fixture(scope="module")
def emulator(config: EmulatorConfig) -> Iterator[RunningEmulator]:
    with start_emulator(config) as running:
        yield running


@pytest.fixture(scope="module")
def signing_emulator(config: EmulatorConfig, signer: Signer) -> Iterator[RunningEmulator]:
    with start_emulator(dataclasses.replace(config, response_signer=signer)) as running:
        yield running


@pytest.fixture
def client(pki: TestPki) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        session.verify = str(pki.ca.cert_path)
        session.cert = (str(pki.client.cert_path), str(pki.client.key_path))
        yield session


def post(
    session: requests.Session, url: str, body: bytes, content_type: str = XML
) -> requests.Response:
    return session.post(url, data=body, headers={"Content-Type": content_type}, timeout=TIMEOUT)


def sync_request(signer: Signer | None, **overrides: Any) -> tuple[str, bytes]:
    """A SendMessage to the echo service; signed unless ``signer`` is None."""
    arguments: dict[str, Any] = {
        "service_id": "echo",
        "sender_id": "demo-system",
        "password": None,
        "data": "hello",
    }
    arguments.update(overrides)
    envelope = build_sync_request(sync_channel(), **arguments)
    message_id = find_body_element(envelope).findtext("request/requestInfo/messageId")
    assert message_id is not None
    body = serialize(envelope) if signer is None else sign_envelope(envelope, signer)
    return message_id, body


def fault_of(response: requests.Response) -> Fault:
    assert response.status_code == 500, response.text[:300]
    assert response.headers["content-type"].startswith("text/xml")
    envelope = parse_xml(response.content).getroot()
    assert find_header(envelope) is None  # faults are unsigned
    fault = find_fault(envelope)
    assert fault is not None
    return fault


# --------------------------------------------------------------------------- success


def test_echo_round_trip(
    emulator: RunningEmulator, client: requests.Session, signer: Signer
) -> None:
    message_id, body = sync_request(signer, data="<x>Сәлем</x>", correlation_id="c-1")
    response = post(client, emulator.sync_url, body)
    assert response.status_code == 200
    assert response.headers["content-type"] == XML
    envelope = parse_xml(response.content).getroot()
    assert find_fault(envelope) is None
    assert find_header(envelope) is None  # no response_signer: unsigned
    parsed = parse_sync_response(envelope, sync_channel())
    assert parsed.ok
    assert parsed.data_text == "<x>Сәлем</x>"
    assert (parsed.message_id, parsed.correlation_id) == (message_id, "c-1")
    assert parsed.session_id is not None
    assert message_id in emulator.accepted_message_ids()


@pytest.mark.parametrize("path", ["/bip-sync-wss-gost/", "/shep/bip-sync-wss-gost/", "/bip-sync"])
def test_every_sync_path_answers(
    emulator: RunningEmulator, client: requests.Session, signer: Signer, path: str
) -> None:
    _, body = sync_request(signer)
    assert post(client, emulator.url + path, body).status_code == 200


def test_typed_and_element_payloads_come_back_in_their_form(
    emulator: RunningEmulator, client: requests.Session, signer: Signer
) -> None:
    element = etree.fromstring(
        b'<p:Request xmlns:p="urn:p"><p:iin>931002451325</p:iin></p:Request>'
    )
    typed = TypedPayload(element=element, xsi_type=etree.QName("urn:p", "Request"))
    for payload in (typed, element):
        _, body = sync_request(signer, data=payload)
        response = post(client, emulator.sync_url, body)
        data = parse_sync_response(parse_xml(response.content).getroot(), sync_channel()).data
        assert data is not None
        if payload is typed:
            assert data.get("{http://www.w3.org/2001/XMLSchema-instance}type", "").endswith(
                ":Request"
            )
            assert data.findtext("{urn:p}iin") == "931002451325"
        else:
            assert data.findtext("{urn:p}Request/{urn:p}iin") == "931002451325"


def test_signed_response_verifies(
    signing_emulator: RunningEmulator, client: requests.Session, signer: Signer, pki: TestPki
) -> None:
    message_id, body = sync_request(signer)
    response = post(client, signing_emulator.sync_url, body)
    assert response.status_code == 200
    verified = verify_envelope(response.content, VerifyPolicy(trusted_certs=(pki.ca.certificate,)))
    parsed = parse_sync_response(verified.envelope, sync_channel())
    assert parsed.message_id == message_id
    assert parsed.data_text == "hello"


def test_faults_stay_unsigned_with_a_response_signer(
    signing_emulator: RunningEmulator, client: requests.Session
) -> None:
    _, body = sync_request(None)
    assert fault_of(post(client, signing_emulator.sync_url, body)).error_code == "ESIGN001"


def test_sequential_keep_alive_requests_share_one_nodelay_connection(
    pki: TestPki, config: EmulatorConfig, client: requests.Session, signer: Signer
) -> None:
    _, body = sync_request(signer)
    with start_emulator(config) as emulator:
        for _ in range(20):
            assert post(client, emulator.sync_url, body).status_code == 200
        # One keep-alive connection, and the server side of it has Nagle off: without
        # TCP_NODELAY each response would wait for the client's delayed ACK (~40 ms).
        assert emulator.tcp_nodelay_flags() == [True]


def test_concurrent_requests(emulator: RunningEmulator, pki: TestPki, signer: Signer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    bodies = [sync_request(signer, data=f"n{index}") for index in range(16)]

    def send(body: bytes) -> str | None:
        with requests.Session() as session:
            session.trust_env = False
            session.verify = str(pki.ca.cert_path)
            session.cert = (str(pki.client.cert_path), str(pki.client.key_path))
            response = post(session, emulator.sync_url, body)
            return parse_sync_response(
                parse_xml(response.content).getroot(), sync_channel()
            ).data_text

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(send, [body for _, body in bodies]))
    assert answers == [f"n{index}" for index in range(16)]


# --------------------------------------------------------------------------- TLS


def _raw_exchange(port: int, context: ssl.SSLContext) -> bytes:
    """Handshake, send a request, read: what a client gets without an acceptable cert."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"POST /bip-sync/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        return tls.recv(64)


@pytest.mark.parametrize("tls_version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
@pytest.mark.parametrize("client_cert", ["none", "wrong-ca"])
def test_clients_without_an_accepted_certificate_are_refused_by_tls(
    emulator: RunningEmulator,
    pki: TestPki,
    client_cert_from_wrong_ca: IssuedCert,
    client_cert: str,
    tls_version: ssl.TLSVersion,
) -> None:
    context = ssl.create_default_context(cafile=str(pki.ca.cert_path))
    context.minimum_version = context.maximum_version = tls_version
    if client_cert == "wrong-ca":
        context.load_cert_chain(
            client_cert_from_wrong_ca.cert_path, client_cert_from_wrong_ca.key_path
        )
    # TLS 1.2 fails in the handshake; TLS 1.3 clients finish theirs first and then find the
    # connection closed. Either way no HTTP byte ever comes back.
    try:
        answer = _raw_exchange(emulator.port, context)
    except (ssl.SSLError, ConnectionError):
        return
    assert answer == b""


@pytest.mark.parametrize("client_cert", ["none", "wrong-ca"])
def test_requests_sees_a_connection_error_not_an_http_response(
    emulator: RunningEmulator,
    pki: TestPki,
    signer: Signer,
    client_cert_from_wrong_ca: IssuedCert,
    client_cert: str,
) -> None:
    _, body = sync_request(signer)
    with requests.Session() as session:
        session.trust_env = False
        session.verify = str(pki.ca.cert_path)
        if client_cert == "wrong-ca":
            session.cert = (
                str(client_cert_from_wrong_ca.cert_path),
                str(client_cert_from_wrong_ca.key_path),
            )
        with pytest.raises(requests.exceptions.ConnectionError):
            post(session, emulator.sync_url, body)


# --------------------------------------------------------------------------- signature faults


def test_unsigned_request_is_a_signature_fault(
    emulator: RunningEmulator, client: requests.Session
) -> None:
    message_id, body = sync_request(None)
    fault = fault_of(post(client, emulator.sync_url, body))
    assert (fault.fault_code, fault.error_code, fault.error_data) == (
        "Client",
        ErrorCode.SIGNATURE_INVALID,
        "no-signature",
    )
    assert fault.operation == "SendMessage"
    assert fault.session_id is not None
    assert message_id not in emulator.accepted_message_ids()


def test_tampered_request_is_a_signature_fault(
    emulator: RunningEmulator, client: requests.Session, signer: Signer
) -> None:
    message_id, body = sync_request(signer, data="pay 100")
    tampered = body.replace(b"pay 100", b"pay 900")
    assert tampered != body
    fault = fault_of(post(client, emulator.sync_url, tampered))
    assert (fault.error_code, fault.error_data) == (ErrorCode.SIGNATURE_INVALID, "digest-mismatch")
    assert "digest-mismatch" in (fault.error_message or "")
    assert message_id not in emulator.accepted_message_ids()


def test_untrusted_signer_is_a_signature_fault(
    emulator: RunningEmulator, client: requests.Session, signer_from_untrusted_ca: Signer
) -> None:
    _, body = sync_request(signer_from_untrusted_ca)
    fault = fault_of(post(client, emulator.sync_url, body))
    assert (fault.error_code, fault.error_data) == (
        ErrorCode.SIGNATURE_INVALID,
        "untrusted-certificate",
    )


def test_unsigned_paths_skip_the_signature_check(
    config: EmulatorConfig, client: requests.Session
) -> None:
    _, body = sync_request(None)
    with start_emulator(
        dataclasses.replace(config, unsigned_paths=frozenset({"/bip-sync"}))
    ) as emu:
        assert post(client, emu.url + "/bip-sync/", body).status_code == 200
        assert fault_of(post(client, emu.sync_url, body)).error_code == "ESIGN001"


# --------------------------------------------------------------------------- routing and senders


def test_unknown_service(
    emulator: RunningEmulator, client: requests.Session, signer: Signer
) -> None:
    _, body = sync_request(signer, service_id="GBDFL_UniversalServiceSync")
    fault = fault_of(post(client, emulator.sync_url, body))
    assert (fault.error_code, fault.error_data) == (
        ErrorCode.UNKNOWN_SERVICE,
        "GBDFL_UniversalServiceSync",
    )


@pytest.mark.parametrize(
    ("sender_id", "password"),
    [
        ("test-sender", "wrong-password"),
        ("test-sender", None),
        ("nobody", SENDER_PASSWORD),
    ],
    ids=["wrong-password", "missing-password", "unknown-sender"],
)
def test_bad_credentials(
    *,
    emulator: RunningEmulator,
    client: requests.Session,
    signer: Signer,
    caplog: pytest.LogCaptureFixture,
    sender_id: str,
    password: str | None,
) -> None:
    caplog.set_level(logging.DEBUG)
    message_id, body = sync_request(signer, sender_id=sender_id, password=password)
    response = post(client, emulator.sync_url, body)
    fault = fault_of(response)
    assert (fault.error_code, fault.error_data) == (ErrorCode.BAD_CREDENTIALS, sender_id)
    assert message_id not in emulator.accepted_message_ids()
    for secret in (SENDER_PASSWORD, "wrong-password"):
        assert secret not in response.text + caplog.text


def test_right_password_is_accepted(
    emulator: RunningEmulator, client: requests.Session, signer: Signer
) -> None:
    message_id, body = sync_request(signer, sender_id="test-sender", password=SENDER_PASSWORD)
    assert post(client, emulator.sync_url, body).status_code == 200
    assert message_id in emulator.accepted_message_ids()


def test_handler_errors_become_faults(
    emulator: RunningEmulator,
    client: requests.Session,
    signer: Signer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    _, body = sync_request(signer, service_id="refuse")
    fault = fault_of(post(client, emulator.sync_url, body))
    assert (fault.fault_code, fault.error_code, fault.error_data) == ("Client", "SVC042", "policy")

    _, body = sync_request(signer, service_id="crash", data="payload-text")
    response = post(client, emulator.sync_url, body)
    fault = fault_of(response)
    assert (fault.fault_code, fault.error_code) == ("Server", ErrorCode.INTERNAL_ERROR)
    assert "RuntimeError" in (fault.error_message or "")
    assert "payload-text" not in response.text + caplog.text  # bodies are never logged


# --------------------------------------------------------------------------- malformed input


def _schema_invalid(signer: Signer) -> bytes:
    envelope = build_sync_request(
        sync_channel(), service_id="echo", sender_id="demo-system", password=None, data="x"
    )
    date = find_body_element(envelope).find("request/requestInfo/messageDate")
    assert date is not None
    date.text = "2023-02-13T11:17:26+0600"
    return sign_envelope(envelope, signer)


def _soap12(signer: Signer) -> bytes:
    return sign_envelope(
        b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body>'
        b'<t:SendMessage xmlns:t="http://bip.bee.kz/SyncChannel/v10/Types"/></e:Body></e:Envelope>',
        signer,
    )


def _response_as_request(signer: Signer) -> bytes:
    return sign_envelope(
        (Path(__file__).parents[1] / "data" / "envelopes" / "sync_response.xml").read_bytes(),
        signer,
    )


MALFORMED = {
    "not-xml": (lambda s: b"<soap:Envelope", "malformed-xml"),
    "xxe": (
        lambda s: (
            b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>&x;'
            b"</e:Body></e:Envelope>"
        ),
        "hostile-xml",
    ),
    "billion-laughs": (
        lambda s: b'<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>',
        "hostile-xml",
    ),
    "not-an-envelope": (lambda s: b"<hello/>", "malformed-envelope"),
    "soap12": (_soap12, "soap-version"),
    "response-as-request": (_response_as_request, "unknown-operation"),
    "schema-invalid": (_schema_invalid, "request.requestInfo.messageDate"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_requests_are_faults(
    emulator: RunningEmulator, client: requests.Session, signer: Signer, case: str
) -> None:
    make, data = MALFORMED[case]
    response = post(client, emulator.sync_url, make(signer))
    fault = fault_of(response)
    assert fault.error_code == ErrorCode.MALFORMED_ENVELOPE
    if case == "schema-invalid":
        assert "messageDate" in (fault.error_data or "")
    else:
        assert fault.error_data == data
    assert b"root:" not in response.content  # no file was ever read


# --------------------------------------------------------------------------- payload schemas


def test_echo_xsd_accepts_a_valid_payload(
    emulator: RunningEmulator, client: requests.Session, signer: Signer
) -> None:
    valid = INVALID_ECHO.replace("<e:count>0</e:count>", "<e:count>2</e:count>")
    _, body = sync_request(signer, service_id="echo-xsd", data=valid)
    response = post(client, emulator.sync_url, body)
    assert response.status_code == 200
    parsed = parse_sync_response(parse_xml(response.content).getroot(), sync_channel())
    assert parsed.data_text == valid


def test_echo_xsd_rejects_an_invalid_payload_with_its_line(
    emulator: RunningEmulator, client: requests.Session, signer: Signer
) -> None:
    _, body = sync_request(signer, service_id="echo-xsd", data=INVALID_ECHO)
    fault = fault_of(post(client, emulator.sync_url, body))
    assert fault.error_code == ErrorCode.PAYLOAD_INVALID
    assert fault.error_data is not None
    assert fault.error_data.startswith("line 3, column ")  # the payload text's line
    assert "count" in (fault.error_message or "")


@pytest.mark.parametrize("form", ["typed", "element", "text"])
def test_xsd_handler_checks_every_payload_form(
    emulator: RunningEmulator, client: requests.Session, signer: Signer, form: str
) -> None:
    order = etree.fromstring(b'<s:Order xmlns:s="urn:strict"><s:qty>-1</s:qty></s:Order>')
    payloads: dict[str, Payload] = {
        "typed": TypedPayload(element=order, xsi_type=etree.QName("urn:strict", "Order")),
        "element": order,
        "text": etree.tostring(order, encoding="unicode"),
    }
    _, body = sync_request(signer, service_id="strict", data=payloads[form])
    fault = fault_of(post(client, emulator.sync_url, body))
    assert fault.error_code == ErrorCode.PAYLOAD_INVALID
    assert (fault.error_data or "").startswith("line ")
    assert "qty" in (fault.error_message or "")


def test_xsd_handler_refuses_an_unusable_schema(tmp_path: Path) -> None:
    path = tmp_path / "broken.xsd"
    path.write_text('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:nope/></xs:schema>')
    with pytest.raises(ConfigError) as caught:
        xsd_handler(path)
    assert caught.value.file == str(path)
    with pytest.raises(ConfigError) as caught:
        xsd_handler(tmp_path / "missing.xsd")
    assert caught.value.file == str(tmp_path / "missing.xsd")


# --------------------------------------------------------------------------- HTTP rules


def test_http_rules(emulator: RunningEmulator, client: requests.Session, signer: Signer) -> None:
    _, body = sync_request(signer)
    get = client.get(emulator.sync_url, timeout=TIMEOUT)
    assert (get.status_code, get.headers["allow"]) == (405, "POST")
    assert post(client, emulator.sync_url, body, "application/soap+xml").status_code == 415
    assert post(client, emulator.url + "/nowhere/", body).status_code == 404
    too_big = body + b" " * (256 * 1024)
    refused = post(client, emulator.sync_url, too_big)
    assert refused.status_code == 413
    assert "connection" not in refused.headers  # read to the end: the connection stays usable
    assert post(client, emulator.sync_url, body).status_code == 200


def test_huge_declared_bodies_are_refused_without_reading_them(
    emulator: RunningEmulator, pki: TestPki
) -> None:
    context = ssl.create_default_context(cafile=str(pki.ca.cert_path))
    context.load_cert_chain(pki.client.cert_path, pki.client.key_path)
    head = (
        b"POST /bip-sync-wss-gost/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: text/xml\r\nContent-Length: 1000000000\r\n\r\n"
    )
    with (
        socket.create_connection(("127.0.0.1", emulator.port), timeout=TIMEOUT) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(head)
        answer = b""
        while chunk := tls.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"\r\nconnection: close\r\n" in answer.lower()


# --------------------------------------------------------------------------- fault injection


def _outcomes(
    emulator: RunningEmulator, session: requests.Session, body: bytes, n: int
) -> list[str]:
    seen: list[str] = []
    for _ in range(n):
        try:
            response = post(session, emulator.sync_url, body)
        except requests.exceptions.ChunkedEncodingError:
            seen.append("drop")
            continue
        if response.status_code == 503:
            assert response.headers["retry-after"] == "1"
            seen.append("503")
        elif response.status_code == 500:
            fault = fault_of(response)
            assert (fault.error_code, fault.error_data) == (ErrorCode.INTERNAL_ERROR, "injected")
            seen.append("500")
        else:
            assert response.status_code == 200
            seen.append("ok")
    return seen


PLAN = FaultPlan(seed=11, unavailable_rate=0.2, error_rate=0.1, drop_rate=0.1)


def test_injected_faults_happen_at_their_rates(
    config: EmulatorConfig, client: requests.Session, signer: Signer
) -> None:
    message_id, body = sync_request(signer)
    with start_emulator(dataclasses.replace(config, faults=PLAN)) as emulator:
        seen = _outcomes(emulator, client, body, 200)
        accepted = emulator.accepted_message_ids()
    counts = collections.Counter(seen)
    assert 20 <= counts["503"] <= 65
    assert 6 <= counts["500"] <= 38
    assert 6 <= counts["drop"] <= 38
    # 503 and 500 come before the message is looked at; a drop comes after it was accepted.
    assert accepted == [message_id] * (counts["ok"] + counts["drop"])


def test_injected_faults_are_reproducible(
    config: EmulatorConfig, client: requests.Session, signer: Signer
) -> None:
    _, body = sync_request(signer)
    runs = []
    for seed in (11, 11, 12):
        plan = dataclasses.replace(PLAN, seed=seed)
        with start_emulator(dataclasses.replace(config, faults=plan)) as emulator:
            runs.append(_outcomes(emulator, client, body, 30))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert set(runs[0]) == {"ok", "503", "500", "drop"}


def test_latency_and_slow_bodies_still_deliver(
    config: EmulatorConfig, client: requests.Session, signer: Signer
) -> None:
    _, body = sync_request(signer)
    plan = FaultPlan(latency=0.05, slow_body=0.1)
    with start_emulator(dataclasses.replace(config, faults=plan)) as emulator:
        response = post(client, emulator.sync_url, body)
    assert response.status_code == 200
    assert response.headers.get("transfer-encoding") == "chunked"
    assert parse_sync_response(parse_xml(response.content).getroot(), sync_channel()).ok


@pytest.mark.parametrize(
    "bad",
    [
        {"error_rate": 1.5},
        {"error_rate": 0.6, "drop_rate": 0.6},
        {"latency": -1.0},
        {"slow_body": float("nan")},
        {"retry_after": -1},
    ],
)
def test_fault_plan_is_checked(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        FaultPlan(**bad)


# --------------------------------------------------------------------------- accepted ids


def test_accepted_ids_record_only_accepted_messages(
    config: EmulatorConfig, client: requests.Session, signer: Signer
) -> None:
    accepted_id, accepted = sync_request(signer)
    _, unsigned = sync_request(None)
    _, bad_password = sync_request(signer, sender_id="test-sender", password="nope")
    with start_emulator(config) as emulator:
        for body in (accepted, unsigned, accepted, bad_password, b"<junk"):
            post(client, emulator.sync_url, body)
        assert emulator.accepted_message_ids() == [accepted_id, accepted_id]


# --------------------------------------------------------------------------- AsyncChannel


def test_async_send_pull_and_confirm(
    emulator: RunningEmulator, client: requests.Session, signer: Signer
) -> None:
    contract = async_channel()
    request = build_async_request(
        contract, service_id="echo", sender_id="test-sender", password=SENDER_PASSWORD, data="ping"
    )
    sent = post(client, emulator.async_url, sign_envelope(request, signer))
    assert sent.status_code == 200, sent.text[:300]
    receipt = parse_async_send_response(parse_xml(sent.content).getroot(), contract)
    assert receipt.correlation_id == receipt.message_id  # a REQUEST starts its own chain
    assert receipt.message_id in emulator.accepted_message_ids()

    def pull(**kwargs: Any) -> requests.Response:
        envelope = build_get_messages_request(contract, service_id="echo", **kwargs)
        return post(client, emulator.async_url, sign_envelope(envelope, signer))

    pulled = pull(
        correlation_id=receipt.correlation_id, sender_id="test-sender", password=SENDER_PASSWORD
    )
    messages = parse_get_messages_response(parse_xml(pulled.content).getroot(), contract).messages
    assert len(messages) == 1
    answer = messages[0]
    assert (answer.correlation_id, answer.message_type, answer.sender_id) == (
        receipt.correlation_id,
        MessageType.RESPONSE,
        EMULATOR_SENDER_ID,
    )
    assert answer.data_text == "ping"
    assert answer.message_id is not None

    anonymous = build_delivery_notification(
        contract, message_id=answer.message_id, service_id="echo"
    )
    refused = fault_of(post(client, emulator.async_url, sign_envelope(anonymous, signer)))
    assert refused.error_code == ErrorCode.BAD_CREDENTIALS  # no sender: nobody's messages
    stranger = pull(correlation_id=receipt.correlation_id, sender_id="demo-system")
    assert (
        parse_get_messages_response(parse_xml(stranger.content).getroot(), contract).messages == ()
    )

    notice = build_delivery_notification(
        contract,
        message_id=answer.message_id,
        service_id="echo",
        sender_id="test-sender",
        password=SENDER_PASSWORD,
    )
    confirmed = post(client, emulator.async_url, sign_envelope(notice, signer))
    assert confirmed.status_code == 200
    parse_delivery_notification_response(parse_xml(confirmed.content).getroot(), contract)

    again = pull(
        correlation_id=receipt.correlation_id, sender_id="test-sender", password=SENDER_PASSWORD
    )
    assert parse_get_messages_response(parse_xml(again.content).getroot(), contract).messages == ()
    twice = post(client, emulator.async_url, sign_envelope(notice, signer))
    fault = fault_of(twice)
    assert (fault.error_code, fault.operation) == (
        ErrorCode.UNKNOWN_MESSAGE,
        "sendDeliveryNotification",
    )


def test_async_unknown_correlation_and_unsigned_requests(
    emulator: RunningEmulator, client: requests.Session, signer: Signer
) -> None:
    contract = async_channel()
    unknown = build_get_messages_request(
        contract, service_id="echo", correlation_id="nope", sender_id="demo-system"
    )
    fault = fault_of(post(client, emulator.async_url, sign_envelope(unknown, signer)))
    assert (fault.error_code, fault.operation) == (ErrorCode.UNKNOWN_MESSAGE, "getMessages")
    anonymous = build_get_messages_request(contract, service_id="echo", correlation_id="nope")
    fault = fault_of(post(client, emulator.async_url, sign_envelope(anonymous, signer)))
    assert (fault.error_code, fault.operation) == (ErrorCode.BAD_CREDENTIALS, "getMessages")

    request = build_async_request(
        contract, service_id="echo", sender_id="demo-system", password=None, data="x"
    )
    fault = fault_of(post(client, emulator.async_url, serialize(request)))
    assert (fault.error_code, fault.operation) == (ErrorCode.SIGNATURE_INVALID, "sendMessage")


# --------------------------------------------------------------------------- configuration


def test_config_is_checked(pki: TestPki) -> None:
    with pytest.raises(ConfigError) as caught:
        emulator_config_from_pki(pki, port=70000)
    assert caught.value.field == "port"
    with pytest.raises(ConfigError) as caught:
        emulator_config_from_pki(pki, unsigned_paths=frozenset({"/elsewhere/"}))
    assert caught.value.field == "unsigned_paths"
    with pytest.raises(ConfigError):
        emulator_config_from_pki(pki, no_such_setting=1)
    with pytest.raises(ConfigError) as caught:
        emulator_config_from_pki(pki, trusted_certs=())
    assert caught.value.field == "trusted_certs"
    config = emulator_config_from_pki(pki, senders={"s": SENDER_PASSWORD})
    assert SENDER_PASSWORD not in repr(config)
    assert config.services["echo"] is echo_handler


def test_unusable_tls_files_are_a_config_error(pki: TestPki, tmp_path: Path) -> None:
    config = emulator_config_from_pki(pki, server_key=tmp_path / "missing.pem")
    with pytest.raises(ConfigError) as caught:
        start_emulator(config)
    assert caught.value.file == str(pki.server.cert_path)


def test_port_in_use_is_a_config_error(emulator: RunningEmulator, config: EmulatorConfig) -> None:
    with pytest.raises(ConfigError, match="cannot listen"):
        start_emulator(dataclasses.replace(config, port=emulator.port))


_SERVE = """
import sys
from pathlib import Path
from cryptography import x509
from gateway.emulator import EmulatorConfig, serve_emulator

cert, key, ca = (Path(arg) for arg in sys.argv[1:4])
config = EmulatorConfig(
    server_cert=cert,
    server_key=key,
    client_ca=ca,
    trusted_certs=(x509.load_pem_x509_certificate(ca.read_bytes()),),
    senders={"demo-system": None},
)
serve_emulator(config, ready=lambda url: print(url, flush=True))
print("stopped", flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_serve_emulator_stops_cleanly_on_ctrl_c(
    pki: TestPki, client: requests.Session, signer: Signer
) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _SERVE,
            str(pki.server.cert_path),
            str(pki.server.key_path),
            str(pki.ca.cert_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("https://127.0.0.1:")
        _, body = sync_request(signer)
        assert post(client, url + "/bip-sync-wss-gost/", body).status_code == 200
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert out.strip() == "stopped"
    assert "Traceback" not in err


def test_unusable_handler_faults_still_answer_as_a_gateway(
    config: EmulatorConfig, client: requests.Session, signer: Signer
) -> None:
    def empty_code(request: RequestInfo) -> Payload:
        raise HandlerError("", "no code")

    def control_characters(request: RequestInfo) -> Payload:
        raise HandlerError("E\x00", "bad\x01text", data="\x02")

    services = {"empty": empty_code, "control": control_characters}
    with start_emulator(dataclasses.replace(config, services=services)) as emulator:
        _, body = sync_request(signer, service_id="empty")
        assert fault_of(post(client, emulator.sync_url, body)).error_code == "EINT001"
        _, body = sync_request(signer, service_id="control")
        fault = fault_of(post(client, emulator.sync_url, body))
        assert (fault.error_code, fault.error_message, fault.error_data) == ("E?", "bad?text", "?")

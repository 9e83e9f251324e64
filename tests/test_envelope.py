"""gateway.envelope: requests built through zeep are schema-valid, keep the payload byte for
byte, and refuse bad input naming the field, without ever quoting the password."""

from __future__ import annotations

import logging
import shutil
import traceback
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from gateway.contracts import DEFAULT_CONTRACTS_DIR, Contract, async_channel, sync_channel
from gateway.envelope import (
    SUCCESS_CODE,
    SUCCESS_MESSAGE,
    AsyncMessage,
    AsyncSendResponse,
    DeliveryNotification,
    DeliveryNotificationResponse,
    ErrorInfo,
    Fault,
    GetMessagesRequest,
    MessageType,
    ReceiveStatus,
    ResendMessage,
    SyncResponse,
    TypedPayload,
    build_async_request,
    build_async_send_response,
    build_delivery_notification,
    build_delivery_notification_response,
    build_fault,
    build_get_messages_request,
    build_get_messages_response,
    build_sync_request,
    build_sync_response,
    data_element,
    find_body,
    find_body_element,
    find_fault,
    find_header,
    format_message_date,
    format_session_id,
    parse_async_send_request,
    parse_async_send_response,
    parse_date_time,
    parse_delivery_notification,
    parse_delivery_notification_response,
    parse_get_messages_request,
    parse_get_messages_response,
    parse_session_id,
    parse_sync_request,
    parse_sync_response,
    request_message_id,
    serialize,
    soap_version,
)
from gateway.errors import ContractError, EnvelopeError
from gateway.xmlns import SOAP11, SYNC_TYPES, XSD, XSI
from gateway.xmlparse import parse_xml

ENVELOPES = Path(__file__).parent / "data" / "envelopes"
NOW = datetime(2023, 2, 13, 5, 17, 26, 123456, tzinfo=UTC)
PASSWORD = "Sup3r-Secret!pw"
GUID = "6F9619FF-8B86-D011-B42D-00C04FC964FF"
REQUEST_INFO_ORDER = [
    "messageId",
    "correlationId",
    "serviceId",
    "messageDate",
    "routeId",
    "sender",
    "properties",
    "properties",
    "sessionId",
]


def sync_request(**overrides: Any) -> etree._Element:
    arguments: dict[str, Any] = {
        "service_id": "GBDFL_UniversalServiceSync",
        "sender_id": "example-sender",
        "password": PASSWORD,
        "data": "<x/>",
        "now": NOW,
    }
    arguments.update(overrides)
    return build_sync_request(sync_channel(), **arguments)


def load(name: str) -> etree._Element:
    path = ENVELOPES / name
    return parse_xml(path.read_bytes(), source=str(path)).getroot()


def round_trip(envelope: etree._Element) -> etree._Element:
    """What the gateway receives: our bytes, parsed again."""
    return parse_xml(serialize(envelope)).getroot()


def data_of(envelope: etree._Element) -> etree._Element:
    data = find_body_element(envelope).find("request/requestData/data")
    if data is None:
        data = find_body_element(envelope).find("request/messageData/data")
    assert data is not None
    return data


def xsi_type(element: etree._Element) -> str:
    """The xsi:type value resolved to Clark notation, whatever prefix was chosen."""
    value = element.get(f"{{{XSI}}}type")
    assert value is not None
    prefix, _, local = value.rpartition(":")
    return f"{{{element.nsmap[prefix or None]}}}{local}"


# --------------------------------------------------------------------------- the built request


def test_sync_request_shape() -> None:
    envelope = round_trip(
        sync_request(
            message_id="m-1",
            correlation_id="c-1",
            route_id="r-1",
            session_id=GUID,
            properties={"a": "1", "b": "2"},
        )
    )
    assert soap_version(envelope) == "1.1"
    assert [child.tag for child in envelope] == [f"{{{SOAP11}}}Header", f"{{{SOAP11}}}Body"]
    header = find_header(envelope)
    assert header is not None
    assert len(header) == 0
    message = find_body_element(envelope)
    assert message.tag == sync_channel().input_element("SendMessage")
    assert message.tag == f"{{{SYNC_TYPES}}}SendMessage"

    info = message.find("request/requestInfo")
    assert info is not None
    assert [child.tag for child in info] == REQUEST_INFO_ORDER
    assert info.findtext("messageDate") == "2023-02-13T11:17:26.123+06:00"
    assert info.findtext("sessionId") == f"{{{GUID}}}"
    assert info.findtext("sender/password") == PASSWORD
    assert [child.tag for child in message.find("request")] == [  # type: ignore[union-attr]
        "requestInfo",
        "requestData",
    ]
    sync_channel().validate(message)


def test_local_elements_are_unqualified() -> None:
    message = find_body_element(round_trip(sync_request(properties=[("k", "v")])))
    data = message.find("request/requestData/data")
    inside_payload = set(data.iter()) if data is not None else set()
    for element in message.iter():
        if element is message or element in inside_payload - {data}:
            continue
        assert etree.QName(element).namespace is None, element.tag
    assert b'xmlns=""' not in etree.tostring(message)  # no default namespace to undo


def test_optional_fields_are_left_out() -> None:
    info = find_body_element(sync_request(password=None)).find("request/requestInfo")
    assert info is not None
    assert [child.tag for child in info] == ["messageId", "serviceId", "messageDate", "sender"]
    assert info.find("sender/password") is None


def test_message_id_defaults_to_a_fresh_uuid4() -> None:
    first = request_message_id(sync_request())
    second = request_message_id(sync_request())
    assert first is not None
    assert second is not None
    assert uuid.UUID(first).version == 4
    assert first != second


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, "2023-02-13T11:17:26.123+06:00"),
        (
            {"now": datetime(2023, 2, 13, 11, 17, 26, tzinfo=timezone(timedelta(hours=5)))},
            "2023-02-13T12:17:26.000+06:00",
        ),
        (
            {"message_date": datetime(2024, 12, 31, 18, 0, tzinfo=UTC)},
            "2025-01-01T00:00:00.000+06:00",
        ),
    ],
)
def test_message_date_has_the_almaty_offset_with_a_colon(
    overrides: dict[str, Any], expected: str
) -> None:
    info = find_body_element(sync_request(**overrides)).find("request/requestInfo")
    assert info is not None
    assert info.findtext("messageDate") == expected


def test_message_date_defaults_to_the_current_time() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    info = find_body_element(sync_request(now=None)).find("request/requestInfo")
    assert info is not None
    written = datetime.fromisoformat(str(info.findtext("messageDate")))
    assert written.utcoffset() == timedelta(hours=6)
    assert before <= written <= datetime.now(UTC)


def test_format_message_date_never_writes_a_colonless_offset() -> None:
    assert format_message_date(NOW) == "2023-02-13T11:17:26.123+06:00"
    assert format_message_date(NOW, offset=timedelta(hours=5)) == "2023-02-13T10:17:26.123+05:00"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (uuid.UUID(GUID), f"{{{GUID.lower()}}}"),
        (GUID, f"{{{GUID}}}"),
        (f"{{{GUID}}}", f"{{{GUID}}}"),
        (GUID.lower(), f"{{{GUID.lower()}}}"),
    ],
)
def test_session_id_is_a_braced_guid(value: str | uuid.UUID, expected: str) -> None:
    assert format_session_id(value) == expected
    info = find_body_element(sync_request(session_id=value)).find("request/requestInfo")
    assert info is not None
    assert info.findtext("sessionId") == expected


def test_property_limits_count_characters() -> None:
    key, value = "к" * 30, "з" * 500  # 60 and 1000 bytes in UTF-8, still within the limits
    message = find_body_element(sync_request(properties=[(key, value)]))
    assert message.findtext("request/requestInfo/properties/key") == key
    assert message.findtext("request/requestInfo/properties/value") == value


# --------------------------------------------------------------------------- data payloads


def test_string_data_is_escaped_text_typed_xs_string() -> None:
    text = '<q:Request xmlns:q="urn:q" a="1">Привет &amp; мир</q:Request>'
    envelope = sync_request(data=text)
    raw = serialize(envelope)
    assert b"&lt;q:Request" in raw
    assert "Привет".encode() in raw
    data = data_of(round_trip(envelope))
    assert data.text == text
    assert len(data) == 0
    assert xsi_type(data) == f"{{{XSD}}}string"


@pytest.mark.parametrize(
    "text",
    ["  leading and trailing  ", "line\r\nbreaks\rand\ttabs\n", "Қазақстан Республикасы", ""],
)
def test_string_data_survives_exactly(text: str) -> None:
    assert (data_of(round_trip(sync_request(data=text))).text or "") == text


def test_element_data_is_embedded_as_the_only_child() -> None:
    source = parse_xml(
        '<root xmlns:q="urn:q" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        '  <p:Request xmlns:p="urn:svc" id="7">\n'
        "    <p:name>  Әлия\r\n Сейтқали  </p:name>\n"
        '    <p:kind xsi:type="q:Kind">A</p:kind>\n'
        "    <!-- kept -->\n"
        "  </p:Request>\n"
        "</root>".encode()
    ).getroot()
    payload = source[0]
    envelope = round_trip(sync_request(data=payload))
    data = data_of(envelope)
    assert data.get(f"{{{XSI}}}type") is None
    assert len(data) == 1
    embedded = data[0]
    assert embedded.tag == "{urn:svc}Request"
    assert embedded.get("id") == "7"
    assert [(n.tag, n.text, n.tail) for n in embedded.iterdescendants()] == [
        (n.tag, n.text, n.tail) for n in payload.iterdescendants()
    ]
    kind = embedded.find("{urn:svc}kind")
    assert kind is not None
    assert xsi_type(kind) == "{urn:q}Kind"  # the prefix declared only on <root> still resolves
    assert payload.getparent() is source  # the caller's element was copied, not moved


def test_typed_payload_puts_the_children_into_data() -> None:
    source = parse_xml(
        '<p:Request xmlns:p="http://example.kz/gbdfl">\n  <p:iin>870101300123</p:iin>\n'
        "  <p:note>Алматы</p:note>\n</p:Request>".encode()
    ).getroot()
    typed = TypedPayload(element=source, xsi_type=etree.QName("http://example.kz/gbdfl", "Request"))
    envelope = round_trip(sync_request(data=typed))
    data = data_of(envelope)
    assert data.tag == "data"
    assert xsi_type(data) == "{http://example.kz/gbdfl}Request"
    assert data.text == source.text
    assert [(n.tag, n.text, n.tail) for n in data] == [(n.tag, n.text, n.tail) for n in source]
    sync_channel().validate(find_body_element(envelope))


def test_typed_payload_with_a_default_namespace_keeps_data_unqualified() -> None:
    source = parse_xml(b'<Request xmlns="urn:svc"><iin>1</iin></Request>').getroot()
    typed = TypedPayload(element=source, xsi_type=etree.QName("urn:svc", "Request"))
    envelope = round_trip(sync_request(data=typed))
    data = data_of(envelope)
    assert etree.QName(data).namespace is None
    assert xsi_type(data) == "{urn:svc}Request"
    assert [child.tag for child in data] == ["{urn:svc}iin"]


@pytest.mark.parametrize("xsi_type_value", [etree.QName("Request"), "{urn:svc}Request", None])
def test_typed_payload_needs_a_namespaced_qname(xsi_type_value: Any) -> None:
    element = parse_xml(b"<r/>").getroot()
    with pytest.raises(EnvelopeError) as caught:
        TypedPayload(element=element, xsi_type=xsi_type_value)
    assert caught.value.field == "data"


# --------------------------------------------------------------------------- bad input


INVALID_INPUTS: list[tuple[dict[str, Any], str]] = [
    ({"session_id": "not-a-guid"}, "sessionId"),
    ({"session_id": f"{{{GUID}"}, "sessionId"),
    ({"session_id": f"{GUID}}}"}, "sessionId"),
    ({"session_id": 42}, "sessionId"),
    ({"message_date": datetime(2023, 2, 13, 11, 17, 26)}, "messageDate"),
    ({"now": datetime(2023, 2, 13, 11, 17, 26)}, "messageDate"),
    ({"message_date": "2023-02-13T11:17:26+0600"}, "messageDate"),
    ({"properties": [("k" * 31, "v")]}, "properties[0].key"),
    ({"properties": {"ok": "v", "k": "v" * 501}}, "properties[1].value"),
    ({"properties": [("k",)]}, "properties[0]"),
    ({"properties": [("k", 1)]}, "properties[0].value"),
    ({"properties": "k=v"}, "properties"),
    ({"service_id": ""}, "serviceId"),
    ({"service_id": "   "}, "serviceId"),
    ({"sender_id": 5}, "senderId"),
    ({"message_id": "a\x01b"}, "messageId"),
    ({"correlation_id": "\ufffe"}, "correlationId"),
    ({"route_id": ""}, "routeId"),
    ({"password": 1234}, "password"),
    ({"password": "pw\x00"}, "password"),
    ({"data": b"<x/>"}, "data"),
    ({"data": 42}, "data"),
    ({"data": etree.Comment("not an element")}, "data"),
    ({"data": "bell\x07"}, "data"),
]


@pytest.mark.parametrize(("overrides", "field"), INVALID_INPUTS, ids=[f for _, f in INVALID_INPUTS])
def test_invalid_input_names_the_field(
    overrides: dict[str, Any], field: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(EnvelopeError) as caught:
        sync_request(**overrides)
    error = caught.value
    assert error.field == field
    assert PASSWORD not in str(error) + repr(error) + caplog.text


def test_input_errors_carry_the_message_id() -> None:
    with pytest.raises(EnvelopeError) as caught:
        sync_request(message_id="m-9", session_id="bad")
    assert caught.value.message_id == "m-9"
    assert str(caught.value) == (
        "sessionId: not a GUID: 'bad' (expected {xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx})"
        " [message id m-9]"
    )


def test_sync_builder_needs_the_sync_contract() -> None:
    with pytest.raises(ContractError, match="SendMessage"):
        build_sync_request(
            async_channel(), service_id="S", sender_id="s", password=None, data="", now=NOW
        )


@pytest.fixture
def strict_password_contract(tmp_path: Path) -> Contract:
    """Our contract with a password pattern: libxml2's pattern error quotes the value."""
    shutil.copytree(DEFAULT_CONTRACTS_DIR / "wsdl", tmp_path / "wsdl")
    shutil.copytree(DEFAULT_CONTRACTS_DIR / "xsd", tmp_path / "xsd")
    common = tmp_path / "xsd" / "common_v10.xsd"
    original = '<xs:element name="password" type="xs:string" minOccurs="0"/>'
    strict = (
        '<xs:element name="password" minOccurs="0"><xs:simpleType>'
        '<xs:restriction base="xs:string"><xs:pattern value="[a-z]{1,4}"/></xs:restriction>'
        "</xs:simpleType></xs:element>"
    )
    text = common.read_text(encoding="utf-8")
    assert original in text
    common.write_text(text.replace(original, strict), encoding="utf-8")
    return sync_channel(tmp_path)


def test_schema_errors_quoting_the_password_are_redacted(
    strict_password_contract: Contract, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(EnvelopeError) as caught:
        build_sync_request(
            strict_password_contract,
            service_id="S",
            sender_id="s",
            password=PASSWORD,
            data="",
            message_id="m-7",
            now=NOW,
        )
    error = caught.value
    assert error.field == "SendMessage/request/requestInfo/sender/password"
    assert error.message_id == "m-7"
    assert "'***'" in error.message  # the pattern error quoted it before redaction
    rendered = "".join(traceback.format_exception(error))
    assert PASSWORD not in str(error) + repr(error) + rendered + caplog.text


# --------------------------------------------------------------------------- async channel


def test_async_request_defaults() -> None:
    contract = async_channel()
    envelope = round_trip(
        build_async_request(
            contract, service_id="S", sender_id="s", password=None, data="x", now=NOW
        )
    )
    message = find_body_element(envelope)
    assert message.tag == contract.input_element("sendMessage")
    info = message.find("request/messageInfo")
    assert info is not None
    assert [child.tag for child in info] == ["serviceId", "messageType", "messageDate", "sender"]
    assert info.findtext("messageType") == "REQUEST"
    assert request_message_id(envelope) is None  # the gateway assigns it
    assert xsi_type(data_of(envelope)) == f"{{{XSD}}}string"
    contract.validate(message)


def test_async_chain_messages_need_a_correlation_id() -> None:
    with pytest.raises(EnvelopeError) as caught:
        build_async_request(
            async_channel(),
            service_id="S",
            sender_id="s",
            password=PASSWORD,
            data="x",
            message_type=MessageType.RESPONSE,
            now=NOW,
        )
    assert caught.value.field == "correlationId"
    envelope = build_async_request(
        async_channel(),
        service_id="S",
        sender_id="s",
        password=PASSWORD,
        data="x",
        message_type="RESPONSE",
        message_id="a-1",
        correlation_id="chain-1",
        session_id=uuid.UUID(GUID),
        properties=[("k", "v")],
        now=NOW,
    )
    info = find_body_element(envelope).find("request/messageInfo")
    assert info is not None
    assert [child.tag for child in info] == [
        "messageId",
        "correlationId",
        "serviceId",
        "messageType",
        "messageDate",
        "sender",
        "properties",
        "sessionId",
    ]
    assert request_message_id(envelope) == "a-1"


def test_async_unknown_message_type() -> None:
    with pytest.raises(EnvelopeError) as caught:
        build_async_request(
            async_channel(),
            service_id="S",
            sender_id="s",
            password=None,
            data="x",
            message_type="PING",
            now=NOW,
        )
    assert caught.value.field == "messageType"


# --------------------------------------------------------------------------- inspection


HOSTILE_ENVELOPES = [
    ("two_bodies.xml", find_body, "Body"),
    ("header_after_body.xml", find_header, "Header"),
    ("two_headers.xml", find_header, "Header"),
    ("empty_body.xml", find_body_element, "Body"),
    ("two_body_children.xml", find_body_element, "Body"),
    ("not_an_envelope.xml", find_body, "Envelope"),
    ("not_an_envelope.xml", soap_version, "Envelope"),
    ("not_an_envelope.xml", serialize, "Envelope"),
]


@pytest.mark.parametrize(
    ("sample", "inspect", "field"),
    HOSTILE_ENVELOPES,
    ids=[f"{s}-{f.__name__}" for s, f, _ in HOSTILE_ENVELOPES],
)
def test_malformed_envelopes_are_refused(sample: str, inspect: Any, field: str) -> None:
    with pytest.raises(EnvelopeError) as caught:
        inspect(load(sample))
    assert caught.value.field == field


def test_every_hostile_envelope_is_covered() -> None:
    used = {case[0] for case in HOSTILE_ENVELOPES}
    valid = {"sync_request_typed.xml", "sync_response.xml", "sync_fault.xml", "soap12_request.xml"}
    samples = {path.name for path in ENVELOPES.glob("*.xml")}
    assert samples - valid - {"bad_date_request.xml", "qualified_locals_request.xml"} == used


def test_soap12_is_recognised() -> None:
    envelope = load("soap12_request.xml")
    assert soap_version(envelope) == "1.2"
    assert request_message_id(envelope) == "async-1"
    assert find_header(envelope) is None


def test_find_header_creates_one_header_first() -> None:
    envelope = load("sync_response.xml")
    assert find_header(envelope) is None
    header = find_header(envelope, create=True)
    assert header.tag == f"{{{SOAP11}}}Header"
    assert envelope.index(header) == 0
    assert find_header(envelope, create=True) is header
    assert find_body(envelope) is envelope[1]


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("sync_request_typed.xml", "0a1b2c3d-0000-4000-8000-000000000001"),
        ("sync_response.xml", None),
        ("not_an_envelope.xml", None),
        ("empty_body.xml", None),
    ],
)
def test_request_message_id(sample: str, expected: str | None) -> None:
    assert request_message_id(load(sample)) == expected


def test_serialize_is_compact_utf8_with_a_declaration() -> None:
    envelope = sync_request(data="Сәлем")
    raw = serialize(envelope)
    assert raw.startswith(b'<?xml version="1.0" encoding="UTF-8"?><')
    assert b"standalone" not in raw
    assert b"\n" not in raw  # nothing pretty-printed
    assert "Сәлем".encode() in raw
    assert etree.tostring(round_trip(envelope), method="c14n") == etree.tostring(
        envelope, method="c14n"
    )


# --------------------------------------------------------------------------- responses and faults


def test_sync_response_round_trip() -> None:
    contract = sync_channel()
    envelope = build_sync_response(
        contract,
        message_id="m-1",
        correlation_id="c-1",
        data="<answer>42</answer>",
        session_id=GUID,
        now=NOW,
    )
    response = parse_sync_response(round_trip(envelope), contract)
    assert response == SyncResponse(
        message_id="m-1",
        correlation_id="c-1",
        response_date="2023-02-13T11:17:26.123+06:00",
        status_code=SUCCESS_CODE,
        status_message=SUCCESS_MESSAGE,
        session_id=f"{{{GUID}}}",
        data=response.data,
    )
    assert response.ok
    assert response.data_text == "<answer>42</answer>"
    assert find_fault(round_trip(envelope)) is None
    assert find_header(envelope) is None  # unsigned: signing adds the Header


def test_sync_response_logical_error_and_typed_payload() -> None:
    contract = sync_channel()
    payload = etree.fromstring(b'<r:Result xmlns:r="urn:r"><r:code>7</r:code></r:Result>')
    envelope = build_sync_response(
        contract,
        message_id="m-2",
        correlation_id=None,
        status_code="ERR042",
        status_message="Person not found",
        data=TypedPayload(element=payload, xsi_type=etree.QName("urn:r", "Result")),
        now=NOW,
    )
    response = parse_sync_response(round_trip(envelope), contract)
    assert not response.ok
    assert (response.status_code, response.status_message) == ("ERR042", "Person not found")
    assert response.correlation_id is None
    assert response.session_id is None
    assert response.data is not None
    assert xsi_type(response.data) == "{urn:r}Result"
    assert response.data.findtext("{urn:r}code") == "7"


def test_sync_response_refuses_a_long_status_message() -> None:
    with pytest.raises(EnvelopeError) as caught:
        build_sync_response(
            sync_channel(), message_id="m", correlation_id=None, data="", status_message="x" * 251
        )
    assert caught.value.field == "status.message"


def test_sync_request_round_trip_keeps_the_password_out_of_repr() -> None:
    contract = sync_channel()
    envelope = sync_request(
        message_id="m-3",
        correlation_id="c-3",
        route_id="r-3",
        session_id=GUID,
        properties=[("a", "1"), ("b", "2")],
        data="<x>Сәлем</x>",
    )
    info = parse_sync_request(round_trip(envelope), contract)
    assert (info.message_id, info.correlation_id, info.route_id) == ("m-3", "c-3", "r-3")
    assert (info.service_id, info.sender_id, info.password) == (
        "GBDFL_UniversalServiceSync",
        "example-sender",
        PASSWORD,
    )
    assert info.session_id == f"{{{GUID}}}"
    assert info.message_date == "2023-02-13T11:17:26.123+06:00"
    assert info.properties == (("a", "1"), ("b", "2"))
    assert info.data_text == "<x>Сәлем</x>"
    assert PASSWORD not in repr(info)


def test_parse_sync_request_validates_first() -> None:
    envelope = round_trip(sync_request(message_id="m-4"))
    date = find_body_element(envelope).find("request/requestInfo/messageDate")
    assert date is not None
    date.text = "2023-02-13T11:17:26+0600"  # Java's SimpleDateFormat Z: not an xsd:dateTime
    with pytest.raises(EnvelopeError) as caught:
        parse_sync_request(envelope, sync_channel())
    assert caught.value.field is not None
    assert "messageDate" in caught.value.field
    assert caught.value.message_id == "m-4"


def test_parse_wrong_message_names_what_it_found() -> None:
    with pytest.raises(EnvelopeError) as caught:
        parse_sync_response(round_trip(sync_request()), sync_channel())
    assert caught.value.field == "SendMessage"
    with pytest.raises(EnvelopeError) as caught:
        parse_sync_request(load("sync_response.xml"), sync_channel())
    assert caught.value.field == "SendMessageResponse"


def test_sync_fault_round_trip() -> None:
    contract = sync_channel()
    envelope = build_fault(
        contract,
        error_code="ESIGN001",
        error_message="transport signature rejected",
        error_data="digest-mismatch",
        fault_code="Client",
        session_id=GUID,
        sub_errors=[ErrorInfo(error_code="E2", error_message="inner", error_data="more")],
        now=NOW,
    )
    received = round_trip(envelope)
    fault = find_fault(received)
    assert fault == Fault(
        fault_code="Client",
        fault_string="transport signature rejected",
        error_code="ESIGN001",
        error_message="transport signature rejected",
        error_data="digest-mismatch",
        error_date="2023-02-13T11:17:26.123+06:00",
        session_id=f"{{{GUID}}}",
        sub_errors=(
            ErrorInfo(
                error_code="E2",
                error_message="inner",
                error_data="more",
                error_date="2023-02-13T11:17:26.123+06:00",
            ),
        ),
        detail_element=contract.fault_elements("SendMessage")[0],
        soap_version="1.1",
    )
    assert fault.operation == "SendMessage"
    # The detail is a schema-valid ErrorInfo; the response parser refuses the fault by name.
    detail = received.find(f"{{{SOAP11}}}Body/{{{SOAP11}}}Fault/detail")
    assert detail is not None
    contract.validate(detail[0])
    with pytest.raises(EnvelopeError) as caught:
        parse_sync_response(received, contract)
    assert caught.value.field == "Fault"
    assert "ESIGN001" in caught.value.message


def test_async_fault_names_its_operation() -> None:
    contract = async_channel()
    envelope = build_fault(
        contract, operation="getMessages", error_code="EMSG002", error_message="unknown", now=NOW
    )
    fault = find_fault(round_trip(envelope))
    assert fault is not None
    assert fault.operation == "getMessages"
    assert (fault.fault_code, fault.error_code, fault.sub_errors) == ("Server", "EMSG002", ())


def test_find_fault_reads_the_gateway_sample() -> None:
    fault = find_fault(load("sync_fault.xml"))
    assert fault is not None
    assert (fault.fault_code, fault.fault_string) == ("Server", "Sender is not registered")
    assert (fault.error_code, fault.error_message) == ("SE0001", "Sender is not registered")
    assert fault.error_data is None
    assert fault.session_id == "{6F9619FF-8B86-D011-B42D-00C04FC964FF}"
    assert [sub.error_code for sub in fault.sub_errors] == ["SE0002"]


def test_find_fault_without_detail_and_in_soap12() -> None:
    proxy = parse_xml(
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
        b"<faultcode>s:Server</faultcode><faultstring>Bad gateway</faultstring>"
        b"</s:Fault></s:Body></s:Envelope>"
    ).getroot()
    fault = find_fault(proxy)
    assert fault is not None
    assert (fault.fault_code, fault.fault_string, fault.error_code) == (
        "Server",
        "Bad gateway",
        None,
    )
    assert fault.operation is None

    soap12 = parse_xml(
        b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><e:Fault>'
        b"<e:Code><e:Value>e:Receiver</e:Value></e:Code>"
        b'<e:Reason><e:Text xml:lang="en">down</e:Text></e:Reason>'
        b'<e:Detail><x:getMessagesFault1_getMessagesFault xmlns:x="urn:x">'
        b"<errorCode>E9</errorCode><errorMessage>m</errorMessage></x:getMessagesFault1_getMessagesFault>"
        b"</e:Detail></e:Fault></e:Body></e:Envelope>"
    ).getroot()
    fault = find_fault(soap12)
    assert fault is not None
    assert (fault.soap_version, fault.fault_code, fault.fault_string) == ("1.2", "Receiver", "down")
    assert (fault.error_code, fault.operation) == ("E9", "getMessages")


def test_find_fault_is_none_for_a_response_and_refuses_a_non_envelope() -> None:
    assert find_fault(load("sync_response.xml")) is None
    with pytest.raises(EnvelopeError) as caught:
        find_fault(load("not_an_envelope.xml"))
    assert caught.value.field == "Envelope"


def test_build_fault_refuses_unknown_operations_and_codes() -> None:
    with pytest.raises(ContractError):
        build_fault(sync_channel(), operation="Nope", error_code="E", error_message="m")
    with pytest.raises(EnvelopeError) as caught:
        build_fault(sync_channel(), error_code="", error_message="m")
    assert caught.value.field == "errorCode"
    with pytest.raises(EnvelopeError) as caught:
        build_fault(sync_channel(), error_code="E", error_message="m", fault_code="Oops")  # type: ignore[arg-type]
    assert caught.value.field == "faultcode"


# --------------------------------------------------------------------------- async exchanges


def test_async_send_round_trip() -> None:
    contract = async_channel()
    request = build_async_request(
        contract,
        service_id="echo",
        sender_id="sys",
        password=PASSWORD,
        data="ping",
        properties={"k": "v"},
        now=NOW,
    )
    message = parse_async_send_request(round_trip(request), contract)
    assert message.message_id is None  # the gateway assigns it
    assert (message.service_id, message.sender_id, message.password) == ("echo", "sys", PASSWORD)
    assert message.message_type is MessageType.REQUEST
    assert message.properties == (("k", "v"),)
    assert message.data_text == "ping"
    assert PASSWORD not in repr(message)

    response = build_async_send_response(
        contract, message_id="m-5", correlation_id="c-5", session_id=GUID, now=NOW
    )
    assert parse_async_send_response(round_trip(response), contract) == AsyncSendResponse(
        message_id="m-5",
        correlation_id="c-5",
        response_date="2023-02-13T11:17:26.123+06:00",
        session_id=f"{{{GUID}}}",
    )


def test_get_messages_round_trip() -> None:
    contract = async_channel()
    request = build_get_messages_request(
        contract,
        service_id="echo",
        correlation_id="c-6",
        sender_id="sys",
        password=PASSWORD,
        amount=5,
        now=NOW,
    )
    assert parse_get_messages_request(round_trip(request), contract) == GetMessagesRequest(
        service_id="echo",
        correlation_id="c-6",
        request_date="2023-02-13T11:17:26.123+06:00",
        sender_id="sys",
        password=PASSWORD,
        amount=5,
    )
    bare = parse_get_messages_request(
        round_trip(build_get_messages_request(contract, service_id="echo", now=NOW)), contract
    )
    assert (bare.sender_id, bare.password, bare.amount, bare.correlation_id) == (
        None,
        None,
        None,
        None,
    )

    typed = TypedPayload(
        element=etree.fromstring(b'<r:Result xmlns:r="urn:r"><r:ok>true</r:ok></r:Result>'),
        xsi_type=etree.QName("urn:r", "Result"),
    )
    messages = [
        AsyncMessage(
            message_id=f"r-{index}",
            correlation_id="c-6",
            service_id="echo",
            message_type=MessageType.RESPONSE,
            message_date=format_message_date(NOW),
            sender_id="shep-emulator",
            data=data_element(payload),
        )
        for index, payload in enumerate(["pong", typed])
    ]
    response = build_get_messages_response(contract, messages=messages, session_id=GUID, now=NOW)
    parsed = parse_get_messages_response(round_trip(response), contract)
    assert parsed.session_id == f"{{{GUID}}}"
    assert [m.message_id for m in parsed.messages] == ["r-0", "r-1"]
    assert parsed.messages[0].data_text == "pong"
    assert parsed.messages[1].message_type is MessageType.RESPONSE
    assert xsi_type(parsed.messages[1].data) == "{urn:r}Result"
    assert parsed.messages[1].data.findtext("{urn:r}ok") == "true"

    empty = build_get_messages_response(contract, messages=[], now=NOW)
    parsed_empty = parse_get_messages_response(round_trip(empty), contract)
    assert parsed_empty.messages == ()
    assert parsed_empty.session_id.startswith("{")  # required by the contract: made up


def test_get_messages_request_checks_its_inputs() -> None:
    with pytest.raises(EnvelopeError) as caught:
        build_get_messages_request(async_channel(), service_id="s", amount=-1)
    assert caught.value.field == "amount"
    with pytest.raises(EnvelopeError) as caught:
        build_get_messages_request(async_channel(), service_id="s", password=PASSWORD)
    assert caught.value.field == "password"
    assert PASSWORD not in str(caught.value)


def test_delivery_notification_round_trip() -> None:
    contract = async_channel()
    notice = build_delivery_notification(
        contract,
        message_id="r-7",
        service_id="echo",
        receive_status=ReceiveStatus.NOT_ACCEPTED,
        resend=ResendMessage.RESEND,
        error=ErrorInfo(error_code="BAD", error_message="cannot read"),
        sender_id="sys",
        password=None,
        now=NOW,
    )
    parsed = parse_delivery_notification(round_trip(notice), contract)
    stamp = "2023-02-13T11:17:26.123+06:00"
    assert parsed == DeliveryNotification(
        message_id="r-7",
        service_id="echo",
        notification_date=stamp,
        receive_status=ReceiveStatus.NOT_ACCEPTED,
        status_date=stamp,
        resend_message=ResendMessage.RESEND,
        error=ErrorInfo(error_code="BAD", error_message="cannot read", error_date=stamp),
        request_date=stamp,
        sender_id="sys",
    )
    assert b"MESSAGE_NOT_ACCTEPTED" in serialize(notice)  # the contract's spelling

    receipt = build_delivery_notification_response(
        contract, notification_id="n-7", session_id=GUID, now=NOW
    )
    assert parse_delivery_notification_response(
        round_trip(receipt), contract
    ) == DeliveryNotificationResponse(
        notification_id="n-7", response_date=stamp, session_id=f"{{{GUID}}}"
    )


def test_delivery_notification_refuses_unknown_statuses() -> None:
    with pytest.raises(EnvelopeError) as caught:
        build_delivery_notification(
            async_channel(), message_id="m", service_id="s", receive_status="MESSAGE_ACCEPTED!"
        )
    assert caught.value.field == "receiveStatus"


# --------------------------------------------------------------------------- reading field formats


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-02-13T11:17:26.000+06:00", datetime(2023, 2, 13, 5, 17, 26, tzinfo=UTC)),
        ("2023-02-13T05:17:26Z", datetime(2023, 2, 13, 5, 17, 26, tzinfo=UTC)),
        (" 2023-02-13T11:17:26.5+06:00\n", datetime(2023, 2, 13, 5, 17, 26, 500000, tzinfo=UTC)),
        ("2023-02-13T24:00:00Z", datetime(2023, 2, 14, tzinfo=UTC)),
    ],
)
def test_parse_date_time(value: str, expected: datetime) -> None:
    assert parse_date_time(value) == expected


def test_parse_date_time_without_offset_is_naive() -> None:
    assert parse_date_time("2023-02-13T11:17:26").tzinfo is None


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (
            "2023-02-13T11:17:26.000+0600",
            "the offset +0600 has no colon; xsd:dateTime needs +06:00",
        ),
        ("2023-02-13 11:17:26", "separated by 'T', not a space"),
        ("2023-02-13T11:17+06:00", "seconds are required"),
        ("2023-02-13", "a date without a time"),
        ("2023-02-30T11:17:26Z", "not a valid date and time"),
        ("2023-02-13T11:17:26+15:00", "outside -14:00..+14:00"),
        ("13.02.2023 11:17", "is not an xsd:dateTime (e.g. 2023-02-13T11:17:26.000+06:00)"),
    ],
)
def test_parse_date_time_says_what_is_wrong(value: str, fragment: str) -> None:
    with pytest.raises(EnvelopeError) as caught:
        parse_date_time(value, field="requestDate")
    assert fragment in caught.value.message
    assert caught.value.field == "requestDate"


def test_what_we_format_we_parse() -> None:
    moment = datetime(2023, 2, 13, 5, 17, 26, 123000, tzinfo=UTC)
    assert parse_date_time(format_message_date(moment)) == moment


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("6F9619FF-8B86-D011-B42D-00C04FC964FF", "lacks the curly braces"),
        (" {6F9619FF-8B86-D011-B42D-00C04FC964FF}", "whitespace around the GUID"),
        ("{6F9619FF-8B86-D011-B42D-00C04FC964F}", "is not a braced GUID"),
        ("", "is not a braced GUID"),
    ],
)
def test_parse_session_id(value: str, fragment: str) -> None:
    assert parse_session_id("{6F9619FF-8B86-D011-B42D-00C04FC964FF}").startswith("{6F96")
    with pytest.raises(EnvelopeError, match=fragment) as caught:
        parse_session_id(value)
    assert caught.value.field == "sessionId"

"""Build and inspect the SOAP 1.1 envelopes of the ShEP channels.

Pure: everything takes and returns lxml elements or bytes, and the current time is passed in
(``now=``). Requests are serialized by zeep from the loaded :class:`~gateway.contracts.Contract`
(element order, unqualified locals, required elements), then checked against the XSD, so what
leaves here is schema-valid. The inputs that trip hand-written clients are normalized or
refused with an :class:`EnvelopeError` naming the field: ``messageDate`` always carries a
``+06:00``-style offset with a colon, ``sessionId`` is a braced GUID, property keys and values
respect their length limits.

The password is written into the envelope (the gateway wants it there) but never into an error
message: schema errors that quote it are redacted.

Both sides of every exchange live here, so the client and the local gateway emulator share one
reading of the contracts: ``build_*`` for requests, responses and faults, ``parse_*`` for the
same messages (XSD first, then read into frozen dataclasses), and :func:`find_fault`, which
spots a SOAP Fault *before* anything asks for a signature (faults come unsigned).
"""

from __future__ import annotations

import copy
import enum
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Final, Literal, TypeVar, cast, overload

from lxml import etree

from gateway.contracts import Contract
from gateway.errors import EnvelopeError
from gateway.xmlns import SOAP11, SOAP12, SOAP_ENVELOPE_NAMESPACES, WSU, XSD, XSI

__all__ = [
    "ALMATY_OFFSET",
    "PROPERTY_KEY_MAX",
    "PROPERTY_VALUE_MAX",
    "STATUS_MESSAGE_MAX",
    "SUCCESS_CODE",
    "SUCCESS_MESSAGE",
    "AsyncMessage",
    "AsyncSendResponse",
    "DeliveryNotification",
    "DeliveryNotificationResponse",
    "ErrorInfo",
    "Fault",
    "GetMessagesRequest",
    "GetMessagesResponse",
    "MessageType",
    "Payload",
    "ReceiveStatus",
    "ResendMessage",
    "SyncRequestInfo",
    "SyncResponse",
    "TypedPayload",
    "build_async_request",
    "build_async_send_response",
    "build_delivery_notification",
    "build_delivery_notification_response",
    "build_fault",
    "build_get_messages_request",
    "build_get_messages_response",
    "build_sync_request",
    "build_sync_response",
    "data_element",
    "declare_wsu_on_body",
    "find_body",
    "find_body_element",
    "find_fault",
    "find_header",
    "format_message_date",
    "format_session_id",
    "parse_async_send_request",
    "parse_async_send_response",
    "parse_date_time",
    "parse_delivery_notification",
    "parse_delivery_notification_response",
    "parse_get_messages_request",
    "parse_get_messages_response",
    "parse_session_id",
    "parse_sync_request",
    "parse_sync_response",
    "request_message_id",
    "serialize",
    "soap_version",
]

ALMATY_OFFSET: Final = timedelta(hours=6)
"""The offset ShEP samples and the published contracts use (``+06:00``).

Kazakhstan moved to a single UTC+5 zone in March 2024; any offset names the same instant, so
this is a presentation choice. Pass ``offset=`` to :func:`format_message_date` to change it.
"""

PROPERTY_KEY_MAX: Final = 30
PROPERTY_VALUE_MAX: Final = 500
STATUS_MESSAGE_MAX: Final = 250

SUCCESS_CODE: Final = "SCSS001"
"""``responseInfo/status/code`` of a processed message; any other code is a logical error."""
SUCCESS_MESSAGE: Final = "Message has been processed successfully"

_XML_DECLARATION: Final = b'<?xml version="1.0" encoding="UTF-8"?>'
_XSI_TYPE: Final = f"{{{XSI}}}type"
_NOT_XML_CHAR: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_HEX_GUID: Final = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_GUID: Final = re.compile(rf"\{{(?P<braced>{_HEX_GUID})\}}|(?P<bare>{_HEX_GUID})")
_REDACTED: Final = "***"
_DATE_TIME: Final = re.compile(
    r"(?P<year>-?(?:[1-9][0-9]{4,}|[0-9]{4}))-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?P<fraction>\.[0-9]+)?"
    r"(?P<offset>Z|[+-](?P<oh>[0-9]{2}):(?P<om>[0-9]{2}))?"
)
_DATE_TIME_EXAMPLE: Final = "2023-02-13T11:17:26.000+06:00"


class MessageType(enum.StrEnum):
    """``messageInfo/messageType`` of the AsyncChannel."""

    REQUEST = "REQUEST"
    NOTIFICATION = "NOTIFICATION"
    UPDATE = "UPDATE"
    RESPONSE = "RESPONSE"


class ReceiveStatus(enum.StrEnum):
    """``deliveryStatus/receiveStatus`` of an AsyncChannel delivery notification."""

    ACCEPTED = "MESSAGE_ACCEPTED"
    NOT_ACCEPTED = "MESSAGE_NOT_ACCTEPTED"  # sic: the contract's spelling is the wire value


class ResendMessage(enum.StrEnum):
    """``deliveryStatus/resendMessage``: whether the gateway should deliver the message again."""

    RESEND = "RESEND"
    NOT_RESEND = "NOT_RESEND"


@dataclass(frozen=True, slots=True, kw_only=True)
class TypedPayload:
    """A payload written as ``<data xsi:type="p:Request">children…</data>`` (NCANode's form).

    ``data`` takes ``element``'s attributes, text and children (its own tag is dropped) and
    ``xsi_type`` as its type, which is how services typed in their own namespace expect it.
    The caller's element is copied, never moved; whitespace is kept as it is.
    """

    element: etree._Element
    xsi_type: etree.QName

    def __post_init__(self) -> None:
        if not _is_element(self.element):
            raise EnvelopeError("TypedPayload.element must be an XML element", field="data")
        if not isinstance(self.xsi_type, etree.QName) or not self.xsi_type.namespace:
            raise EnvelopeError(
                "TypedPayload.xsi_type must be an etree.QName with a namespace, "
                "e.g. etree.QName('http://example.kz/service', 'Request')",
                field="data",
            )


Payload = str | etree._Element | TypedPayload
"""What ``data`` can carry: text (sent as ``xsi:type="xs:string"``, escaped), one element
embedded as ``data``'s only child, or a :class:`TypedPayload`."""


# --------------------------------------------------------------------------- builders


def build_sync_request(
    contract: Contract,
    *,
    service_id: str,
    sender_id: str,
    password: str | None,
    data: Payload,
    message_id: str | None = None,
    correlation_id: str | None = None,
    route_id: str | None = None,
    message_date: datetime | None = None,
    session_id: str | uuid.UUID | None = None,
    properties: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    now: datetime | None = None,
) -> etree._Element:
    """A SyncChannel ``SendMessage`` request: a SOAP 1.1 Envelope with an empty Header.

    ``message_id`` defaults to a random UUID; ``message_date`` to ``now`` (itself defaulting
    to the current time). Naive datetimes are refused: a date without an offset would be read
    in the gateway's zone, whatever the caller meant. ``session_id`` is normally left out (the
    gateway fills it).
    """
    message_id = str(uuid.uuid4()) if message_id is None else message_id
    with _reporting(message_id, password):
        info: dict[str, object] = {
            "messageId": _text(message_id, "messageId"),
            "correlationId": _optional_text(correlation_id, "correlationId"),
            "serviceId": _text(service_id, "serviceId"),
            "messageDate": _message_date(message_date, now),
            "routeId": _optional_text(route_id, "routeId"),
            "sender": _sender(sender_id, password),
            "properties": _properties(properties),
            "sessionId": None if session_id is None else format_session_id(session_id),
        }
        return _build(
            contract,
            "SendMessage",
            {"requestInfo": info, "requestData": {"data": ""}},
            data_path=("request", "requestData", "data"),
            payload=_payload(data),
            message_id=message_id,
        )


def build_async_request(
    contract: Contract,
    *,
    service_id: str,
    sender_id: str,
    password: str | None,
    data: Payload,
    message_type: MessageType | str = MessageType.REQUEST,
    message_id: str | None = None,
    correlation_id: str | None = None,
    route_id: str | None = None,
    message_date: datetime | None = None,
    session_id: str | uuid.UUID | None = None,
    properties: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    now: datetime | None = None,
) -> etree._Element:
    """An AsyncChannel ``sendMessage`` request (``messageInfo`` + ``messageData/data``).

    Unlike the SyncChannel, ``messageId`` is left out by default: the contract says the
    gateway assigns it, and for a REQUEST the ``correlationId`` too. Any other message type
    continues a chain, so it must name the chain's ``correlationId``.
    """
    with _reporting(message_id, password):
        kind = _message_type(message_type)
        if kind is not MessageType.REQUEST and correlation_id is None:
            raise EnvelopeError(
                f"a {kind} message continues a chain: give the chain's correlationId",
                field="correlationId",
            )
        info: dict[str, object] = {
            "messageId": _optional_text(message_id, "messageId"),
            "correlationId": _optional_text(correlation_id, "correlationId"),
            "serviceId": _text(service_id, "serviceId"),
            "messageType": str(kind),
            "routeId": _optional_text(route_id, "routeId"),
            "messageDate": _message_date(message_date, now),
            "sender": _sender(sender_id, password),
            "properties": _properties(properties),
            "sessionId": None if session_id is None else format_session_id(session_id),
        }
        return _build(
            contract,
            "sendMessage",
            {"messageInfo": info, "messageData": {"data": ""}},
            data_path=("request", "messageData", "data"),
            payload=_payload(data),
            message_id=message_id,
        )


def _build(
    contract: Contract,
    operation: str,
    request: dict[str, object],
    *,
    data_path: tuple[str, ...],
    payload: Payload,
    message_id: str | None,
) -> etree._Element:
    envelope = contract.create_message(operation, request=request)
    declare_wsu_on_body(find_body(envelope))  # ready for the transport signature's wsu:Id
    message = find_body_element(envelope)
    _replace(_placeholder(message, data_path, message_id), _data_element(payload))
    find_header(envelope, create=True)
    contract.validate(message, message_id=message_id)
    return envelope


@contextmanager
def _reporting(message_id: str | None, password: str | None) -> Iterator[None]:
    """Give every EnvelopeError the message id, and scrub the password from it."""
    try:
        yield
    except EnvelopeError as exc:
        secret = password if isinstance(password, str) else None  # callers may pass junk
        leaks = secret is not None and _mentions(exc, secret)
        # A schema error quoting the password must not carry it on, not even in __cause__.
        raise _redacted(exc, secret, message_id) from (None if leaks else exc)


# --------------------------------------------------------------------------- field values


def format_message_date(moment: datetime, *, offset: timedelta = ALMATY_OFFSET) -> str:
    """``2023-02-13T11:17:26.000+06:00``: milliseconds, and an offset *with* a colon.

    ``+0600`` (Java's ``SimpleDateFormat`` ``Z``) is not an xsd:dateTime and is refused by the
    gateway's schema, so the offset is always written by ``isoformat``.
    """
    if not isinstance(moment, datetime):
        raise EnvelopeError(
            f"expected a datetime, got {type(moment).__name__}", field="messageDate"
        )
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise EnvelopeError(
            "naive datetime: give a timezone-aware one (e.g. datetime.now(UTC))",
            field="messageDate",
        )
    return moment.astimezone(timezone(offset)).isoformat(timespec="milliseconds")


def format_session_id(value: str | uuid.UUID) -> str:
    """``{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}``, the braced form the ``guid`` type requires.

    A string keeps its hex digits as given (the gateway hands them out; we echo them).
    """
    if isinstance(value, uuid.UUID):
        return f"{{{value}}}"
    if isinstance(value, str):
        match = _GUID.fullmatch(value)
        if match is not None:
            return f"{{{match.group('braced') or match.group('bare')}}}"
        raise EnvelopeError(
            f"not a GUID: {value[:64]!r} (expected {{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}})",
            field="sessionId",
        )
    raise EnvelopeError(
        f"expected a UUID or a GUID string, got {type(value).__name__}", field="sessionId"
    )


def parse_date_time(value: str, *, field: str = "messageDate") -> datetime:
    """Read an ``xsd:dateTime`` as the gateway's schema does, naming what is wrong if it is not.

    The reading side of :func:`format_message_date`. A value without an offset is valid and
    comes back naive (the gateway reads it in its own zone); an offset without a colon
    (``+0600``, Java's ``SimpleDateFormat`` ``Z``), a space for ``T`` or missing seconds are
    refused with an :class:`EnvelopeError` that says so.
    """
    text = value.strip(" \t\r\n")  # xsd:dateTime collapses whitespace
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        raise EnvelopeError(_date_time_problem(text), field=field)
    year, month, day = (int(match.group(name)) for name in ("year", "month", "day"))
    hour, minute, second = (int(match.group(name)) for name in ("hour", "minute", "second"))
    midnight_next = (hour, minute, second) == (24, 0, 0) and not (match.group("fraction") or "")
    offset = None
    if match.group("offset") == "Z":
        offset = UTC
    elif match.group("offset"):
        hours, minutes = int(match.group("oh")), int(match.group("om"))
        if minutes > 59 or hours > 14 or (hours == 14 and minutes):
            raise EnvelopeError(
                f"{text[:64]!r}: offset {match.group('offset')} is outside -14:00..+14:00",
                field=field,
            )
        delta = timedelta(hours=hours, minutes=minutes)
        offset = timezone(-delta if match.group("offset").startswith("-") else delta)
    fraction = match.group("fraction") or ""
    try:
        moment = datetime(
            year,
            month,
            day,
            0 if midnight_next else hour,
            minute,
            second,
            int((fraction[1:] + "000000")[:6]) if fraction else 0,
            tzinfo=offset,
        )
    except ValueError as exc:
        raise EnvelopeError(
            f"{text[:64]!r} is not a valid date and time: {exc}", field=field
        ) from None
    return moment + timedelta(days=1) if midnight_next else moment


def _date_time_problem(text: str) -> str:
    shown = repr(text[:64])
    if re.fullmatch(r".*T\d{2}:\d{2}:\d{2}(?:\.\d+)?[+-]\d{4}", text):
        return (
            f"{shown}: the offset {text[-5:]} has no colon; xsd:dateTime needs "
            f"{text[-5:-2]}:{text[-2:]} (Java's SimpleDateFormat 'Z' writes {text[-5:]}; "
            "use 'XXX')"
        )
    if re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:.*", text):
        return f"{shown}: date and time are separated by 'T', not a space"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?:Z|[+-].*)?", text):
        return f"{shown}: seconds are required (hh:mm:ss)"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return f"{shown} is a date without a time"
    return f"{shown} is not an xsd:dateTime (e.g. {_DATE_TIME_EXAMPLE})"


def parse_session_id(value: str, *, field: str = "sessionId") -> str:
    """Check a ``guid`` value exactly as the contract's pattern does; return it unchanged.

    The reading side of :func:`format_session_id`, which is lenient about braces: this one
    is not, because the gateway's schema is not.
    """
    match = _GUID.fullmatch(value)
    if match is not None and match.group("braced"):
        return value
    shown = repr(value[:64])
    if match is not None:
        problem = (
            f"{shown} lacks the curly braces the guid type requires: "
            f"write {{{match.group('bare')}}}"
        )
    elif _GUID.fullmatch(value.strip()):
        problem = f"{shown} has whitespace around the GUID"
    else:
        problem = f"{shown} is not a braced GUID ({{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}})"
    raise EnvelopeError(problem, field=field)


def _message_date(message_date: datetime | None, now: datetime | None) -> str:
    if message_date is not None:
        return format_message_date(message_date)
    if now is not None:
        return format_message_date(now)
    return format_message_date(datetime.now(UTC))


def _message_type(value: MessageType | str) -> MessageType:
    try:
        return MessageType(value)
    except ValueError:
        allowed = ", ".join(kind.value for kind in MessageType)
        raise EnvelopeError(
            f"unknown message type {str(value)[:32]!r} (one of {allowed})", field="messageType"
        ) from None


def _text(value: object, field: str) -> str:
    """A required string field: a non-empty ``str`` XML can carry."""
    if not isinstance(value, str):
        raise EnvelopeError(f"expected a string, got {type(value).__name__}", field=field)
    if not value.strip():
        raise EnvelopeError("must not be empty", field=field)
    _check_xml_chars(value, field)
    return value


def _optional_text(value: object, field: str) -> str | None:
    return None if value is None else _text(value, field)


def _check_xml_chars(value: str, field: str) -> None:
    # Reports the position, never the value: the field may be the password.
    bad = _NOT_XML_CHAR.search(value)
    if bad is not None:
        raise EnvelopeError(
            f"contains a character XML 1.0 cannot carry (U+{ord(bad.group()):04X} at "
            f"position {bad.start()})",
            field=field,
        )


def _sender(sender_id: str, password: str | None) -> dict[str, object]:
    if password is not None:
        if not isinstance(password, str):
            raise EnvelopeError(
                f"expected a string or None, got {type(password).__name__}", field="password"
            )
        _check_xml_chars(password, "password")
    return {"senderId": _text(sender_id, "senderId"), "password": password}


def _properties(
    properties: Mapping[str, str] | Sequence[tuple[str, str]],
) -> list[dict[str, str]]:
    if isinstance(cast("object", properties), str | bytes):
        raise EnvelopeError("expected key/value pairs, got a string", field="properties")
    pairs = list(properties.items()) if isinstance(properties, Mapping) else list(properties)
    result: list[dict[str, str]] = []
    for index, pair in enumerate(pairs):
        where = f"properties[{index}]"
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise EnvelopeError("expected a (key, value) pair", field=where)
        key, value = pair
        for part, text, limit in (
            ("key", key, PROPERTY_KEY_MAX),
            ("value", value, PROPERTY_VALUE_MAX),
        ):
            if not isinstance(text, str):
                raise EnvelopeError(
                    f"expected a string, got {type(text).__name__}", field=f"{where}.{part}"
                )
            if len(text) > limit:
                raise EnvelopeError(
                    f"is {len(text)} characters, over the contract's limit of {limit}",
                    field=f"{where}.{part}",
                )
            _check_xml_chars(text, f"{where}.{part}")
        result.append({"key": key, "value": value})
    return result


# --------------------------------------------------------------------------- data payloads


def _payload(data: object) -> Payload:
    if isinstance(data, str):
        _check_xml_chars(data, "data")
        return data
    if isinstance(data, TypedPayload):
        return data
    if isinstance(data, etree._Element) and _is_element(data):
        return data
    if isinstance(data, bytes | bytearray):
        raise EnvelopeError(
            "got bytes: decode them to send an escaped string, or parse them with "
            "gateway.xmlparse.parse_xml to embed the element",
            field="data",
        )
    raise EnvelopeError(
        f"expected str, an lxml element or TypedPayload, got {type(data).__name__}",
        field="data",
    )


def _data_element(payload: Payload) -> etree._Element:
    """The ``data`` element for ``payload``, built whole so it can declare its namespaces.

    zeep's anyType rendering can write text only, and an lxml element cannot gain namespace
    declarations after creation, yet a typed payload's ``xsi:type`` needs its prefix declared
    on ``data`` itself. ``data`` never declares a default namespace: it is unqualified, and
    a default namespace on it would move it into that namespace.
    """
    if isinstance(payload, str):
        data = etree.Element("data", nsmap={"xs": XSD, "xsi": XSI})
        # lxml turns a QName value into prefix:local, declaring the prefix if needed;
        # lxml-stubs only allow str values.
        data.set(_XSI_TYPE, etree.QName(XSD, "string"))  # type: ignore[arg-type]
        data.text = payload
        return data
    if isinstance(payload, TypedPayload):
        nsmap: dict[str | None, str] = {
            prefix: uri for prefix, uri in payload.element.nsmap.items() if prefix
        }
        nsmap.setdefault("xsi", XSI)
        data = _clone(payload.element, tag="data", nsmap=nsmap)
        if _XSI_TYPE in data.attrib:
            del data.attrib[_XSI_TYPE]
        data.set(_XSI_TYPE, payload.xsi_type)  # type: ignore[arg-type]  # QName value, as above
        return data
    data = etree.Element("data")
    element_nsmap = dict(payload.nsmap)
    if etree.QName(payload).namespace is None:
        element_nsmap.pop(None, None)
    data.append(_clone(payload, tag=payload.tag, nsmap=element_nsmap))
    return data


def _clone(
    source: etree._Element, *, tag: str | bytes | etree.QName, nsmap: Mapping[str | None, str]
) -> etree._Element:
    # copy.deepcopy alone would drop namespace declarations inherited from the source's
    # ancestors that only QName values (xsi:type="p:T") use; declaring the source's whole
    # scope on the copy keeps those values meaningful.
    clone = etree.Element(tag, nsmap=dict(nsmap))  # type: ignore[arg-type]  # stubs: no None key
    for name, value in source.attrib.items():
        clone.set(name, value)
    clone.text = source.text
    for child in source:
        clone.append(copy.deepcopy(child))
    return clone


def _placeholder(
    message: etree._Element, path: tuple[str, ...], message_id: str | None
) -> etree._Element:
    placeholder = _descendant(message, path)
    if placeholder is None:
        raise EnvelopeError(
            f"the contract's {etree.QName(message).localname} has no {'/'.join(path)}",
            field="data",
            message_id=message_id,
        )
    return placeholder


def _replace(old: etree._Element, new: etree._Element) -> None:
    parent = old.getparent()
    if parent is None:
        raise EnvelopeError("data element has no parent", field="data")
    new.tail = old.tail
    parent.replace(old, new)


def _is_element(value: object) -> bool:
    return isinstance(value, etree._Element) and isinstance(value.tag, str)


# --------------------------------------------------------------------------- inspection


def soap_version(envelope: etree._Element) -> Literal["1.1", "1.2"]:
    """Which SOAP version the envelope speaks, from its namespace."""
    if _is_element(envelope) and etree.QName(envelope).localname == "Envelope":
        namespace = etree.QName(envelope).namespace
        if namespace == SOAP11:
            return "1.1"
        if namespace == SOAP12:
            return "1.2"
    tag = envelope.tag if isinstance(envelope, etree._Element) else type(envelope).__name__
    raise EnvelopeError(f"not a SOAP envelope (root is {tag!r})", field="Envelope")


def find_body(envelope: etree._Element) -> etree._Element:
    """The envelope's one ``Body``; two Bodies (a wrapping attack's shape) are refused."""
    namespace = SOAP11 if soap_version(envelope) == "1.1" else SOAP12
    bodies = envelope.findall(f"{{{namespace}}}Body")
    if len(bodies) != 1:
        raise EnvelopeError(
            f"an envelope has exactly one Body, this one has {len(bodies)}",
            field="Body",
            line=_source_line(envelope),
        )
    return bodies[0]


def find_body_element(envelope: etree._Element) -> etree._Element:
    """The one element inside Body: ``SendMessage``, ``SendMessageResponse``, a ``Fault``."""
    body = find_body(envelope)
    children = [child for child in body if _is_element(child)]
    if len(children) != 1:
        raise EnvelopeError(
            f"Body must hold exactly one element, it holds {len(children)}",
            field="Body",
            line=_source_line(body),
        )
    return children[0]


@overload
def find_header(envelope: etree._Element, create: Literal[True]) -> etree._Element: ...
@overload
def find_header(envelope: etree._Element, create: bool = False) -> etree._Element | None: ...
def find_header(envelope: etree._Element, create: bool = False) -> etree._Element | None:
    """The envelope's ``Header``, or ``None``; with ``create`` an empty one is inserted first.

    More than one Header, or a Header after the Body, is refused rather than guessed at.
    """
    namespace = SOAP11 if soap_version(envelope) == "1.1" else SOAP12
    headers = envelope.findall(f"{{{namespace}}}Header")
    if len(headers) > 1:
        raise EnvelopeError(
            f"an envelope has at most one Header, this one has {len(headers)}",
            field="Header",
            line=_source_line(headers[1]),
        )
    if headers:
        first = next(child for child in envelope if _is_element(child))
        if first is not headers[0]:
            raise EnvelopeError(
                "Header must be the Envelope's first child",
                field="Header",
                line=_source_line(headers[0]),
            )
        return headers[0]
    if not create:
        return None
    header = envelope.makeelement(f"{{{namespace}}}Header")
    envelope.insert(0, header)
    return header


def declare_wsu_on_body(body: etree._Element) -> etree._Element:
    """The Body with the WS-Security utility namespace declared as ``wsu`` on it.

    The transport signature puts ``wsu:Id`` on the Body. lxml cannot add a declaration to an
    existing element, so a Body without ``wsu`` in scope is replaced by an identical element
    that declares it; its children move over untouched, text and tails included. Returns the
    element now in the envelope.
    """
    if WSU in body.nsmap.values():
        return body
    parent = body.getparent()
    if parent is None:
        raise EnvelopeError("the Body is not inside an Envelope", field="Body")
    own: dict[str | None, str] = {
        p: ns for p, ns in body.nsmap.items() if parent.nsmap.get(p) != ns
    }
    own["wsu" if "wsu" not in body.nsmap else f"wsu{uuid.uuid4().hex[:6]}"] = WSU
    # lxml-stubs omit the None key (a default namespace) that nsmap may hold.
    replacement = etree.Element(body.tag, nsmap=own)  # type: ignore[arg-type]
    for name, value in body.attrib.items():
        replacement.set(name, value)
    replacement.text = body.text
    replacement.tail = body.tail
    replacement.extend(list(body))
    parent.replace(body, replacement)
    return replacement


def request_message_id(envelope: etree._Element) -> str | None:
    """The sender's messageId (``requestInfo``/``messageInfo``), for error context.

    Never raises: it is called while reporting another error, on envelopes that may be broken.
    """
    try:
        message = find_body_element(envelope)
    except EnvelopeError:
        return None
    for path in (
        ("request", "requestInfo", "messageId"),
        ("request", "messageInfo", "messageId"),
        ("request", "messageId"),
    ):
        node = _descendant(message, path)
        if node is not None and node.text and node.text.strip():
            return node.text.strip()
    return None


def serialize(envelope: etree._Element) -> bytes:
    """UTF-8 bytes with an XML declaration, exactly as built: no pretty printing.

    The declaration has no ``standalone`` attribute, which some signers choke on.
    """
    soap_version(envelope)
    return _XML_DECLARATION + etree.tostring(
        envelope, encoding="UTF-8", xml_declaration=False, with_tail=False
    )


def _source_line(node: etree._Element) -> int | None:
    # lxml-stubs type sourceline as Ellipsis; at run time it is an int or None.
    line = getattr(node, "sourceline", None)
    return line if isinstance(line, int) and line > 0 else None


def _descendant(element: etree._Element, path: Sequence[str]) -> etree._Element | None:
    """Follow unqualified local names (the wire is the same in every edition)."""
    node: etree._Element | None = element
    for name in path:
        if node is None:
            return None
        node = node.find(name)
    return node


def _mentions(exc: BaseException, secret: str) -> bool:
    """Whether ``secret`` shows in ``exc`` or anything chained to it."""
    if not secret:
        return False
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        if secret in str(current):
            return True
        seen.append(current)
        current = current.__cause__ or current.__context__
    return False


def _redacted(exc: EnvelopeError, password: str | None, message_id: str | None) -> EnvelopeError:
    message = exc.message
    if password:
        message = message.replace(password, _REDACTED)
    if exc.message_id is None and exc.field != "messageId":
        message_id_context = message_id
    else:
        message_id_context = exc.message_id
    return type(exc)(
        message,
        file=exc.file,
        line=exc.line,
        field=exc.field,
        message_id=message_id_context,
    )


# --------------------------------------------------------------------------- responses and faults


def build_sync_response(
    contract: Contract,
    *,
    message_id: str,
    correlation_id: str | None,
    data: Payload,
    status_code: str = SUCCESS_CODE,
    status_message: str = SUCCESS_MESSAGE,
    session_id: str | uuid.UUID | None = None,
    now: datetime | None = None,
) -> etree._Element:
    """A SyncChannel ``SendMessageResponse`` envelope (no Header: sign it to add one).

    ``responseInfo/messageId``: the gateway's samples answer with the *request's* messageId,
    and so does the emulator, which lets a caller match the two; the contract does not say so,
    so a responder may pass an id of its own and a client must not depend on either.
    ``responseDate`` is ``now`` (default: the current time) with the ``+06:00`` offset.
    """
    with _reporting(message_id, None):
        info: dict[str, object] = {
            "messageId": _text(message_id, "messageId"),
            "correlationId": _optional_text(correlation_id, "correlationId"),
            "responseDate": _timestamp(now, "responseDate"),
            "status": {
                "code": _text(status_code, "status.code"),
                "message": _status_message(status_message),
            },
            "sessionId": _session(session_id),
        }
        return _build_response(
            contract,
            "SendMessage",
            {"responseInfo": info, "responseData": {"data": ""}},
            data=[_data_element(_payload(data))],
            data_path="response/responseData/data",
            message_id=message_id,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorInfo:
    """One ``ErrorInfo`` of a fault's detail (the top one, or a ``subError``)."""

    error_code: str
    error_message: str
    error_data: str | None = None
    error_date: str | None = None
    """As sent (an xsd:dateTime string); ``None`` only when a lenient read found none."""
    session_id: str | None = None


def build_fault(
    contract: Contract,
    *,
    operation: str = "SendMessage",
    error_code: str,
    error_message: str,
    fault_code: Literal["Client", "Server"] = "Server",
    fault_string: str | None = None,
    error_data: str | None = None,
    session_id: str | uuid.UUID | None = None,
    sub_errors: Sequence[ErrorInfo] = (),
    now: datetime | None = None,
) -> etree._Element:
    """A SOAP 1.1 Fault envelope whose ``detail`` holds ``<op>Fault1_<op>Fault`` (ErrorInfo).

    SOAP 1.1 sends faults with HTTP 500. ``faultstring`` defaults to ``error_message``;
    ``sub_errors`` become the nested ``subError`` chain, outermost first. Faults are never
    signed (the gateway does not sign them either).
    """
    if fault_code not in ("Client", "Server"):
        raise EnvelopeError(
            f"fault code must be Client or Server, not {fault_code!r}", field="faultcode"
        )
    details = contract.fault_elements(operation)
    if not details:
        raise EnvelopeError(f"{operation} declares no fault", field="operation")
    date = _timestamp(now, "errorDate")
    chain = [
        ErrorInfo(
            error_code=error_code,
            error_message=error_message,
            error_data=error_data,
            error_date=date,
            session_id=None if session_id is None else format_session_id(session_id),
        ),
        *sub_errors,
    ]
    detail_child = contract.create_element(details[0], **_error_info_params(chain, date))
    contract.validate(detail_child)

    envelope = etree.Element(f"{{{SOAP11}}}Envelope", nsmap={"soap": SOAP11})
    body = etree.SubElement(envelope, f"{{{SOAP11}}}Body")
    fault = etree.SubElement(body, f"{{{SOAP11}}}Fault")
    etree.SubElement(fault, "faultcode").text = f"soap:{fault_code}"
    text = error_message if fault_string is None else fault_string
    _check_xml_chars(text, "faultstring")
    etree.SubElement(fault, "faultstring").text = text
    etree.SubElement(fault, "detail").append(detail_child)
    return envelope


def _error_info_params(chain: Sequence[ErrorInfo], date: str) -> dict[str, object]:
    first, rest = chain[0], chain[1:]
    if first.error_data is not None:
        _check_xml_chars(first.error_data, "errorData")
    return {
        "errorCode": _text(first.error_code, "errorCode"),
        "errorMessage": _text(first.error_message, "errorMessage"),
        "errorData": first.error_data,
        "errorDate": first.error_date or date,
        "subError": _error_info_params(rest, date) if rest else None,
        "sessionId": None if first.session_id is None else format_session_id(first.session_id),
    }


def _build_response(
    contract: Contract,
    operation: str,
    response: dict[str, object],
    *,
    data: Sequence[etree._Element] = (),
    data_path: str | None = None,
    message_id: str | None = None,
) -> etree._Element:
    envelope = contract.create_response(operation, response=response)
    message = find_body_element(envelope)
    if data_path is not None:
        placeholders = message.findall(data_path)
        if len(placeholders) != len(data):
            raise EnvelopeError(
                f"the contract's {etree.QName(message).localname} has {len(placeholders)} "
                f"{data_path} element(s) for {len(data)} payload(s)",
                field="data",
                message_id=message_id,
            )
        for placeholder, element in zip(placeholders, data, strict=True):
            _replace(placeholder, element)
    contract.validate(message, message_id=message_id)
    return envelope


def _build_request(
    contract: Contract, operation: str, request: dict[str, object], message_id: str | None
) -> etree._Element:
    envelope = contract.create_message(operation, request=request)
    find_header(envelope, create=True)
    contract.validate(find_body_element(envelope), message_id=message_id)
    return envelope


def data_element(payload: Payload) -> etree._Element:
    """The ``<data>`` element that carries ``payload`` (see :data:`Payload`), ready to embed."""
    return _data_element(_payload(payload))


def _copy_data(data: etree._Element) -> etree._Element:
    """A standalone copy of a parsed ``data`` element, keeping the prefixes its xsi:type uses."""
    if not _is_element(data):
        raise EnvelopeError("expected a data element", field="data")
    clone = _clone(data, tag="data", nsmap={p: uri for p, uri in data.nsmap.items() if p})
    clone.tail = None
    return clone


def _timestamp(now: datetime | None, field_name: str) -> str:
    try:
        return format_message_date(datetime.now(UTC) if now is None else now)
    except EnvelopeError as exc:
        raise EnvelopeError(exc.message, field=field_name) from None


def _session(value: str | uuid.UUID | None) -> str | None:
    return None if value is None else format_session_id(value)


def _new_session(value: str | uuid.UUID | None) -> str:
    return format_session_id(uuid.uuid4() if value is None else value)


def _status_message(value: object) -> str:
    if not isinstance(value, str):
        raise EnvelopeError(
            f"expected a string, got {type(value).__name__}", field="status.message"
        )
    if len(value) > STATUS_MESSAGE_MAX:
        raise EnvelopeError(
            f"is {len(value)} characters, over the contract's limit of {STATUS_MESSAGE_MAX}",
            field="status.message",
        )
    _check_xml_chars(value, "status.message")
    return value


def _optional_sender(sender_id: str | None, password: str | None) -> dict[str, object] | None:
    if sender_id is None:
        if password is not None:
            raise EnvelopeError("a password needs a sender_id", field="password")
        return None
    return _sender(sender_id, password)


# --------------------------------------------------------------------------- async channel


def build_async_send_response(
    contract: Contract,
    *,
    message_id: str,
    correlation_id: str,
    session_id: str | uuid.UUID | None = None,
    now: datetime | None = None,
) -> etree._Element:
    """The gateway's answer to ``sendMessage``: the ids it assigned (or kept) for the message."""
    with _reporting(message_id, None):
        response: dict[str, object] = {
            "messageId": _text(message_id, "messageId"),
            "correlationId": _text(correlation_id, "correlationId"),
            "responseDate": _timestamp(now, "responseDate"),
            "sessionId": _session(session_id),
        }
        return _build_response(contract, "sendMessage", response, message_id=message_id)


def build_get_messages_request(
    contract: Contract,
    *,
    service_id: str,
    correlation_id: str | None = None,
    message_id: str | None = None,
    sender_id: str | None = None,
    password: str | None = None,
    amount: int | None = None,
    properties: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    now: datetime | None = None,
) -> etree._Element:
    """A ``getMessages`` pull: the messages waiting for ``service_id`` (by correlationId or id).

    ``amount`` 0 or ``None`` means the gateway's own maximum. ``requestDate`` is ``now``.
    """
    with _reporting(message_id, password):
        if amount is not None and (
            isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount < 2**31
        ):
            raise EnvelopeError("expected a non-negative int below 2**31", field="amount")
        request: dict[str, object] = {
            "messageId": _optional_text(message_id, "messageId"),
            "correlationId": _optional_text(correlation_id, "correlationId"),
            "requestDate": _timestamp(now, "requestDate"),
            "serviceId": _text(service_id, "serviceId"),
            "sender": _optional_sender(sender_id, password),
            "amount": amount,
            "properties": _properties(properties),
        }
        return _build_request(contract, "getMessages", request, message_id)


def build_get_messages_response(
    contract: Contract,
    *,
    messages: Sequence[AsyncMessage],
    session_id: str | uuid.UUID | None = None,
    now: datetime | None = None,
) -> etree._Element:
    """The answer to ``getMessages``: each message's ``messageInfo`` and a copy of its ``data``.

    ``sessionId`` is required here by the contract; a fresh one is made when not given.
    """
    items: list[dict[str, object]] = []
    for message in messages:
        if not isinstance(message, AsyncMessage):
            raise EnvelopeError(
                f"expected AsyncMessage, got {type(message).__name__}", field="messages"
            )
        with _reporting(message.message_id, message.password):
            items.append({"messageInfo": _message_info(message), "messageData": {"data": ""}})
    response: dict[str, object] = {
        "responseDate": _timestamp(now, "responseDate"),
        "sessionId": _new_session(session_id),
        "messages": items,
    }
    return _build_response(
        contract,
        "getMessages",
        response,
        data=[_copy_data(message.data) for message in messages],
        data_path="response/messages/messageData/data",
    )


def _message_info(message: AsyncMessage) -> dict[str, object]:
    return {
        "messageId": _optional_text(message.message_id, "messageId"),
        "correlationId": _optional_text(message.correlation_id, "correlationId"),
        "serviceId": _text(message.service_id, "serviceId"),
        "messageType": str(_message_type(message.message_type)),
        "routeId": _optional_text(message.route_id, "routeId"),
        "messageDate": _text(message.message_date, "messageDate"),
        "sender": _sender(message.sender_id, message.password),
        "properties": _properties(message.properties),
        "sessionId": _session(message.session_id),
    }


def build_delivery_notification(
    contract: Contract,
    *,
    message_id: str,
    service_id: str,
    receive_status: ReceiveStatus | str = ReceiveStatus.ACCEPTED,
    resend: ResendMessage | str = ResendMessage.NOT_RESEND,
    error: ErrorInfo | None = None,
    sender_id: str | None = None,
    password: str | None = None,
    now: datetime | None = None,
) -> etree._Element:
    """A ``sendDeliveryNotification``: confirm (or refuse) a message received by ``getMessages``.

    ``message_id`` is the *delivered* message's id (``messageInfo/messageId`` of the pulled
    message). The notification, status and request dates are all ``now``.
    """
    with _reporting(message_id, password):
        date = _timestamp(now, "notificationDate")
        status: dict[str, object] = {
            "receiveStatus": str(_enum(ReceiveStatus, receive_status, "receiveStatus")),
            "statusDate": date,
            "resendMessage": str(_enum(ResendMessage, resend, "resendMessage")),
            "error": None if error is None else _error_info_params([error], date),
        }
        request: dict[str, object] = {
            "notification": {
                "messageId": _text(message_id, "messageId"),
                "serviceId": _text(service_id, "serviceId"),
                "notificationDate": date,
                "deliveryStatus": status,
            },
            "requestDate": date,
            "sender": _optional_sender(sender_id, password),
        }
        return _build_request(contract, "sendDeliveryNotification", request, message_id)


def build_delivery_notification_response(
    contract: Contract,
    *,
    notification_id: str | None = None,
    session_id: str | uuid.UUID | None = None,
    now: datetime | None = None,
) -> etree._Element:
    """The gateway's receipt for a delivery notification (a fresh ``notificationId`` by default)."""
    response: dict[str, object] = {
        "notificationId": _text(
            str(uuid.uuid4()) if notification_id is None else notification_id, "notificationId"
        ),
        "responseDate": _timestamp(now, "responseDate"),
        "sessionId": _new_session(session_id),
    }
    return _build_response(contract, "sendDeliveryNotification", response)


_E = TypeVar("_E", bound=enum.StrEnum)


def _enum(kind: type[_E], value: object, field_name: str) -> _E:
    try:
        return kind(str(value))
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise EnvelopeError(
            f"unknown value {str(value)[:40]!r} (one of {allowed})", field=field_name
        ) from None


# --------------------------------------------------------------------------- parsed messages


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncRequestInfo:
    """A parsed SyncChannel ``SendMessage`` request (what a service handler gets).

    ``data`` is the ``<data>`` element inside the parsed envelope: copy it before changing it.
    """

    message_id: str
    correlation_id: str | None
    service_id: str
    sender_id: str
    password: str | None = field(repr=False)
    session_id: str | None
    message_date: str
    route_id: str | None = None
    properties: tuple[tuple[str, str], ...] = ()
    data: etree._Element

    @property
    def data_text(self) -> str:
        """The payload as text: an ``xs:string`` payload's XML, unescaped."""
        return self.data.text or ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncResponse:
    """A parsed ``SendMessageResponse``; check :attr:`ok` (a non-SCSS001 code is an error)."""

    message_id: str
    correlation_id: str | None
    response_date: str
    status_code: str
    status_message: str
    session_id: str | None
    data: etree._Element | None
    """``None`` only with the other edition's contract, where ``data`` is optional."""

    @property
    def ok(self) -> bool:
        return self.status_code == SUCCESS_CODE

    @property
    def data_text(self) -> str | None:
        """The payload as text (an ``xs:string`` payload's XML, unescaped), if there is data."""
        return None if self.data is None else self.data.text or ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AsyncMessage:
    """An AsyncChannel message: ``messageInfo`` + ``messageData/data``.

    What ``sendMessage`` carries, and what ``getMessages`` returns. ``message_date`` is the
    xsd:dateTime string as sent. ``data`` is a ``<data>`` element (see :func:`data_element`).
    """

    message_id: str | None
    correlation_id: str | None
    service_id: str
    message_type: MessageType
    message_date: str
    sender_id: str
    password: str | None = field(default=None, repr=False)
    route_id: str | None = None
    properties: tuple[tuple[str, str], ...] = ()
    session_id: str | None = None
    data: etree._Element

    @property
    def data_text(self) -> str:
        """The payload as text: an ``xs:string`` payload's XML, unescaped."""
        return self.data.text or ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AsyncSendResponse:
    """The gateway's answer to ``sendMessage``: keep ``correlation_id`` to pull the reply."""

    message_id: str
    correlation_id: str
    response_date: str
    session_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class GetMessagesRequest:
    """A parsed ``getMessages`` pull."""

    service_id: str
    message_id: str | None = None
    correlation_id: str | None = None
    request_date: str | None = None
    sender_id: str | None = None
    password: str | None = field(default=None, repr=False)
    amount: int | None = None
    properties: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class GetMessagesResponse:
    """The messages ``getMessages`` returned (possibly none)."""

    response_date: str
    session_id: str
    messages: tuple[AsyncMessage, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryNotification:
    """A parsed ``sendDeliveryNotification`` request."""

    message_id: str
    service_id: str
    notification_date: str
    receive_status: ReceiveStatus
    status_date: str
    resend_message: ResendMessage
    error: ErrorInfo | None = None
    request_date: str
    sender_id: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryNotificationResponse:
    """The gateway's receipt for a delivery notification."""

    notification_id: str
    response_date: str
    session_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """A SOAP Fault, read leniently: whatever the server put there, signed or not.

    ``fault_code`` is the local part of the code (``Server``, ``Client``; SOAP 1.2:
    ``Receiver``, ``Sender``). The ``error_*`` fields come from the detail's ErrorInfo
    (``<op>Fault1_<op>Fault``) and are ``None`` when the detail has none (a proxy's fault).
    """

    fault_code: str
    fault_string: str
    error_code: str | None = None
    error_message: str | None = None
    error_data: str | None = None
    error_date: str | None = None
    session_id: str | None = None
    sub_errors: tuple[ErrorInfo, ...] = ()
    """The ``subError`` chain, outermost first."""
    detail_element: str | None = None
    """Clark name of the detail's element, e.g. ``{…/SyncChannel/v10/Types}SendMessageFault1_…``."""
    soap_version: Literal["1.1", "1.2"] = "1.1"

    @property
    def operation(self) -> str | None:
        """The operation the detail element names (``SendMessage`` for ``SendMessageFault1_…``)."""
        if self.detail_element is None:
            return None
        match = _FAULT_DETAIL.fullmatch(etree.QName(self.detail_element).localname)
        return match.group("op") if match else None


_FAULT_DETAIL: Final = re.compile(r"(?P<op>\w+?)Fault1_(?P=op)Fault")
_FAULT_TEXT_MAX: Final = 200


# --------------------------------------------------------------------------- parsers


def find_fault(envelope: etree._Element) -> Fault | None:
    """The SOAP 1.1/1.2 Fault in the Body, or ``None``; never looks at signatures.

    Call it on every response before asking for a signature or a SendMessageResponse: the
    gateway's faults are unsigned. Raises :class:`EnvelopeError` only for a non-envelope.
    """
    version = soap_version(envelope)
    namespace = SOAP11 if version == "1.1" else SOAP12
    body = find_body(envelope)
    fault = body.find(f"{{{namespace}}}Fault")
    if fault is None:
        return None
    if version == "1.1":
        code = _child_text(fault, "faultcode")
        reason = _child_text(fault, "faultstring")
        detail = _child(fault, "detail")
    else:
        code = fault.findtext(f"{{{namespace}}}Code/{{{namespace}}}Value")
        reason = fault.findtext(f"{{{namespace}}}Reason/{{{namespace}}}Text")
        detail = fault.find(f"{{{namespace}}}Detail")
    info = _error_info_element(detail)
    chain = _read_error_chain(info) if info is not None else []
    top = chain[0] if chain else None
    return Fault(
        fault_code=(code or "").strip().rpartition(":")[2],
        fault_string=(reason or "").strip(),
        error_code=top.error_code if top else None,
        error_message=top.error_message if top else None,
        error_data=top.error_data if top else None,
        error_date=top.error_date if top else None,
        session_id=top.session_id if top else None,
        sub_errors=tuple(chain[1:]),
        detail_element=info.tag if info is not None and isinstance(info.tag, str) else None,
        soap_version=version,
    )


def parse_sync_request(envelope: etree._Element, contract: Contract) -> SyncRequestInfo:
    """Read a ``SendMessage`` request after checking it against the contract's XSD.

    Raises :class:`EnvelopeError` naming the field (and line, for parsed input) when the Body
    holds something else or the message does not fit the schema.
    """
    message = _read_message(envelope, contract, contract.input_element("SendMessage"))
    info = _need(message, "request/requestInfo")
    sender = _need(info, "sender")
    return SyncRequestInfo(
        message_id=_need_text(info, "messageId"),
        correlation_id=_optional_child_text(info, "correlationId"),
        service_id=_need_text(info, "serviceId"),
        sender_id=_need_text(sender, "senderId"),
        password=_optional_child_text(sender, "password"),
        session_id=_optional_child_text(info, "sessionId"),
        message_date=_need_text(info, "messageDate"),
        route_id=_optional_child_text(info, "routeId"),
        properties=_read_properties(info),
        data=_need(message, "request/requestData/data"),
    )


def parse_sync_response(envelope: etree._Element, contract: Contract) -> SyncResponse:
    """Read a ``SendMessageResponse`` after checking it against the XSD.

    A Fault is refused with an :class:`EnvelopeError` (field ``Fault``): call
    :func:`find_fault` first. The signature is not this function's business.
    """
    message = _read_message(envelope, contract, contract.output_element("SendMessage"))
    info = _need(message, "response/responseInfo")
    return SyncResponse(
        message_id=_need_text(info, "messageId"),
        correlation_id=_optional_child_text(info, "correlationId"),
        response_date=_need_text(info, "responseDate"),
        status_code=_need_text(info, "status/code"),
        status_message=_need_text(info, "status/message"),
        session_id=_optional_child_text(info, "sessionId"),
        data=message.find("response/responseData/data"),
    )


def parse_async_send_request(envelope: etree._Element, contract: Contract) -> AsyncMessage:
    """Read an AsyncChannel ``sendMessage`` request (XSD first)."""
    message = _read_message(envelope, contract, contract.input_element("sendMessage"))
    return _read_async_message(_need(message, "request"))


def parse_async_send_response(envelope: etree._Element, contract: Contract) -> AsyncSendResponse:
    """Read the answer to ``sendMessage`` (XSD first; a Fault is refused: see find_fault)."""
    message = _read_message(envelope, contract, contract.output_element("sendMessage"))
    response = _need(message, "response")
    return AsyncSendResponse(
        message_id=_need_text(response, "messageId"),
        correlation_id=_need_text(response, "correlationId"),
        response_date=_need_text(response, "responseDate"),
        session_id=_optional_child_text(response, "sessionId"),
    )


def parse_get_messages_request(envelope: etree._Element, contract: Contract) -> GetMessagesRequest:
    """Read a ``getMessages`` pull (XSD first)."""
    message = _read_message(envelope, contract, contract.input_element("getMessages"))
    request = _need(message, "request")
    sender = request.find("sender")
    amount = _optional_child_text(request, "amount")
    return GetMessagesRequest(
        service_id=_need_text(request, "serviceId"),
        message_id=_optional_child_text(request, "messageId"),
        correlation_id=_optional_child_text(request, "correlationId"),
        request_date=_optional_child_text(request, "requestDate"),
        sender_id=None if sender is None else _need_text(sender, "senderId"),
        password=None if sender is None else _optional_child_text(sender, "password"),
        amount=None if amount is None else int(amount),  # an xs:int: the XSD checked it
        properties=_read_properties(request),
    )


def parse_get_messages_response(
    envelope: etree._Element, contract: Contract
) -> GetMessagesResponse:
    """Read the answer to ``getMessages`` (XSD first; a Fault is refused: see find_fault)."""
    message = _read_message(envelope, contract, contract.output_element("getMessages"))
    response = _need(message, "response")
    return GetMessagesResponse(
        response_date=_need_text(response, "responseDate"),
        session_id=_need_text(response, "sessionId"),
        messages=tuple(_read_async_message(item) for item in response.findall("messages")),
    )


def parse_delivery_notification(
    envelope: etree._Element, contract: Contract
) -> DeliveryNotification:
    """Read a ``sendDeliveryNotification`` request (XSD first)."""
    message = _read_message(envelope, contract, contract.input_element("sendDeliveryNotification"))
    request = _need(message, "request")
    notification = _need(request, "notification")
    status = _need(notification, "deliveryStatus")
    error = status.find("error")
    sender = request.find("sender")
    return DeliveryNotification(
        message_id=_need_text(notification, "messageId"),
        service_id=_need_text(notification, "serviceId"),
        notification_date=_need_text(notification, "notificationDate"),
        receive_status=_enum(ReceiveStatus, _need_text(status, "receiveStatus"), "receiveStatus"),
        status_date=_need_text(status, "statusDate"),
        resend_message=_enum(ResendMessage, _need_text(status, "resendMessage"), "resendMessage"),
        error=None if error is None else _read_error_chain(error)[0],
        request_date=_need_text(request, "requestDate"),
        sender_id=None if sender is None else _need_text(sender, "senderId"),
        password=None if sender is None else _optional_child_text(sender, "password"),
    )


def parse_delivery_notification_response(
    envelope: etree._Element, contract: Contract
) -> DeliveryNotificationResponse:
    """Read the receipt for a delivery notification (XSD first; Faults refused)."""
    message = _read_message(envelope, contract, contract.output_element("sendDeliveryNotification"))
    response = _need(message, "response")
    return DeliveryNotificationResponse(
        notification_id=_need_text(response, "notificationId"),
        response_date=_need_text(response, "responseDate"),
        session_id=_need_text(response, "sessionId"),
    )


def _read_message(envelope: etree._Element, contract: Contract, tag: str) -> etree._Element:
    message = find_body_element(envelope)
    found = etree.QName(message)
    if found.localname == "Fault" and found.namespace in SOAP_ENVELOPE_NAMESPACES:
        fault = find_fault(envelope)
        summary = ""
        if fault is not None:
            summary = f" ({fault.error_code or fault.fault_code}: {fault.fault_string})"
        raise EnvelopeError(
            f"the envelope holds a SOAP Fault{summary[:_FAULT_TEXT_MAX]}, not a "
            f"{etree.QName(tag).localname}; check gateway.envelope.find_fault first",
            field="Fault",
            line=_source_line(message),
        )
    if message.tag != tag:
        raise EnvelopeError(
            f"expected {etree.QName(tag).localname} in the Body, found {message.tag}",
            field=found.localname,
            line=_source_line(message),
        )
    contract.validate(message, message_id=request_message_id(envelope))
    return message


def _read_async_message(node: etree._Element) -> AsyncMessage:
    info = _need(node, "messageInfo")
    sender = _need(info, "sender")
    return AsyncMessage(
        message_id=_optional_child_text(info, "messageId"),
        correlation_id=_optional_child_text(info, "correlationId"),
        service_id=_need_text(info, "serviceId"),
        message_type=_message_type(_need_text(info, "messageType")),
        message_date=_need_text(info, "messageDate"),
        sender_id=_need_text(sender, "senderId"),
        password=_optional_child_text(sender, "password"),
        route_id=_optional_child_text(info, "routeId"),
        properties=_read_properties(info),
        session_id=_optional_child_text(info, "sessionId"),
        data=_need(node, "messageData/data"),
    )


def _need(parent: etree._Element, path: str) -> etree._Element:
    """A child the schema requires; missing only when an ancestor is ``xsi:nil``."""
    node = parent.find(path)
    if node is None:
        raise EnvelopeError(
            f"missing (is {etree.QName(parent).localname} xsi:nil?)",
            field=path.replace("/", "."),
            line=_source_line(parent),
        )
    return node


def _need_text(parent: etree._Element, path: str) -> str:
    return _need(parent, path).text or ""


def _optional_child_text(parent: etree._Element, path: str) -> str | None:
    node = parent.find(path)
    return None if node is None else node.text or ""


def _read_properties(parent: etree._Element) -> tuple[tuple[str, str], ...]:
    return tuple(
        (item.findtext("key") or "", item.findtext("value") or "")
        for item in parent.findall("properties")
    )


def _child(parent: etree._Element | None, local: str) -> etree._Element | None:
    """The first child named ``local`` in any namespace (fault parts are often mis-qualified)."""
    if parent is None:
        return None
    for child in parent:
        if _is_element(child) and etree.QName(child).localname == local:
            return child
    return None


def _child_text(parent: etree._Element | None, local: str) -> str | None:
    node = _child(parent, local)
    return None if node is None else node.text or ""


def _error_info_element(detail: etree._Element | None) -> etree._Element | None:
    if detail is None:
        return None
    children = [child for child in detail if _is_element(child)]
    for child in children:
        if _FAULT_DETAIL.fullmatch(etree.QName(child).localname):
            return child
    for child in children:
        if _child(child, "errorCode") is not None:
            return child
    return None


def _read_error_chain(element: etree._Element) -> list[ErrorInfo]:
    chain: list[ErrorInfo] = []
    node: etree._Element | None = element
    while node is not None and len(chain) < 32:  # a hostile server cannot make us recurse
        chain.append(
            ErrorInfo(
                error_code=(_child_text(node, "errorCode") or "").strip(),
                error_message=_child_text(node, "errorMessage") or "",
                error_data=_child_text(node, "errorData"),
                error_date=_child_text(node, "errorDate"),
                session_id=_child_text(node, "sessionId"),
            )
        )
        node = _child(node, "subError")
    return chain

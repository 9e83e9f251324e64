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
"""

from __future__ import annotations

import copy
import enum
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Final, Literal, cast, overload

from lxml import etree

from gateway.contracts import Contract
from gateway.errors import EnvelopeError
from gateway.xmlns import SOAP11, SOAP12, XSD, XSI

__all__ = [
    "ALMATY_OFFSET",
    "PROPERTY_KEY_MAX",
    "PROPERTY_VALUE_MAX",
    "MessageType",
    "Payload",
    "TypedPayload",
    "build_async_request",
    "build_sync_request",
    "find_body",
    "find_body_element",
    "find_header",
    "format_message_date",
    "format_session_id",
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

_XML_DECLARATION: Final = b'<?xml version="1.0" encoding="UTF-8"?>'
_XSI_TYPE: Final = f"{{{XSI}}}type"
_NOT_XML_CHAR: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_HEX_GUID: Final = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_GUID: Final = re.compile(rf"\{{(?P<braced>{_HEX_GUID})\}}|(?P<bare>{_HEX_GUID})")
_REDACTED: Final = "***"


class MessageType(enum.StrEnum):
    """``messageInfo/messageType`` of the AsyncChannel."""

    REQUEST = "REQUEST"
    NOTIFICATION = "NOTIFICATION"
    UPDATE = "UPDATE"
    RESPONSE = "RESPONSE"


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

"""Service handlers: what the emulator answers for a ``serviceId``.

A handler gets the parsed, signature-checked request (``SyncRequestInfo`` on the SyncChannel,
``AsyncMessage`` on the AsyncChannel) and returns the response payload, or raises
:class:`~gateway.emulator.faults.HandlerError` to answer with a SOAP fault. Handlers run in
worker threads, several at once: keep them free of shared mutable state (or lock it).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Final, Protocol, cast

from lxml import etree

from gateway.emulator.faults import ErrorCode, HandlerError
from gateway.envelope import AsyncMessage, Payload, SyncRequestInfo, TypedPayload
from gateway.errors import ConfigError, XmlError
from gateway.xmlns import XSD, XSI
from gateway.xmlparse import parse_xml

__all__ = [
    "ECHO_NAMESPACE",
    "Handler",
    "RequestInfo",
    "echo_handler",
    "echo_xsd_handler",
    "xsd_handler",
]

RequestInfo = SyncRequestInfo | AsyncMessage
"""What a handler receives: a SyncChannel request or an AsyncChannel message."""

ECHO_NAMESPACE: Final = "urn:shep-gateway:emulator:echo"
"""Namespace of the ``echo-xsd`` demo service's ``EchoRequest``."""

_XSI_TYPE: Final = f"{{{XSI}}}type"
_XS_STRING: Final = f"{{{XSD}}}string"
_ECHO_XSD: Final = f"""<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="{XSD}" xmlns:e="{ECHO_NAMESPACE}" targetNamespace="{ECHO_NAMESPACE}"
           elementFormDefault="qualified">
  <xs:element name="EchoRequest" type="e:EchoRequest"/>
  <xs:complexType name="EchoRequest">
    <xs:sequence>
      <xs:element name="message" type="xs:string"/>
      <xs:element name="count" type="xs:positiveInteger" minOccurs="0"/>
    </xs:sequence>
  </xs:complexType>
</xs:schema>
""".encode()


class Handler(Protocol):
    """A service: request in, payload out (``str``, an element, or a ``TypedPayload``)."""

    def __call__(self, request: RequestInfo, /) -> Payload: ...


def echo_handler(request: RequestInfo) -> Payload:
    """Answer with the request's payload in the form it came: text, element or typed."""
    data = request.data
    kind = _xsi_type(data)
    if kind is not None and kind.text != _XS_STRING:
        return TypedPayload(element=data, xsi_type=kind)
    children = [child for child in data if isinstance(child.tag, str)]
    if kind is None and len(children) == 1 and not (data.text or "").strip():
        return copy.deepcopy(children[0])
    return data.text or ""


def xsd_handler(
    schema_path: Path,
    root: etree.QName | str | None = None,
    respond: Handler = echo_handler,
) -> Handler:
    """A handler that validates the payload against the XSD at ``schema_path``, then ``respond``.

    What is validated: an ``xs:string`` payload's text, parsed as XML (hardened parser);
    an embedded element (``data``'s one child); or a typed payload's children, wrapped in an
    element named ``root`` (default: the ``xsi:type`` name, for schemas that declare an element
    and a type of the same name). ``root``, when given, must also be the validated root's name.
    An invalid payload is a ``PAYLOAD_INVALID`` fault whose ``errorData`` is
    ``line L, column C``: lines of the payload text for ``xs:string`` payloads, lines of the
    received envelope otherwise. The schema is compiled once, here; includes and imports are
    read from local files only.
    """
    path = Path(schema_path)
    try:
        document = parse_xml(path.read_bytes(), source=str(path))
    except OSError as exc:
        raise ConfigError(f"cannot read the schema: {exc.strerror or exc}", file=str(path)) from exc
    except XmlError as exc:
        raise ConfigError(exc.message, file=str(path), line=exc.line) from exc
    return _schema_handler(_compile(document, str(path)), path.name, root, respond)


def echo_xsd_handler() -> Handler:
    """The ``echo-xsd`` demo service: checks ``e:EchoRequest`` (``message``, ``count?``) in
    namespace :data:`ECHO_NAMESPACE`, then echoes."""
    document = parse_xml(_ECHO_XSD, source="echo.xsd")
    return _schema_handler(_compile(document, "echo.xsd"), "echo.xsd", None, echo_handler)


def _compile(document: etree._ElementTree, source: str) -> etree.XMLSchema:
    try:
        return etree.XMLSchema(document)
    except etree.XMLSchemaParseError as exc:
        error = exc.error_log.last_error if exc.error_log else None
        raise ConfigError(
            f"not a usable XSD: {error.message if error else exc}",
            file=source,
            line=error.line if error is not None and error.line else None,
        ) from exc


def _schema_handler(
    schema: etree.XMLSchema,
    name: str,
    root: etree.QName | str | None,
    respond: Handler,
) -> Handler:
    expected = root if root is None or isinstance(root, etree.QName) else etree.QName(root)
    lock = threading.Lock()  # an XMLSchema's error_log is shared by every caller

    def handle(request: RequestInfo, /) -> Payload:
        candidate = _payload_root(request.data, expected)
        if expected is not None and candidate.tag != expected.text:
            raise HandlerError(
                ErrorCode.PAYLOAD_INVALID,
                f"payload root is {candidate.tag}, {name} expects {expected.text}",
                data=_where(_line(candidate), 0),
            )
        with lock:
            valid = schema.validate(candidate)
            errors = list(cast("Iterable[etree._LogEntry]", schema.error_log))
        if not valid:
            first = errors[0] if errors else None
            line = first.line if first is not None else 0
            column = first.column if first is not None else 0
            detail = first.message if first is not None else "invalid"
            raise HandlerError(
                ErrorCode.PAYLOAD_INVALID,
                f"payload does not match {name}: line {line}, column {column}: {detail}",
                data=_where(line, column),
            )
        return respond(request)

    return handle


def _payload_root(data: etree._Element, root: etree.QName | None) -> etree._Element:
    kind = _xsi_type(data)
    children = [child for child in data if isinstance(child.tag, str)]
    if kind is not None and kind.text != _XS_STRING:
        name = root if root is not None else kind
        wrapper = etree.Element(name.text, nsmap={p: u for p, u in data.nsmap.items() if p})
        for attribute, value in data.attrib.items():
            if attribute != _XSI_TYPE:
                wrapper.set(attribute, value)
        wrapper.text = data.text
        for child in data:
            wrapper.append(copy.deepcopy(child))
        return wrapper
    if kind is None and children:
        if len(children) != 1:
            raise HandlerError(
                ErrorCode.PAYLOAD_INVALID,
                f"data holds {len(children)} elements; expected one payload element",
                data=_where(_line(children[1]), 0),
            )
        return copy.deepcopy(children[0])
    text = data.text or ""
    try:
        return parse_xml(text.encode("utf-8"), source="payload").getroot()
    except XmlError as exc:
        raise HandlerError(
            ErrorCode.PAYLOAD_INVALID,
            f"payload text is not usable XML: {exc.message}",
            data=_where(exc.line or 0, 0),
        ) from exc


def _xsi_type(data: etree._Element) -> etree.QName | None:
    value = data.get(_XSI_TYPE)
    if value is None:
        return None
    prefix, _, local = value.strip().rpartition(":")
    namespace = data.nsmap.get(prefix or None)
    if namespace is None:
        raise HandlerError(
            ErrorCode.PAYLOAD_INVALID,
            f"xsi:type {value[:64]!r} uses an undeclared prefix",
            data=_where(_line(data), 0),
        )
    return etree.QName(namespace, local)


def _line(element: etree._Element) -> int:
    line = getattr(element, "sourceline", None)
    return line if isinstance(line, int) and line > 0 else 0


def _where(line: int, column: int) -> str:
    return f"line {line}, column {column}"

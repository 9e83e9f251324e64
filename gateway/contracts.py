"""The channel contracts (WSDL + XSD), loaded through zeep strictly offline.

A contract is read only from local files under its directory tree: any http(s) or other URL,
any file outside the tree, any missing import, DOCTYPE or entity declaration raises
:class:`ContractError` naming the file (and the importing file and line where we know them).
zeep never gets a transport that can reach the network: the one it is given reads files, and
its HTTP methods refuse.

Besides the zeep client, each :class:`Contract` carries an lxml ``XMLSchema`` of the channel's
types. The published modular bundles import one namespace from many files, which libxml2
refuses to compile from a single entry file, so the schema is compiled from an in-memory root
that imports every namespace once, through one aggregate document per namespace that includes
all of that namespace's files. Our own ``xsd/`` needs no such help, but both go the same way.

zeep's ``Any`` stays inside this module: callers get lxml elements, strings and our errors.
"""

from __future__ import annotations

import copy
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, cast
from urllib.parse import unquote, urlparse

import zeep
import zeep.exceptions
import zeep.helpers
import zeep.wsdl.bindings
import zeep.xsd
from lxml import etree

from gateway.errors import ContractError, EnvelopeError, XmlError
from gateway.xmlns import XSD, XSI
from gateway.xmlparse import hardened_parser, parse_xml

__all__ = [
    "CONTRACT_STAGES",
    "DEFAULT_CONTRACTS_DIR",
    "XSD_STAGES",
    "AttributeShape",
    "Contract",
    "ContractCheck",
    "ContractProblem",
    "ElementShape",
    "OperationInfo",
    "PortInfo",
    "SimpleType",
    "async_channel",
    "async_channel_client",
    "check_contract",
    "clear_contract_cache",
    "load_contract",
    "sync_channel",
]

DEFAULT_CONTRACTS_DIR: Final[Path] = Path(__file__).resolve().parents[1]
"""The repository root: our ``wsdl/`` and ``xsd/`` live side by side under it."""

SYNC_CHANNEL_WSDL: Final = Path("wsdl/SyncChannel_v10.wsdl")
ASYNC_CHANNEL_WSDL: Final = Path("wsdl/AsyncChannel_v10.wsdl")
ASYNC_CHANNEL_CLIENT_WSDL: Final = Path("wsdl/AsyncChannelClient_v10.wsdl")

_WSDL: Final = "http://schemas.xmlsoap.org/wsdl/"
_SCHEMA_REFERENCES: Final = frozenset(
    {f"{{{XSD}}}import", f"{{{XSD}}}include", f"{{{XSD}}}redefine"}
)
_SYNTHETIC: Final = "shep-contract:"
_XSI_TYPE: Final = f"{{{XSI}}}type"
_CACHE_SIZE: Final = 16


# --------------------------------------------------------------------------- the contract


@dataclass(frozen=True, slots=True, kw_only=True)
class Contract:
    """One loaded channel contract: operations, a zeep client, and the compiled XSD.

    Built by :func:`load_contract`; cached, so treat it as shared and read-only.
    """

    name: str
    """The portType's local name (``ISyncChannel``), the same in every edition of the bundle."""
    wsdl_path: Path
    root: Path
    """Directory tree the contract may read from; nothing outside it is ever opened."""
    service_name: str
    port_name: str
    operations: tuple[str, ...]
    schema: etree.XMLSchema = field(repr=False, compare=False)
    """All of the channel's types and elements, compiled once."""
    files: tuple[Path, ...] = field(repr=False)
    """Every file read to build the contract (the cache checks their mtimes)."""
    opaque_elements: frozenset[str] = field(repr=False)
    """Local names of ``xsd:anyType`` elements (``data``): payloads are defined per service."""
    elements: frozenset[str] = field(repr=False)
    """Clark names of the global elements: what may stand in a Body or a fault detail."""
    _client: Any = field(repr=False, compare=False)
    _lock: threading.Lock = field(repr=False, compare=False, default_factory=threading.Lock)
    _simple_types: Mapping[str, _RawSimpleType] = field(
        repr=False, compare=False, default_factory=dict
    )

    @property
    def zeep_client(self) -> object:
        """The offline zeep client, for what this class does not wrap.

        Typed ``object`` so zeep's ``Any`` does not spread; it can build and parse messages but
        its transport refuses to send (use ``gateway.transport``).
        """
        return self._client

    def soap_action(self, operation: str) -> str:
        """The ``SOAPAction`` header value for ``operation`` (``""`` on every ShEP channel)."""
        action = self._operation(operation).soapaction
        return str(action) if action else ""

    def input_element(self, operation: str) -> str:
        """Clark name of the Body element of ``operation``'s request."""
        return str(self._operation(operation).input.body.qname)

    def output_element(self, operation: str) -> str:
        """Clark name of the Body element of ``operation``'s response."""
        return str(self._operation(operation).output.body.qname)

    def fault_elements(self, operation: str) -> tuple[str, ...]:
        """Clark names of the fault ``detail`` elements (``<op>Fault1_<op>Fault``)."""
        return tuple(
            str(part.element.qname)
            for fault in self._operation(operation).faults.values()
            for part in fault.abstract.parts.values()
            if part.element is not None
        )

    def create_message(self, operation: str, /, **params: object) -> etree._Element:
        """Serialize ``operation``'s request through zeep into a SOAP Envelope element.

        zeep does the contract-driven part: element order, unqualified locals, required
        elements. ``xsd:anyType`` content is written as text; callers that need typed payloads
        replace it afterwards (see ``gateway.envelope``). The result is not yet validated.
        """
        self._operation(operation)
        try:
            envelope = self._client.create_message(self._client.service, operation, **params)
        except zeep.exceptions.ValidationError as exc:
            raise EnvelopeError(
                f"{operation} does not fit {self.name}: {exc.message}", field=_zeep_path(exc)
            ) from exc
        except (zeep.exceptions.Error, TypeError, ValueError, KeyError) as exc:
            raise EnvelopeError(f"{operation} does not fit {self.name}: {exc}") from exc
        if not isinstance(envelope, etree._Element):
            raise ContractError(f"zeep returned {type(envelope).__name__}, not an element")
        return envelope

    def create_response(self, operation: str, /, **params: object) -> etree._Element:
        """Serialize ``operation``'s *response* through zeep into a SOAP Envelope element.

        The server side of :meth:`create_message` (the emulator answers with it); the same
        caveats apply: ``xsd:anyType`` content is text until replaced, and nothing is validated.
        """
        output = self._operation(operation).output
        try:
            serialized = output.serialize(**params)
        except zeep.exceptions.ValidationError as exc:
            raise EnvelopeError(
                f"{operation} response does not fit {self.name}: {exc.message}",
                field=_zeep_path(exc),
            ) from exc
        except (zeep.exceptions.Error, TypeError, ValueError, KeyError) as exc:
            raise EnvelopeError(f"{operation} response does not fit {self.name}: {exc}") from exc
        envelope = getattr(serialized, "content", None)
        if not isinstance(envelope, etree._Element):
            raise ContractError(f"zeep returned {type(envelope).__name__}, not an element")
        return envelope

    def create_element(self, tag: str, /, **params: object) -> etree._Element:
        """Render the global element ``tag`` (Clark name) through zeep, e.g. a fault detail.

        Returns a detached element that declares the namespaces it uses; not yet validated.
        """
        if tag not in self.elements:
            raise EnvelopeError(
                f"{tag} is not a global element of {self.name}", field=etree.QName(tag).localname
            )
        try:
            declaration = self._client.wsdl.types.get_element(tag)
            holder = etree.Element("holder")
            declaration.render(holder, declaration(**params))
        except zeep.exceptions.ValidationError as exc:
            raise EnvelopeError(
                f"{etree.QName(tag).localname} does not fit {self.name}: {exc.message}",
                field=_zeep_path(exc),
            ) from exc
        except (zeep.exceptions.Error, TypeError, ValueError, KeyError) as exc:
            raise EnvelopeError(
                f"{etree.QName(tag).localname} does not fit {self.name}: {exc}"
            ) from exc
        if len(holder) != 1:
            raise ContractError(f"zeep rendered {len(holder)} elements for {tag}")
        element = holder[0]
        holder.remove(element)
        return element

    def validate(self, element: etree._Element, *, message_id: str | None = None) -> None:
        """Check ``element`` (a global element such as ``SendMessage``) against the XSD.

        Raises :class:`EnvelopeError` whose ``field`` is the path of the first offending
        element and ``line`` its source line (for parsed input). Payloads inside ``data`` are
        not checked: their formats are defined per service, outside this contract. The element
        is not modified.
        """
        errors = self.validation_errors(element, message_id=message_id)
        if errors:
            raise errors[0]

    def validation_errors(
        self, element: etree._Element, *, message_id: str | None = None
    ) -> tuple[EnvelopeError, ...]:
        """Every error :meth:`validate` would raise the first of, in document order.

        For reports that list all problems at once (``shep validate``); an empty tuple means
        the element fits the contract.
        """
        if not _is_element(element):
            return (EnvelopeError("expected an XML element to validate", message_id=message_id),)
        if element.tag not in self.elements:
            return (
                EnvelopeError(
                    f"{element.tag} is not a message element of {self.name} "
                    "(pass the Body's child, e.g. envelope.find_body_element(...))",
                    field=etree.QName(element).localname,
                    line=_source_line(element),
                    message_id=message_id,
                ),
            )
        candidate = self._without_payloads(element)
        with self._lock:  # an XMLSchema's error_log is shared by every caller
            valid = self.schema.validate(candidate)
            entries = list(cast("Iterable[etree._LogEntry]", self.schema.error_log))
        if valid:
            return ()
        if not entries:
            return (
                EnvelopeError(
                    f"{etree.QName(element).localname} does not fit {self.name}",
                    message_id=message_id,
                ),
            )
        errors: list[EnvelopeError] = []
        for entry in entries:
            culprit = _error_element(candidate, entry.path)
            errors.append(
                EnvelopeError(
                    f"does not fit {self.name}: {entry.message}",
                    field=(
                        _element_path(culprit)
                        if culprit is not None
                        else _readable_path(entry.path)
                    ),
                    line=entry.line or (_source_line(culprit) if culprit is not None else None),
                    message_id=message_id,
                )
            )
        return tuple(errors)

    def ports(self) -> tuple[PortInfo, ...]:
        """Every SOAP 1.1 service port of the WSDL with its operations (``shep contract show``)."""
        ports: list[PortInfo] = []
        for service in self._client.wsdl.services.values():
            for port in service.ports.values():
                binding = port.binding
                operations = tuple(
                    _operation_info(name, operation)
                    for name, operation in binding._operations.items()
                )
                address = port.binding_options.get("address")
                ports.append(
                    PortInfo(
                        service=str(service.name),
                        port=str(port.name),
                        binding=str(binding.name),
                        port_type=str(binding.port_name),
                        address=str(address) if address else None,
                        operations=operations,
                    )
                )
        return tuple(ports)

    def element_shape(self, tag: str) -> ElementShape:
        """The structure of the global element ``tag`` (Clark name), as zeep resolved it.

        Types that contain themselves (``ErrorInfo/subError``) are expanded once: the inner
        occurrence is marked ``recursive`` and has no children.
        """
        try:
            element = self._client.wsdl.types.get_element(tag)
        except (zeep.exceptions.Error, ValueError, KeyError) as exc:
            raise ContractError(
                f"{tag} is not a global element of {self.name}", file=str(self.wsdl_path)
            ) from exc
        return self._shape(element, ())

    def simple_type(self, name: str) -> SimpleType | None:
        """A restricted simple type by Clark name (an anonymous one by its element's name),
        with the facets of its whole derivation chain; ``None`` if the contract has none."""
        raw = self._simple_types.get(name)
        if raw is None:
            return None
        enumerations: tuple[str, ...] = ()
        patterns: list[str] = []
        bounds: dict[str, str] = {}
        base = name
        seen: set[str] = set()
        while raw is not None and base not in seen:
            seen.add(base)
            values = [value for facet, value in raw.facets if facet == "enumeration"]
            if values and not enumerations:
                enumerations = tuple(values)  # a restriction's enumeration narrows its base's
            patterns.extend(value for facet, value in raw.facets if facet == "pattern")
            for facet, value in raw.facets:
                if facet not in ("enumeration", "pattern"):
                    bounds.setdefault(facet, value)
            base = raw.base
            raw = self._simple_types.get(base)
        return SimpleType(
            name=name,
            base=base,
            enumerations=enumerations,
            patterns=tuple(patterns),
            length=_int_facet(bounds, "length"),
            min_length=_int_facet(bounds, "minLength"),
            max_length=_int_facet(bounds, "maxLength"),
            min_inclusive=bounds.get("minInclusive"),
            max_inclusive=bounds.get("maxInclusive"),
        )

    def _shape(self, element: Any, ancestors: tuple[str, ...]) -> ElementShape:
        kind = element.type
        qname = etree.QName(element.qname)
        type_name = str(kind.qname) if getattr(kind, "qname", None) is not None else None
        maximum = element.max_occurs
        common: dict[str, Any] = {
            "name": qname.localname,
            "namespace": qname.namespace,
            "type_name": type_name,
            "min_occurs": int(element.min_occurs),
            "max_occurs": None if maximum == "unbounded" else int(maximum),
            "nillable": bool(getattr(element, "nillable", False)),
        }
        if isinstance(kind, zeep.xsd.ComplexType):
            if type_name is not None and type_name in ancestors:
                return ElementShape(**common, recursive=True)
            inner = (*ancestors, type_name or qname.text)
            return ElementShape(
                **common,
                children=tuple(self._shape(child, inner) for child in _particles(kind)),
                attributes=tuple(
                    AttributeShape(
                        name=etree.QName(attribute.qname).localname,
                        namespace=etree.QName(attribute.qname).namespace,
                        required=bool(getattr(attribute, "required", False)),
                        simple=self._simple_of(attribute.type),
                    )
                    for _name, attribute in kind.attributes
                    if getattr(attribute, "qname", None) is not None
                ),
            )
        if isinstance(kind, zeep.xsd.AnySimpleType):
            return ElementShape(**common, simple=self._simple_of(kind))
        return ElementShape(**common, any_type=True)

    def _simple_of(self, kind: Any) -> SimpleType:
        name = str(kind.qname) if getattr(kind, "qname", None) is not None else None
        described = self.simple_type(name) if name is not None else None
        if described is not None:
            return described
        builtin = getattr(kind, "_default_qname", None) or kind.qname
        return SimpleType(name=name, base=str(builtin) if builtin else f"{{{XSD}}}string")

    def decode(self, element: etree._Element) -> dict[str, object]:
        """Read a message element (request, response, fault detail) into dicts and lists.

        zeep does the reading, so it follows this contract's types; ``data`` comes back as
        text or as the raw lxml children. Validate first if the input is untrusted: zeep is
        lenient about, for example, qualified local elements.
        """
        types = self._client.wsdl.types
        try:
            declaration = types.get_element(element.tag)
            value = declaration.parse(element, types)
        except zeep.exceptions.LookupError as exc:
            raise EnvelopeError(
                f"{element.tag} is not a message element of {self.name}",
                field=etree.QName(element).localname,
            ) from exc
        except (zeep.exceptions.Error, ValueError, TypeError, KeyError) as exc:
            raise EnvelopeError(
                f"zeep cannot read {etree.QName(element).localname}: {exc}",
                field=etree.QName(element).localname,
                line=_source_line(element),
            ) from exc
        result = zeep.helpers.serialize_object(value, dict)  # type: ignore[no-untyped-call]  # zeep
        if isinstance(result, dict):
            return result
        return {etree.QName(element).localname: result}

    def _without_payloads(self, element: etree._Element) -> etree._Element:
        """A copy of ``element`` whose anyType payloads (``data``) are empty.

        Their ``xsi:type`` names types this contract does not have, and their content is
        defined per service. The payload is never copied, so a message carrying megabytes of
        data costs only its skeleton; the caller's tree is not touched and source lines are
        kept for error messages.
        """
        candidate = _shallow_copy(element, nsmap=element.nsmap)
        pending = [(element, candidate)]
        while pending:
            source, target = pending.pop()
            if self._is_payload(source):
                target.text = None
                if _XSI_TYPE in target.attrib:
                    del target.attrib[_XSI_TYPE]
                continue
            for child in source:
                if _is_element(child):
                    copied = _shallow_copy(child, nsmap=_own_namespaces(child))
                    pending.append((child, copied))
                else:
                    copied = copy.copy(child)  # a comment or PI: no children to skip
                copied.tail = child.tail
                target.append(copied)
        return candidate

    def _is_payload(self, node: etree._Element) -> bool:
        # Locals are unqualified: a qualified `data` is not the payload but an error to report.
        return (
            isinstance(node.tag, str)
            and etree.QName(node).namespace is None
            and etree.QName(node).localname in self.opaque_elements
        )

    def _operation(self, operation: str) -> Any:
        try:
            return self._client.service._binding._operations[operation]
        except KeyError:
            known = ", ".join(self.operations)
            raise ContractError(
                f"{self.name} has no operation {operation!r} (it has: {known})",
                file=str(self.wsdl_path),
            ) from None


# --------------------------------------------------------------------------- describing a contract


@dataclass(frozen=True, slots=True, kw_only=True)
class SimpleType:
    """A simple type's value space, as far as samples and reports need it."""

    name: str | None
    """Clark name; an anonymous type is named after its element, ``None`` for an unnamed one."""
    base: str
    """Clark name of the XSD builtin at the root of the derivation (``{…XMLSchema}string``)."""
    enumerations: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    """Every pattern of the derivation chain: a value must match all of them."""
    length: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_inclusive: str | None = None
    max_inclusive: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AttributeShape:
    """An attribute an element may or must carry."""

    name: str
    namespace: str | None
    required: bool
    simple: SimpleType


@dataclass(frozen=True, slots=True, kw_only=True)
class ElementShape:
    """The structure of a message element: what ``shep contract show`` and ``sample`` print.

    ``namespace`` is ``None`` for unqualified local elements (every local of the ShEP
    contracts). A choice contributes its first alternative; wildcards (``xs:any``) are left out.
    """

    name: str
    namespace: str | None
    type_name: str | None
    """Clark name of the element's type; ``None`` for an anonymous complex type."""
    min_occurs: int
    max_occurs: int | None
    """``None``: unbounded."""
    nillable: bool = False
    simple: SimpleType | None = None
    """Set for simple content."""
    children: tuple[ElementShape, ...] = ()
    attributes: tuple[AttributeShape, ...] = ()
    any_type: bool = False
    """``xsd:anyType`` content, e.g. ``data``: defined per service, outside the contract."""
    recursive: bool = False
    """The type repeats an ancestor's; not expanded again."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OperationInfo:
    """One operation of a binding: its SOAP action and the elements its messages carry."""

    name: str
    style: str
    soap_action: str
    input_element: str | None
    output_element: str | None
    faults: tuple[tuple[str, str], ...] = ()
    """(fault name, Clark name of the detail element)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PortInfo:
    """A service port: its binding, portType, address and operations."""

    service: str
    port: str
    binding: str
    port_type: str
    address: str | None
    operations: tuple[OperationInfo, ...]


@dataclass(frozen=True, slots=True)
class _RawSimpleType:
    base: str
    facets: tuple[tuple[str, str], ...]


def _collect_simple_types(schema: etree._Element, namespace: str | None, walk: _Walk) -> None:
    """Restricted simple types with their facets, which zeep does not keep."""
    for node in schema.iter(f"{{{XSD}}}simpleType"):
        name = node.get("name")
        if name is None:
            parent = node.getparent()
            if parent is None or parent.tag != f"{{{XSD}}}element" or not parent.get("name"):
                continue
            name = parent.get("name")  # zeep names an anonymous type after its element
        restriction = node.find(f"{{{XSD}}}restriction")
        base = restriction.get("base") if restriction is not None else None
        if restriction is None or base is None or name is None:
            continue  # lists, unions and inline bases are not described
        prefix, _, local = base.rpartition(":")
        facets = tuple(
            (etree.QName(facet).localname, str(facet.get("value")))
            for facet in restriction
            if isinstance(facet.tag, str) and facet.get("value") is not None
        )
        walk.simple_types.setdefault(
            _clark(namespace, name),
            _RawSimpleType(_clark(restriction.nsmap.get(prefix or None), local), facets),
        )


def _int_facet(bounds: Mapping[str, str], name: str) -> int | None:
    value = bounds.get(name)
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def _particles(kind: Any) -> Iterator[Any]:
    """The elements of a complex type in order: a choice gives its first alternative."""
    top = getattr(kind, "_element", None)
    if top is not None:
        yield from _particle_elements(top)


def _particle_elements(particle: Any) -> Iterator[Any]:
    if isinstance(particle, zeep.xsd.Element):
        yield particle
    elif isinstance(particle, zeep.xsd.Choice):
        if len(particle):
            yield from _particle_elements(particle[0])
    elif isinstance(particle, zeep.xsd.Group):
        yield from _particle_elements(particle.child)
    elif isinstance(particle, zeep.xsd.Sequence | zeep.xsd.All):
        for item in particle:
            yield from _particle_elements(item)
    # zeep.xsd.Any (a wildcard) has no fixed shape: left out.


def _operation_info(name: str, operation: Any) -> OperationInfo:
    def element_of(message: Any) -> str | None:
        body = getattr(message, "body", None)
        qname = getattr(body, "qname", None)
        return str(qname) if qname is not None else None

    faults = tuple(
        (str(fault_name), str(part.element.qname))
        for fault_name, fault in operation.faults.items()
        for part in fault.abstract.parts.values()
        if part.element is not None
    )
    return OperationInfo(
        name=name,
        style=str(operation.style or "document"),
        soap_action=str(operation.soapaction or ""),
        input_element=element_of(operation.input),
        output_element=element_of(operation.output),
        faults=faults,
    )


def _shallow_copy(node: etree._Element, *, nsmap: Mapping[str | None, str]) -> etree._Element:
    """``node`` without its children: tag, attributes, text and source line."""
    namespaces: Any = dict(nsmap.items())  # lxml-stubs omit the None key (default namespace)
    attributes = {str(name): str(value) for name, value in node.attrib.items()}
    copied = etree.Element(node.tag, attrib=attributes, nsmap=namespaces)
    copied.text = node.text
    line = _source_line(node)
    if line is not None:
        setattr(copied, "sourceline", line)  # noqa: B010  (writable at run time; stubs say no)
    return copied


def _is_element(value: object) -> bool:
    """An element node (not a comment, PI or entity); typed ``object`` for untrusted input."""
    return isinstance(value, etree._Element) and isinstance(value.tag, str)


def _own_namespaces(node: etree._Element) -> dict[str | None, str]:
    parent = node.getparent()
    inherited = parent.nsmap if parent is not None else {}
    return {prefix: uri for prefix, uri in node.nsmap.items() if inherited.get(prefix) != uri}


# --------------------------------------------------------------------------- public loaders


def load_contract(wsdl_path: Path, *, root: Path | None = None) -> Contract:
    """Load the WSDL at ``wsdl_path`` and everything it imports, offline.

    ``root`` bounds what may be read; by default it is the WSDL's grandparent, which fits our
    ``wsdl/`` + ``xsd/`` layout. The published bundle keeps its WSDLs three levels deep, so
    pass its top directory. Cached: loading an unchanged contract again returns the same
    object; touching any of its files reloads it.
    """
    path = Path(wsdl_path).expanduser().resolve()
    base = (Path(root).expanduser() if root is not None else path.parent.parent).resolve()
    return _CACHE.get_or_load(path, base)


def sync_channel(contracts_dir: Path | None = None) -> Contract:
    """SyncChannel v10 (``ISyncChannel``, operation ``SendMessage``)."""
    return _load_bundled(contracts_dir, SYNC_CHANNEL_WSDL)


def async_channel(contracts_dir: Path | None = None) -> Contract:
    """AsyncChannel v10, gateway side (``IAsyncChannel``: sendMessage, getMessages, ...)."""
    return _load_bundled(contracts_dir, ASYNC_CHANNEL_WSDL)


def async_channel_client(contracts_dir: Path | None = None) -> Contract:
    """AsyncChannel v10 push side (``IAsyncChannelClient``), which an integrated system serves."""
    return _load_bundled(contracts_dir, ASYNC_CHANNEL_CLIENT_WSDL)


def clear_contract_cache() -> None:
    """Forget every loaded contract (tests, or after replacing contract files in place)."""
    _CACHE.clear()


def _load_bundled(contracts_dir: Path | None, relative: Path) -> Contract:
    base = DEFAULT_CONTRACTS_DIR if contracts_dir is None else Path(contracts_dir)
    return load_contract(base / relative, root=base)


# --------------------------------------------------------------------------- checking a contract

CONTRACT_STAGES: Final = ("parse", "imports", "schema", "messages", "zeep")
"""What :func:`check_contract` checks for a WSDL, in order; a failed stage stops the rest.

``parse``: every file is well-formed, with no DOCTYPE or entity; ``imports``: every import and
include is a local file under the root that declares the imported namespace; ``schema``:
libxml2 compiles the types (every type and element reference resolves); ``messages``: every
QName the WSDLs use (message parts, portType messages, binding portType and operations,
service port bindings) names something defined; ``zeep``: zeep builds an offline client with a
SOAP 1.1 port whose every operation resolves to its messages and elements."""

XSD_STAGES: Final = CONTRACT_STAGES[:3]
"""The stages of a standalone XSD: it has no messages and no zeep client."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ContractProblem:
    """One thing wrong with a contract: the stage that found it, and where (file, line)."""

    stage: str
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContractCheck:
    """What :func:`check_contract` found for one entry WSDL or XSD."""

    entry: Path
    root: Path
    kind: Literal["wsdl", "xsd"]
    stages: tuple[str, ...]
    """Every stage this kind of document goes through."""
    ran: tuple[str, ...]
    """The stages that ran; the ones after a failed stage did not."""
    problems: tuple[ContractProblem, ...]
    files: tuple[Path, ...]
    """Every file read, the entry first."""
    contract: Contract | None = field(default=None, repr=False, compare=False)
    """The loaded contract when every stage of a WSDL with a service passed."""
    schema: etree.XMLSchema | None = field(default=None, repr=False, compare=False)
    """The compiled types when the ``schema`` stage passed (an XSD's, or a WSDL's)."""
    abstract: bool = False
    """A WSDL with no service (portTypes and messages only): checked, but not a client."""

    @property
    def ok(self) -> bool:
        return not self.problems and self.ran == self.stages


def check_contract(path: Path, *, root: Path | None = None) -> ContractCheck:
    """Check the WSDL or XSD at ``path`` offline, collecting every problem stage by stage.

    The same rules as :func:`load_contract` (local files under ``root`` only, no DOCTYPE, no
    network), but instead of stopping at the first error each stage reports all it finds with
    file and line, and a WSDL's references are checked statically before zeep sees them.
    Nothing is cached. Not thread-safe: zeep's warnings are captured with
    ``warnings.catch_warnings``, which is process-wide.
    """
    entry = Path(path).expanduser().resolve()
    base = (Path(root).expanduser() if root is not None else entry.parent.parent).resolve()
    checker = _Checker(entry, base)
    for stage in (checker.walk, checker.compile, checker.references, checker.build):
        if not stage():
            break
    return checker.result()


class _Checker:
    """The stages of :func:`check_contract`; each returns whether the next one may run."""

    def __init__(self, entry: Path, base: Path) -> None:
        self.entry = entry
        self.base = base
        self.problems = _Problems()
        self.files = _LocalFiles(base)
        self.walk_ = _Walk()
        self.ran: list[str] = []
        self.kind: Literal["wsdl", "xsd"] = "xsd" if entry.suffix.lower() == ".xsd" else "wsdl"
        self.schema: etree.XMLSchema | None = None
        self.contract: Contract | None = None

    def result(self) -> ContractCheck:
        return ContractCheck(
            entry=self.entry,
            root=self.base,
            kind=self.kind,
            stages=XSD_STAGES if self.kind == "xsd" else CONTRACT_STAGES,
            ran=tuple(self.ran),
            problems=tuple(self.problems.items),
            files=tuple(self.files.documents),
            contract=self.contract,
            schema=self.schema,
            abstract=self.kind == "wsdl" and self._abstract(),
        )

    def _abstract(self) -> bool:
        """An interface document: portTypes, but no service anywhere in what it imports."""
        tops = [top for _path, top in self.walk_.wsdls]
        return any(top.find(f"{{{_WSDL}}}portType") is not None for top in tops) and not any(
            top.find(f"{{{_WSDL}}}service") is not None for top in tops
        )

    def walk(self) -> bool:
        self.ran += ["parse", "imports"]
        if not self.base.is_dir():
            error = ContractError(
                f"contract directory {self.base} does not exist", file=str(self.entry)
            )
            self.problems.add("imports", error)
            return False
        try:
            self.entry = self.files.locate(str(self.entry), referrer=None)
        except ContractError as exc:
            self.problems.add("parse", exc)
            return False
        _visit(self.files, self.entry, self.walk_, self.problems)
        document = self.files.documents.get(self.entry)
        if document is not None:
            is_schema = document.tree.getroot().tag == f"{{{XSD}}}schema"
            self.kind = "xsd" if is_schema else "wsdl"
        return not self.problems.items

    def compile(self) -> bool:
        self.ran.append("schema")
        try:
            self.schema = _compile_schema(self.walk_, self.files, self.entry)
        except ContractError as exc:
            _add_schema_problems(exc, self.files, self.entry, self.problems)
            return False
        return self.kind == "wsdl"

    def references(self) -> bool:
        self.ran.append("messages")
        _check_wsdl_references(self.walk_, self.problems)
        return not self.problems.items

    def build(self) -> bool:
        self.ran.append("zeep")
        assert self.schema is not None  # noqa: S101  (compile() passed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                client = _zeep_client(self.entry, self.files)
            except ContractError as exc:
                self.problems.add("zeep", exc)
            else:
                if self._abstract():
                    return True  # an interface document: zeep read it; nothing to call
                self.contract = _contract(
                    self.entry,
                    self.base,
                    files=self.files,
                    walk=self.walk_,
                    schema=self.schema,
                    client=client,
                    problems=self.problems,
                )
        if self.contract is not None:
            _check_operation_elements(self.contract, self.problems)
        if self.problems.items:
            self.contract = None
            for warning in caught:
                self.problems.add(
                    "zeep", ContractError(f"zeep: {warning.message}", file=str(self.entry))
                )
        return not self.problems.items


def _add_schema_problems(
    error: ContractError, files: _LocalFiles, entry: Path, problems: _Problems
) -> None:
    """Every error in libxml2's log, not just the one :func:`_compile_schema` raised."""
    log = getattr(error.__cause__, "error_log", None)
    entries = [
        entry_
        for entry_ in cast("Iterable[etree._LogEntry]", log or ())
        if entry_.level >= etree.ErrorLevels.ERROR
    ]
    if error.message.startswith("schema refers to") or not entries:
        problems.add("schema", error)
        return
    for entry_ in entries:
        problems.add(
            "schema", _schema_log_error(entry_, files, entry), column=entry_.column or None
        )


def _check_operation_elements(contract: Contract, problems: _Problems) -> None:
    """Each operation's input, output and fault elements are global elements of the XSD."""
    for operation in contract.operations:
        try:
            tags = [
                contract.input_element(operation),
                contract.output_element(operation),
                *contract.fault_elements(operation),
            ]
        except (ContractError, AttributeError) as exc:
            problems.add(
                "zeep",
                ContractError(
                    f"operation {operation}: its messages do not resolve to elements ({exc})",
                    file=str(contract.wsdl_path),
                ),
            )
            continue
        for tag in tags:
            if tag not in contract.elements:
                problems.add(
                    "zeep",
                    ContractError(
                        f"operation {operation} uses {tag}, which the compiled schema "
                        "does not declare",
                        file=str(contract.wsdl_path),
                    ),
                )


# --------------------------------------------------------------------------- cache


@dataclass(frozen=True, slots=True)
class _Entry:
    contract: Contract
    stamps: tuple[tuple[Path, int], ...]

    def is_current(self) -> bool:
        try:
            return all(path.stat().st_mtime_ns == mtime for path, mtime in self.stamps)
        except OSError:
            return False


class _ContractCache:
    """A small LRU of loaded contracts, keyed on (WSDL path, root), checked by file mtimes.

    Loading holds the lock: contracts load rarely, and two threads asking for the same one
    should not both pay for zeep's parse.
    """

    def __init__(self, maxsize: int) -> None:
        self._maxsize = maxsize
        self._entries: OrderedDict[tuple[Path, Path], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_load(self, wsdl_path: Path, root: Path) -> Contract:
        key = (wsdl_path, root)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.is_current():
                self._entries.move_to_end(key)
                return entry.contract
            contract, stamps = _load(wsdl_path, root)
            self._entries[key] = _Entry(contract, stamps)
            self._entries.move_to_end(key)
            while len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)
            return contract

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_CACHE: Final = _ContractCache(_CACHE_SIZE)


# --------------------------------------------------------------------------- local files


@dataclass(frozen=True, slots=True)
class _Document:
    path: Path
    data: bytes
    tree: etree._ElementTree
    mtime_ns: int


class _LocalFiles:
    """Reads contract files: local, under ``root``, existing, and free of DOCTYPE/entities.

    The one gate both zeep (through :class:`_OfflineTransport`) and our schema walk go
    through, so they cannot disagree about what a contract may read.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._documents: dict[Path, _Document] = {}

    @property
    def documents(self) -> Mapping[Path, _Document]:
        return self._documents

    def locate(self, location: str, *, referrer: Path | None, line: int | None = None) -> Path:
        """Turn an import location into a checked absolute path, or say exactly why not."""
        where = str(referrer) if referrer is not None else None
        parsed = urlparse(location)
        if parsed.scheme == "file":
            if parsed.netloc not in ("", "localhost"):
                raise ContractError(
                    f"refusing to read {location}: a file URL on another host",
                    file=where,
                    line=line,
                )
            candidate = Path(unquote(parsed.path))
        elif parsed.scheme:
            raise ContractError(
                f"refusing to fetch {location}: contracts are loaded offline, "
                f"from files under {self.root} only",
                file=where,
                line=line,
            )
        else:
            candidate = Path(location)
            if not candidate.is_absolute():
                candidate = (referrer.parent if referrer is not None else self.root) / candidate
        resolved = candidate.resolve()
        if not resolved.is_relative_to(self.root):
            raise ContractError(
                f"refusing to read {location}: {resolved} is outside the contract directory "
                f"{self.root}",
                file=where,
                line=line,
            )
        if not resolved.is_file():
            if referrer is None:
                raise ContractError(f"{resolved} does not exist", file=str(resolved))
            raise ContractError(
                f"imports {location}, which does not exist ({resolved})", file=where, line=line
            )
        return resolved

    def read(self, path: Path) -> _Document:
        """Read and safety-check an already located file, once per load."""
        known = self._documents.get(path)
        if known is not None:
            return known
        try:
            mtime_ns = path.stat().st_mtime_ns
            data = path.read_bytes()
        except OSError as exc:
            raise ContractError(
                f"cannot read contract file: {exc.strerror}", file=str(path)
            ) from exc
        try:
            tree = parse_xml(data, source=str(path))
        except XmlError as exc:
            raise ContractError(exc.message, file=str(path), line=exc.line) from exc
        document = _Document(path, data, tree, mtime_ns)
        self._documents[path] = document
        return document


class _OfflineTransport:
    """What zeep gets instead of ``zeep.Transport``: it reads local files and never sends.

    Duck-typed rather than subclassed: ``Transport.__init__`` would build a requests session
    we must not have. ``binding_classes`` limits zeep to SOAP 1.1 bindings, the only kind the
    gateway speaks.
    """

    binding_classes: Final = (zeep.wsdl.bindings.Soap11Binding,)

    def __init__(self, files: _LocalFiles) -> None:
        self._files = files

    def load(self, url: str) -> bytes:
        return self._files.read(self._files.locate(str(url), referrer=None)).data

    def get(self, address: str, params: object, headers: object) -> object:
        raise self._refuse(address)

    def post(self, address: str, message: object, headers: object) -> object:
        raise self._refuse(address)

    def post_xml(self, address: str, envelope: object, headers: object) -> object:
        raise self._refuse(address)

    def close(self) -> None:
        """Nothing to close: no session was ever opened."""

    @staticmethod
    def _refuse(address: str) -> ContractError:
        return ContractError(
            f"the contract's zeep client does not send (asked to call {address}); "
            "use gateway.transport"
        )


# --------------------------------------------------------------------------- loading


@dataclass(slots=True)
class _SchemaDocument:
    url: str
    """Where libxml2 finds it: a file URI, or a synthetic URL for a schema inline in a WSDL."""
    data: bytes
    base_url: str
    namespace: str | None
    path: Path


@dataclass(slots=True)
class _Walk:
    """Every schema document reachable from a WSDL, and how their namespaces depend."""

    schemas: list[_SchemaDocument] = field(default_factory=list)
    imports: dict[str | None, list[str | None]] = field(default_factory=dict)
    opaque: set[str] = field(default_factory=set)
    elements: set[str] = field(default_factory=set)
    types: set[str] = field(default_factory=set)
    """Clark names of the global complex and simple types."""
    simple_types: dict[str, _RawSimpleType] = field(default_factory=dict)
    """Restricted simple types by Clark name (anonymous ones under their element's name)."""
    wsdls: list[tuple[Path, etree._Element]] = field(default_factory=list)
    bindings: dict[str, tuple[Path, tuple[str, ...]]] = field(default_factory=dict)
    """Binding Clark name -> (its WSDL, the operations it declares)."""
    seen: set[Path] = field(default_factory=set)
    inline_count: int = 0


class _Problems:
    """Where a check collects what is wrong instead of stopping at the first error.

    ``None`` in its place (the loader's mode) means: raise the first error.
    """

    def __init__(self) -> None:
        self.items: list[ContractProblem] = []

    def add(self, stage: str, error: ContractError, *, column: int | None = None) -> None:
        problem = ContractProblem(
            stage=stage, message=error.message, file=error.file, line=error.line, column=column
        )
        if problem not in self.items:
            self.items.append(problem)


def _report(problems: _Problems | None, stage: str, error: ContractError) -> None:
    if problems is None:
        raise error
    problems.add(stage, error)


def _load(wsdl_path: Path, root: Path) -> tuple[Contract, tuple[tuple[Path, int], ...]]:
    if not root.is_dir():
        raise ContractError(f"contract directory {root} does not exist", file=str(wsdl_path))
    files = _LocalFiles(root)
    entry = files.locate(str(wsdl_path), referrer=None)
    walk = _Walk()
    _visit(files, entry, walk, None)
    # libxml2 first: it names the file and line of a broken type reference, zeep does not.
    schema = _compile_schema(walk, files, entry)
    client = _zeep_client(entry, files)
    contract = _contract(entry, root, files=files, walk=walk, schema=schema, client=client)
    assert contract is not None  # noqa: S101  (without a problem list, failures raise)
    stamps = tuple((doc.path, doc.mtime_ns) for doc in files.documents.values())
    return contract, stamps


def _contract(
    entry: Path,
    root: Path,
    *,
    files: _LocalFiles,
    walk: _Walk,
    schema: etree.XMLSchema,
    client: Any,
    problems: _Problems | None = None,
) -> Contract | None:
    described = _describe(client, entry, walk, problems)
    if described is None:
        return None
    name, service_name, port_name, operations = described
    return Contract(
        name=name,
        wsdl_path=entry,
        root=root,
        service_name=service_name,
        port_name=port_name,
        operations=operations,
        schema=schema,
        files=tuple(files.documents),
        opaque_elements=frozenset(walk.opaque),
        elements=frozenset(walk.elements),
        _client=client,
        _simple_types=dict(walk.simple_types),
    )


def _visit(files: _LocalFiles, path: Path, walk: _Walk, problems: _Problems | None) -> None:
    if path in walk.seen:
        return
    walk.seen.add(path)
    try:
        document = files.read(path)
    except ContractError as exc:
        _report(problems, "parse", exc)
        return
    top = document.tree.getroot()
    if top.tag == f"{{{_WSDL}}}definitions":
        walk.wsdls.append((path, top))
        for wsdl_import in top.iterfind(f"{{{_WSDL}}}import"):
            location = wsdl_import.get("location")
            if location:
                _follow(files, wsdl_import, location, referrer=path, walk=walk, problems=problems)
        namespace = top.get("targetNamespace")
        for binding in top.iterfind(f"{{{_WSDL}}}binding"):
            walk.bindings[f"{{{namespace}}}{binding.get('name')}"] = (
                path,
                tuple(str(op.get("name")) for op in binding.iterfind(f"{{{_WSDL}}}operation")),
            )
        for schema in top.iterfind(f"{{{_WSDL}}}types/{{{XSD}}}schema"):
            walk.inline_count += 1
            url = f"{_SYNTHETIC}inline/{walk.inline_count}/{path.name}"
            data = etree.tostring(schema)  # lxml carries the WSDL's namespace declarations
            _visit_schema(
                files, schema, path=path, url=url, data=data, walk=walk, problems=problems
            )
    elif top.tag == f"{{{XSD}}}schema":
        _visit_schema(
            files,
            top,
            path=path,
            url=path.as_uri(),
            data=document.data,
            walk=walk,
            problems=problems,
        )
    else:
        _report(
            problems,
            "parse",
            ContractError(
                f"not a WSDL or XSD document (root element {top.tag})", file=str(path), line=1
            ),
        )


def _follow(
    files: _LocalFiles,
    reference: etree._Element,
    location: str,
    *,
    referrer: Path,
    walk: _Walk,
    problems: _Problems | None,
) -> None:
    """Visit what an import/include points at, then check it declares the right namespace."""
    line = _source_line(reference)
    try:
        target = files.locate(location, referrer=referrer, line=line)
    except ContractError as exc:
        _report(problems, "imports", exc)
        return
    _visit(files, target, walk, problems)
    document = files.documents.get(target)
    if document is None:
        return  # it did not parse; the parse problem is already reported
    found = document.tree.getroot().get("targetNamespace")
    kind = etree.QName(reference).localname
    if kind == "include":
        schema = reference.getparent()
        expected = schema.get("targetNamespace") if schema is not None else None
        if found is None or found == expected:
            return  # same namespace, or a chameleon include that takes the includer's
        what = f"includes {location} into namespace {expected or '(none)'}"
    else:
        expected = reference.get("namespace")
        if found == expected:
            return
        what = f"imports namespace {expected or '(none)'} from {location}"
    _report(
        problems,
        "imports",
        ContractError(
            f"{what}, but that file's targetNamespace is {found or '(none)'}",
            file=str(referrer),
            line=line,
        ),
    )


def _visit_schema(
    files: _LocalFiles,
    schema: etree._Element,
    *,
    path: Path,
    url: str,
    data: bytes,
    walk: _Walk,
    problems: _Problems | None,
) -> None:
    namespace = schema.get("targetNamespace")
    walk.schemas.append(_SchemaDocument(url, data, path.as_uri(), namespace, path))
    dependencies = walk.imports.setdefault(namespace, [])
    for node in schema.iter(f"{{{XSD}}}element"):
        name = node.get("name")
        if not name:
            continue
        if node.getparent() is schema:
            walk.elements.add(_clark(namespace, name))
        elif _is_any_type(node):
            walk.opaque.add(name)
    for node in schema:
        if node.tag in (f"{{{XSD}}}complexType", f"{{{XSD}}}simpleType") and node.get("name"):
            walk.types.add(_clark(namespace, str(node.get("name"))))
    _collect_simple_types(schema, namespace, walk)
    for reference in schema:
        if reference.tag not in _SCHEMA_REFERENCES:
            continue
        if reference.tag == f"{{{XSD}}}import":
            dependencies.append(reference.get("namespace"))
        location = reference.get("schemaLocation")
        if location:
            _follow(files, reference, location, referrer=path, walk=walk, problems=problems)


def _clark(namespace: str | None, name: str) -> str:
    return f"{{{namespace}}}{name}" if namespace else name


def _is_any_type(node: etree._Element) -> bool:
    declared = node.get("type")
    if declared is None:
        # No type, no inline type and no ref: the XSD default, anyType.
        return node.get("ref") is None and len(node) == sum(
            1 for child in node if child.tag == f"{{{XSD}}}annotation"
        )
    prefix, _, local = declared.rpartition(":")
    return local == "anyType" and node.nsmap.get(prefix or None) == XSD


def _zeep_client(entry: Path, files: _LocalFiles) -> Any:
    settings = zeep.Settings(
        strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        return zeep.Client(  # type: ignore[no-untyped-call]  # zeep is not annotated
            str(entry), transport=_OfflineTransport(files), settings=settings
        )
    except ContractError:
        raise
    except zeep.exceptions.ExternalReferenceForbidden as exc:
        raise ContractError(
            f"refusing to fetch {exc.url}: contracts are loaded offline", file=str(entry)
        ) from exc
    except zeep.exceptions.XMLParseError as exc:
        raise ContractError(
            f"zeep cannot use the contract: {exc.message}",
            file=exc.filename or str(entry),
            line=exc.sourceline,
        ) from exc
    except (zeep.exceptions.Error, etree.LxmlError, ValueError, LookupError, TypeError) as exc:
        # zeep reports a missing portType, message or binding as IndexError/KeyError.
        raise ContractError(f"zeep cannot use the contract: {exc}", file=str(entry)) from exc


def _describe(
    client: Any, entry: Path, walk: _Walk, problems: _Problems | None
) -> tuple[str, str, str, tuple[str, ...]] | None:
    for service in client.wsdl.services.values():
        for port in service.ports.values():
            binding = port.binding
            name = etree.QName(binding.port_name).localname
            operations = tuple(binding._operations)
            try:
                _check_operations(str(binding.name), operations, walk, entry)
            except ContractError as exc:
                _report(problems, "zeep", exc)
                return None
            return name, str(service.name), str(port.name), operations
    _report(
        problems,
        "zeep",
        ContractError(
            "the WSDL defines no service with a SOAP 1.1 port (the gateway speaks only SOAP 1.1)",
            file=str(entry),
        ),
    )
    return None


def _check_operations(binding: str, resolved: tuple[str, ...], walk: _Walk, entry: Path) -> None:
    # zeep only warns and drops an operation whose portType operation, message or element
    # does not resolve; a contract missing an operation must not load as if it were fine.
    where, declared = walk.bindings.get(binding, (entry, resolved))
    missing = [operation for operation in declared if operation not in resolved]
    if missing or not resolved:
        raise ContractError(
            f"binding {etree.QName(binding).localname} declares operation(s) "
            f"{', '.join(missing) or '(none)'} that do not resolve to a portType operation "
            "with messages and elements (zeep's warnings name the broken reference)",
            file=str(where),
        )


# --------------------------------------------------------------------------- WSDL references


def _check_wsdl_references(walk: _Walk, problems: _Problems) -> None:
    """Every QName a WSDL uses must name something the contract defines; file and line if not.

    The checks zeep makes silently (it warns and drops the operation): message parts name a
    global element or type, portType operations name messages, bindings name a portType and
    its operations, service ports name a binding.
    """
    messages, port_types, bindings = _wsdl_definitions(walk)
    for path, top in walk.wsdls:
        check = _QNameCheck(path, problems)
        for part in top.iterfind(f"{{{_WSDL}}}message/{{{_WSDL}}}part"):
            if part.get("element") is None and part.get("type") is not None:
                check(part, "type", walk.types, "type")
            else:
                check(part, "element", walk.elements, "global element")
        for io in top.iterfind(f"{{{_WSDL}}}portType/{{{_WSDL}}}operation/*"):
            if etree.QName(io).localname in ("input", "output", "fault"):
                check(io, "message", messages, "wsdl:message")
        for binding in top.iterfind(f"{{{_WSDL}}}binding"):
            port_type = check(binding, "type", port_types, "wsdl:portType")
            if port_type is not None:
                _check_binding_operations(binding, port_type, port_types[port_type], check)
        for port in top.iterfind(f"{{{_WSDL}}}service/{{{_WSDL}}}port"):
            check(port, "binding", bindings, "wsdl:binding")


def _wsdl_definitions(walk: _Walk) -> tuple[set[str], dict[str, set[str]], set[str]]:
    """Clark names of every message, portType (with its operations) and binding."""
    messages: set[str] = set()
    port_types: dict[str, set[str]] = {}
    bindings: set[str] = set()
    for _path, top in walk.wsdls:
        namespace = top.get("targetNamespace")
        for node in top.iterfind(f"{{{_WSDL}}}message"):
            messages.add(_clark(namespace, str(node.get("name"))))
        for node in top.iterfind(f"{{{_WSDL}}}portType"):
            port_types[_clark(namespace, str(node.get("name")))] = {
                str(op.get("name")) for op in node.iterfind(f"{{{_WSDL}}}operation")
            }
        for node in top.iterfind(f"{{{_WSDL}}}binding"):
            bindings.add(_clark(namespace, str(node.get("name"))))
    return messages, port_types, bindings


def _check_binding_operations(
    binding: etree._Element, port_type: str, operations: set[str], check: _QNameCheck
) -> None:
    for operation in binding.iterfind(f"{{{_WSDL}}}operation"):
        if operation.get("name") not in operations:
            check.problems.add(
                "messages",
                ContractError(
                    f"binding operation {operation.get('name')} is not an operation of "
                    f"portType {etree.QName(port_type).localname}",
                    file=str(check.path),
                    line=_source_line(operation),
                ),
            )


class _QNameCheck:
    """Resolves a WSDL attribute's QName and reports, with file and line, what is wrong."""

    def __init__(self, path: Path, problems: _Problems) -> None:
        self.path = path
        self.problems = problems

    def __call__(
        self, node: etree._Element, attribute: str, known: Iterable[str], what: str
    ) -> str | None:
        """The Clark name ``node``'s ``attribute`` refers to, if it is one of ``known``."""
        value = node.get(attribute)
        where = f"{etree.QName(node).localname} {node.get('name') or ''}".rstrip()
        if value is None:
            return self._fail(node, f"{where} has no {attribute}= (a {what})")
        prefix, _, local = value.strip().rpartition(":")
        namespace = node.nsmap.get(prefix or None)
        if prefix and namespace is None:
            return self._fail(
                node, f"{where}: {attribute}={value!r} uses the undeclared prefix {prefix!r}"
            )
        target = _clark(namespace, local)
        names = set(known)
        if target in names or (what == "type" and namespace == XSD):
            return target
        near = sorted(name for name in names if etree.QName(name).localname == local)
        hint = f" (did you mean {near[0]}?)" if near else ""
        return self._fail(
            node,
            f"{where}: {attribute}={value!r} names {target}, which is not a {what} of the "
            f"contract{hint}",
        )

    def _fail(self, node: etree._Element, message: str) -> str | None:
        self.problems.add(
            "messages", ContractError(message, file=str(self.path), line=_source_line(node))
        )
        return None


# --------------------------------------------------------------------------- XSD compilation


def _compile_schema(walk: _Walk, files: _LocalFiles, entry: Path) -> etree.XMLSchema:
    synthetic: dict[str, tuple[bytes, str]] = {
        doc.url: (doc.data, doc.base_url) for doc in walk.schemas if doc.url.startswith(_SYNTHETIC)
    }
    groups: dict[str | None, list[_SchemaDocument]] = {}
    for doc in walk.schemas:
        groups.setdefault(doc.namespace, []).append(doc)

    parser = hardened_parser()
    resolver = _SchemaResolver(files, synthetic)
    parser.resolvers.add(resolver)
    top = parser.makeelement(f"{{{XSD}}}schema", nsmap={"xs": XSD})
    for index, namespace in enumerate(_dependency_order(walk.imports, groups)):
        members = groups[namespace]
        if len(members) == 1:
            location = members[0].url
        else:
            location = f"{_SYNTHETIC}aggregate/{index}.xsd"
            synthetic[location] = (_aggregate(namespace, members), location)
        attributes = {"schemaLocation": location}
        if namespace is not None:
            attributes["namespace"] = namespace
        etree.SubElement(top, f"{{{XSD}}}import", attributes)
    try:
        return etree.XMLSchema(top)
    except etree.XMLSchemaParseError as exc:
        if resolver.refused:
            raise ContractError(
                f"schema refers to {resolver.refused[0]}, which is not part of the contract",
                file=str(entry),
            ) from exc
        error = exc.error_log.last_error if exc.error_log else None
        if error is None:
            raise ContractError(
                f"lxml cannot compile the contract's schema: {exc}", file=str(entry)
            ) from exc
        raise _schema_log_error(error, files, entry) from exc


def _schema_log_error(error: etree._LogEntry, files: _LocalFiles, entry: Path) -> ContractError:
    """A libxml2 schema-compilation error, pointed at the contract file it names."""
    where = _path_of(error.filename) if error.filename else None
    message = f"lxml cannot compile the contract's schema: {error.message}"
    if where is None or where not in files.documents:
        # The in-memory root or an aggregate: no file of the user's to point at.
        return ContractError(message, file=str(entry))
    return ContractError(message, file=str(where), line=error.line or None)


def _dependency_order(
    imports: Mapping[str | None, list[str | None]],
    groups: Mapping[str | None, list[_SchemaDocument]],
) -> Iterator[str | None]:
    # Imported namespaces first: libxml2 keeps the first import of a namespace and skips later
    # ones, so each aggregate must be in place before any file imports a part of it.
    done: set[str | None] = set()
    active: set[str | None] = set()

    def visit(namespace: str | None) -> Iterator[str | None]:
        if namespace in done or namespace in active or namespace not in groups:
            return
        active.add(namespace)
        for dependency in imports.get(namespace, ()):
            yield from visit(dependency)
        active.discard(namespace)
        done.add(namespace)
        yield namespace

    for namespace in groups:
        yield from visit(namespace)


def _aggregate(namespace: str | None, members: list[_SchemaDocument]) -> bytes:
    top = etree.Element(f"{{{XSD}}}schema", nsmap={"xs": XSD})
    if namespace is not None:
        top.set("targetNamespace", namespace)
    for member in members:
        etree.SubElement(top, f"{{{XSD}}}include", schemaLocation=member.url)
    return etree.tostring(top)


class _SchemaResolver(etree.Resolver):
    """Serves libxml2 the documents our walk already read and checked, and nothing else."""

    def __init__(self, files: _LocalFiles, synthetic: Mapping[str, tuple[bytes, str]]) -> None:
        super().__init__()
        self._files = files
        self._synthetic = synthetic
        self.refused: list[str] = []

    def resolve(  # type: ignore[override]  # lxml-stubs omit the context argument
        self, system_url: str, public_id: str, context: object
    ) -> Any:
        known = self._synthetic.get(system_url)
        if known is not None:
            data, base_url = known
            return self.resolve_string(data, context, base_url=base_url)
        path = _path_of(system_url)
        document = self._files.documents.get(path) if path is not None else None
        if document is None:
            # lxml swallows exceptions raised here; remember the URL and fail the compile.
            self.refused.append(system_url)
            return self.resolve_string(b"<refused/>", context, base_url=None)
        return self.resolve_string(document.data, context, base_url=path.as_uri() if path else None)


def _path_of(url: str) -> Path | None:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path)).resolve()
    if not parsed.scheme and url:
        return Path(url).resolve()
    return None


# --------------------------------------------------------------------------- error paths


def _source_line(node: etree._Element) -> int | None:
    """``node.sourceline`` as lxml gives it at run time (lxml-stubs mistype it)."""
    line = getattr(node, "sourceline", None)
    return line if isinstance(line, int) and line > 0 else None


def _error_element(root: etree._Element, xpath: str | None) -> etree._Element | None:
    """The element libxml2's error path points at (its paths use ``*`` for default namespaces)."""
    if not xpath:
        return None
    prefixes: dict[str, str] = {}
    for node in root.iter():
        for prefix, uri in node.nsmap.items():
            if prefix:
                prefixes.setdefault(prefix, uri)
    try:
        found = root.getroottree().xpath(xpath, namespaces=prefixes)
    except etree.XPathError:
        return None
    if isinstance(found, list) and len(found) == 1 and isinstance(found[0], etree._Element):
        return found[0]
    return None


def _element_path(element: etree._Element) -> str:
    """``SendMessage/request/requestInfo/properties[2]/key``: local names, 1-based indexes."""
    steps: list[str] = []
    node: etree._Element | None = element
    while node is not None:
        step = etree.QName(node).localname
        parent = node.getparent()
        if parent is not None:
            twins = [sibling for sibling in parent if sibling.tag == node.tag]
            if len(twins) > 1:
                step += f"[{twins.index(node) + 1}]"
        steps.append(step)
        node = parent
    return "/".join(reversed(steps))


def _readable_path(xpath: str | None) -> str | None:
    """``/ns0:SendMessage/request/requestInfo/sessionId`` -> ``SendMessage/request/...``."""
    if not xpath:
        return None
    steps = [step.rpartition(":")[2] for step in xpath.strip("/").split("/")]
    return "/".join(steps) or None


def _zeep_path(exc: Any) -> str | None:
    path = getattr(exc, "path", None)
    if not path:
        return None
    return "/".join(str(step) for step in path)

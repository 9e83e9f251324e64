"""What a contract offers, for people: its outline and sample messages.

``shep contract show`` prints :func:`outline` (services, ports, operations and message
signatures, optionally every element's structure); ``shep contract sample`` prints
:func:`sample_message`, a SOAP 1.1 envelope that fits the contract's XSD: every element in
order with a value of its type (enumerations, patterns and lengths respected), optional and
repeated elements marked by comments. Works on any loaded :class:`Contract`, in either
edition of the v10 bundle: names and namespaces come from the contract, never from here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from lxml import etree

from gateway.contracts import Contract, ElementShape, OperationInfo, SimpleType
from gateway.envelope import format_message_date
from gateway.errors import ContractError
from gateway.xmlns import SOAP11, XSD

__all__ = ["Part", "describe_contract", "outline", "sample_message", "sample_value"]

Part = Literal["input", "output", "fault"]

SAMPLE_MOMENT: Final = datetime(2024, 1, 15, 4, 30, tzinfo=UTC)
"""Every sample date is this moment, so samples are reproducible."""

_XS = f"{{{XSD}}}"
_NUMBERS: Final = {
    "decimal": "0",
    "integer": "0",
    "long": "0",
    "int": "0",
    "short": "0",
    "byte": "0",
    "nonNegativeInteger": "0",
    "nonPositiveInteger": "0",
    "unsignedLong": "0",
    "unsignedInt": "0",
    "unsignedShort": "0",
    "unsignedByte": "0",
    "positiveInteger": "1",
    "negativeInteger": "-1",
    "float": "0.0",
    "double": "0.0",
}
_FIXED: Final = {
    "date": "2024-01-15",
    "time": "10:30:00",
    "gYear": "2024",
    "gYearMonth": "2024-01",
    "duration": "PT1S",
    "boolean": "false",
    "base64Binary": "AA==",
    "hexBinary": "00",
    "anyURI": "urn:example",
    "language": "en",
    "Name": "x",
    "NCName": "x",
    "ID": "x",
    "IDREF": "x",
    "NMTOKEN": "x",
    "ENTITY": "x",
}


# --------------------------------------------------------------------------- outline


@dataclass(slots=True)
class _Prefixes:
    """Short prefixes for namespaces, in order of first use (``xs`` for XML Schema)."""

    names: dict[str, str] = field(default_factory=lambda: {XSD: "xs"})

    def __call__(self, clark: str | None) -> str:
        if clark is None:
            return "(anonymous)"
        namespace, _, local = clark[1:].partition("}") if clark.startswith("{") else ("", "", clark)
        if not namespace:
            return local
        return f"{self.prefix(namespace)}:{local}"

    def prefix(self, namespace: str) -> str:
        taken = sum(1 for prefix in self.names.values() if prefix.startswith("ns"))
        return self.names.setdefault(namespace, f"ns{taken}")


def outline(contract: Contract, *, tree: bool = False) -> list[str]:
    """The contract as lines of text: ports, operations with signatures, then the prefixes.

    A signature lists an element's children with their types and occurrence (``?`` optional,
    ``*`` any number, ``+`` at least one), like zeep's ``python -m zeep``. ``tree`` adds every
    message's full structure, with facets.
    """
    short = _Prefixes()
    body: list[str] = []
    for port in contract.ports():
        body.append(f"Service {port.service}")
        body.append(f"  Port {port.port}  (SOAP 1.1, binding {short(port.binding)})")
        body.append(f"    portType  {short(port.port_type)}")
        body.append(f"    address   {port.address or '(none)'}")
        for operation in port.operations:
            body += _operation_lines(contract, operation, short, tree=tree)
    legend = [
        f"  {prefix}: {namespace}"
        for namespace, prefix in short.names.items()
        if any(f"{prefix}:" in line for line in body)
    ]
    head = [f"Contract {contract.name}  ({contract.wsdl_path})"]
    return [*head, "Prefixes:", *legend, *body]


def _operation_lines(
    contract: Contract, operation: OperationInfo, short: _Prefixes, *, tree: bool
) -> list[str]:
    lines = [f"    Operation {operation.name}  (soapAction {operation.soap_action!r})"]
    parts: list[tuple[str, str | None]] = [
        ("input", operation.input_element),
        ("output", operation.output_element),
        *((f"fault {name}", element) for name, element in operation.faults),
    ]
    for label, tag in parts:
        if tag is None:
            lines.append(f"      {label:<7} (none)")
            continue
        shape = contract.element_shape(tag)
        lines.append(f"      {label:<7} {_signature(shape, short)}")
        if tree:
            lines += [f"          {line}" for line in _tree(shape, short)]
    return lines


def _signature(shape: ElementShape, short: _Prefixes) -> str:
    name = short(_clark(shape))
    if shape.simple is not None or shape.any_type:
        return f"{name}: {_type_text(shape, short)}"
    members = ", ".join(
        f"{child.name}{_occurrence(child)}: {_type_text(child, short)}" for child in shape.children
    )
    return f"{name}({members})"


def _tree(shape: ElementShape, short: _Prefixes, depth: int = 0) -> Iterator[str]:
    facets = _facets(shape.simple) if shape.simple is not None else ""
    recursive = "  (recursive: as above)" if shape.recursive else ""
    yield (
        f"{'  ' * depth}{shape.name}{_occurrence(shape)}: {_type_text(shape, short)}"
        f"{facets}{recursive}"
    )
    for child in shape.children:
        yield from _tree(child, short, depth + 1)


def _type_text(shape: ElementShape, short: _Prefixes) -> str:
    if shape.any_type:
        return "xs:anyType"
    if shape.type_name is not None:
        return short(shape.type_name)
    if shape.simple is not None:
        return short(shape.simple.base)
    return "(anonymous)"


def _facets(simple: SimpleType) -> str:
    named = simple.name is not None and simple.name != simple.base
    parts: list[str] = []
    if named:
        parts.append(f"restricts {etree.QName(simple.base).localname}")
    if simple.enumerations:
        parts.append("one of " + "|".join(simple.enumerations))
    parts += [f"pattern {pattern}" for pattern in simple.patterns]
    for label, value in (
        ("length", simple.length),
        ("minLength", simple.min_length),
        ("maxLength", simple.max_length),
        ("min", simple.min_inclusive),
        ("max", simple.max_inclusive),
    ):
        if value is not None:
            parts.append(f"{label} {value}")
    return f"  [{', '.join(parts)}]" if parts else ""


def _occurrence(shape: ElementShape) -> str:
    low, high = shape.min_occurs, shape.max_occurs
    if (low, high) == (1, 1):
        return ""
    if (low, high) == (0, 1):
        return "?"
    if high is None:
        return "*" if low == 0 else ("+" if low == 1 else f"{{{low},}}")
    return f"{{{low},{high}}}"


def describe_contract(contract: Contract, *, tree: bool = False) -> dict[str, Any]:
    """:func:`outline` as JSON-ready data, with Clark names (``{namespace}local``)."""
    short = _Prefixes()

    def message(tag: str | None) -> dict[str, Any] | None:
        if tag is None:
            return None
        shape = contract.element_shape(tag)
        described: dict[str, Any] = {"element": tag, "signature": _signature(shape, short)}
        if tree:
            described["structure"] = _shape_dict(shape)
        return described

    ports = [
        {
            "service": port.service,
            "port": port.port,
            "binding": port.binding,
            "port_type": port.port_type,
            "address": port.address,
            "soap": "1.1",
            "operations": [
                {
                    "name": operation.name,
                    "style": operation.style,
                    "soap_action": operation.soap_action,
                    "input": message(operation.input_element),
                    "output": message(operation.output_element),
                    "faults": [
                        {"name": name, **(message(element) or {})}
                        for name, element in operation.faults
                    ],
                }
                for operation in port.operations
            ],
        }
        for port in contract.ports()
    ]
    return {
        "name": contract.name,
        "wsdl": str(contract.wsdl_path),
        "ports": ports,
        "prefixes": {prefix: namespace for namespace, prefix in short.names.items()},
    }


def _shape_dict(shape: ElementShape) -> dict[str, Any]:
    described: dict[str, Any] = {
        "name": shape.name,
        "namespace": shape.namespace,
        "type": shape.type_name,
        "min_occurs": shape.min_occurs,
        "max_occurs": shape.max_occurs,
    }
    if shape.any_type:
        described["any_type"] = True
    if shape.recursive:
        described["recursive"] = True
    if shape.simple is not None:
        simple = shape.simple
        described["simple"] = {
            key: value
            for key, value in {
                "base": simple.base,
                "enumerations": list(simple.enumerations) or None,
                "patterns": list(simple.patterns) or None,
                "length": simple.length,
                "min_length": simple.min_length,
                "max_length": simple.max_length,
                "min_inclusive": simple.min_inclusive,
                "max_inclusive": simple.max_inclusive,
            }.items()
            if value is not None
        }
    if shape.children:
        described["children"] = [_shape_dict(child) for child in shape.children]
    return described


# --------------------------------------------------------------------------- samples


def sample_message(
    contract: Contract, operation: str, *, part: Part = "input", optional: bool = True
) -> bytes:
    """A sample SOAP 1.1 envelope for ``operation``'s request, response or fault.

    With ``optional`` (the default) optional elements are included, each after a comment
    saying so; without, only what the contract requires. ``anyType`` content (the ShEP ``data``
    payload) is a ``?`` placeholder. Values fit their types and facets, so the sample passes
    the contract's XSD (``shep validate --envelope`` with its own contract).
    """
    if operation not in contract.operations:
        known = ", ".join(contract.operations)
        raise ContractError(
            f"{contract.name} has no operation {operation!r} (it has: {known})",
            file=str(contract.wsdl_path),
        )
    if part == "input":
        tag = contract.input_element(operation)
    elif part == "output":
        tag = contract.output_element(operation)
    else:
        faults = contract.fault_elements(operation)
        if not faults:
            raise ContractError(f"{operation} declares no fault", file=str(contract.wsdl_path))
        tag = faults[0]
    shape = contract.element_shape(tag)
    prefixes = _Prefixes(names={})
    nsmap = {"soapenv": SOAP11, **{prefixes.prefix(ns): ns for ns in _namespaces(shape)}}
    envelope = etree.Element(f"{{{SOAP11}}}Envelope", nsmap=nsmap)
    if part == "input":
        etree.SubElement(envelope, f"{{{SOAP11}}}Header")
    body = etree.SubElement(envelope, f"{{{SOAP11}}}Body")
    parent = body
    if part == "fault":
        fault = etree.SubElement(body, f"{{{SOAP11}}}Fault")
        etree.SubElement(fault, "faultcode").text = "soapenv:Server"
        etree.SubElement(fault, "faultstring").text = "?"
        parent = etree.SubElement(fault, "detail")
    _render(shape, parent, optional=optional, top=True)
    etree.indent(envelope, space="  ")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + etree.tostring(
        envelope, encoding="UTF-8", pretty_print=True
    )


def _namespaces(shape: ElementShape) -> Iterator[str]:
    seen: set[str] = set()
    pending = [shape]
    while pending:
        current = pending.pop(0)
        if current.namespace is not None and current.namespace not in seen:
            seen.add(current.namespace)
            yield current.namespace
        pending += current.children


def _render(
    shape: ElementShape, parent: etree._Element, *, optional: bool, top: bool = False
) -> None:
    if shape.min_occurs == 0 and (not optional or shape.recursive):
        return
    notes = [] if top else [_occurrence_note(shape)]
    if shape.any_type:
        notes.append("xs:anyType: the payload, an element or escaped XML (xsi:type xs:string)")
    text = "; ".join(note for note in notes if note)
    if text:
        parent.append(etree.Comment(f" {text} "))
    element = etree.SubElement(parent, _clark(shape))
    for attribute in shape.attributes:
        if attribute.required or optional:
            name = (
                attribute.name
                if attribute.namespace is None
                else f"{{{attribute.namespace}}}{attribute.name}"
            )
            element.set(name, sample_value(attribute.simple))
    if shape.any_type:
        element.text = "?"
    elif shape.simple is not None:
        element.text = sample_value(shape.simple)
    else:
        for child in shape.children:
            _render(child, element, optional=optional)


def _occurrence_note(shape: ElementShape) -> str | None:
    low, high = shape.min_occurs, shape.max_occurs
    if (low, high) == (1, 1):
        return None
    if (low, high) == (0, 1):
        return "optional"
    upper = "unbounded" if high is None else str(high)
    return f"{low}..{upper} times"


def _clark(shape: ElementShape) -> str:
    return shape.name if shape.namespace is None else f"{{{shape.namespace}}}{shape.name}"


def sample_value(simple: SimpleType) -> str:
    """A value that fits ``simple``: its first enumeration, a string its patterns accept,
    or a plain value of its builtin type, stretched to its length facets."""
    if simple.enumerations:
        return simple.enumerations[0]
    base = etree.QName(simple.base).localname if simple.base.startswith(_XS) else "string"
    if simple.patterns:
        generated = _pattern_sample(simple.patterns[0])
        if generated is not None and all(_matches(p, generated) for p in simple.patterns):
            return generated
    if base == "dateTime":
        return format_message_date(SAMPLE_MOMENT)
    if base in _NUMBERS:
        return simple.min_inclusive or _NUMBERS[base]
    value = _FIXED.get(base, "?")
    if simple.length is not None:
        return (value * simple.length)[: simple.length]
    if simple.min_length is not None and len(value) < simple.min_length:
        value = (value * simple.min_length)[: simple.min_length]
    if simple.max_length is not None:
        value = value[: simple.max_length]
    return value


# --------------------------------------------------------------------------- patterns


def _matches(pattern: str, value: str) -> bool:
    try:
        return re.fullmatch(pattern, value) is not None
    except re.error:
        return False


def _pattern_sample(pattern: str) -> str | None:
    """A string the XSD regular expression accepts, for the simple patterns contracts use:
    literals, escapes, classes, groups with alternatives (the first is taken) and
    quantifiers (their least count, but at least one). ``None`` when it is beyond that."""
    try:
        text, end = _sequence(pattern, 0)
    except (IndexError, ValueError):
        return None
    return text if end == len(pattern) else None


def _sequence(pattern: str, index: int) -> tuple[str, int]:
    out: list[str] = []
    while index < len(pattern) and pattern[index] not in "|)":
        atom, index = _atom(pattern, index)
        count, index = _quantifier(pattern, index)
        out.append(atom * count)
    if index < len(pattern) and pattern[index] == "|":
        depth = 0
        while index < len(pattern):  # skip the other alternatives
            char = pattern[index]
            if char == "\\":
                index += 2
                continue
            if char == "(":
                depth += 1
            elif char == ")":
                if depth == 0:
                    break
                depth -= 1
            index += 1
    return "".join(out), index


_CLASS_ESCAPES: Final = {"d": "0", "w": "a", "s": " ", "i": "a", "c": "a", "S": "a", "D": "a"}


def _atom(pattern: str, index: int) -> tuple[str, int]:
    char = pattern[index]
    if char == "(":
        inner, index = _sequence(pattern, index + 1)
        if pattern[index] != ")":
            raise ValueError("unclosed group")
        return inner, index + 1
    if char == "[":
        return _class(pattern, index)
    if char == "\\":
        escaped = pattern[index + 1]
        return _CLASS_ESCAPES.get(escaped, escaped), index + 2
    if char == ".":
        return "a", index + 1
    if char in "?*+{":
        raise ValueError("quantifier without an atom")
    return char, index + 1


def _class(pattern: str, index: int) -> tuple[str, int]:
    end = index + 1
    while pattern[end] != "]" or end == index + 1:
        end += 2 if pattern[end] == "\\" else 1
    body = pattern[index + 1 : end]
    if "[" in body:
        raise ValueError("class subtraction")
    if body.startswith("^"):
        for candidate in "a0xZ_":
            if re.fullmatch(f"[{body}]", candidate):
                return candidate, end + 1
        raise ValueError("no simple character outside the class")
    if body.startswith("\\"):
        return _CLASS_ESCAPES.get(body[1], body[1]), end + 1
    return body[0], end + 1


def _quantifier(pattern: str, index: int) -> tuple[int, int]:
    if index >= len(pattern):
        return 1, index
    char = pattern[index]
    if char in "?*+":
        return 1, index + 1
    if char == "{":
        end = pattern.index("}", index)
        low, _, high = pattern[index + 1 : end].partition(",")
        count = int(low)
        if count == 0 and (high == "" or int(high or "1") >= 1):
            count = 1
        return count, end + 1
    return 1, index

"""Just enough BER/DER reading to look inside PKCS#12 containers and PKCS#8 keys.

Why not ``cryptography``: it hands back keys and certificates, never the structure around them,
so it cannot tell us which key bags a container holds, under which aliases, or which algorithm
a key it refuses to load uses (GOST). Kalkan writes PKCS#12 in BER with indefinite lengths, so
this reader accepts BER; it is for *inspection* of data we then hand to ``cryptography``, never
for verifying signatures.

Hostile input: every length is bounds-checked and nesting is limited, so malformed or
adversarial bytes raise :class:`~gateway.errors.InputError`, never IndexError or RecursionError.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import InputError

__all__ = [
    "BIT_STRING",
    "BMP_STRING",
    "INTEGER",
    "NULL",
    "OCTET_STRING",
    "OID",
    "SEQUENCE",
    "SET",
    "UTF8_STRING",
    "Node",
    "decode",
]

UNIVERSAL, APPLICATION, CONTEXT, PRIVATE = 0, 1, 2, 3

INTEGER = 2
BIT_STRING = 3
OCTET_STRING = 4
NULL = 5
OID = 6
UTF8_STRING = 12
SEQUENCE = 16
SET = 17
BMP_STRING = 30

_MAX_DEPTH = 48


@dataclass(frozen=True, slots=True)
class Node:
    """One decoded TLV: primitive nodes keep their content, constructed ones their children.

    ``raw`` is the element's own encoding as found (BER stays BER); :meth:`to_der` re-encodes it
    with definite lengths for consumers that insist on DER.
    """

    tag_class: int
    constructed: bool
    number: int
    content: bytes
    children: tuple[Node, ...]
    offset: int
    raw: bytes

    def is_(self, number: int, tag_class: int = UNIVERSAL) -> bool:
        return self.tag_class == tag_class and self.number == number

    def expect(self, number: int, tag_class: int = UNIVERSAL) -> Node:
        """Return self if it has this tag, so a walk reads as the ASN.1 it follows."""
        if not self.is_(number, tag_class):
            raise InputError(
                f"unexpected ASN.1 tag [{self.tag_class}:{self.number}] at offset {self.offset},"
                f" expected [{tag_class}:{number}]"
            )
        return self

    def child(self, index: int) -> Node:
        if not self.constructed or index >= len(self.children):
            raise InputError(f"ASN.1 element at offset {self.offset} has no item {index}")
        return self.children[index]

    def octets(self) -> bytes:
        """Value of a string type; BER may split it into constructed segments."""
        if not self.constructed:
            return self.content
        return b"".join(part.octets() for part in self.children)

    def to_der(self) -> bytes:
        body = b"".join(c.to_der() for c in self.children) if self.constructed else self.content
        return (
            _encode_identifier(self.tag_class, self.constructed, self.number)
            + _encode_length(len(body))
            + body
        )

    def oid(self) -> str:
        self.expect(OID)
        return decode_oid(self.content, self.offset)

    def integer(self) -> int:
        self.expect(INTEGER)
        if not self.content:
            raise InputError(f"empty INTEGER at offset {self.offset}")
        return int.from_bytes(self.content, "big", signed=True)


def decode_oid(content: bytes, offset: int = 0) -> str:
    if not content or content[-1] & 0x80:
        raise InputError(f"malformed OBJECT IDENTIFIER at offset {offset}")
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(arc) for arc in head + arcs[1:])


def decode(data: bytes, *, allow_trailing: bool = False) -> Node:
    """Decode one BER element; trailing bytes are an error unless allowed."""
    node, end = _read(data, 0, len(data), 0)
    if end != len(data) and not allow_trailing:
        raise InputError(f"{len(data) - end} unexpected bytes after the ASN.1 element")
    return node


def _read(data: bytes, pos: int, limit: int, depth: int) -> tuple[Node, int]:
    if depth > _MAX_DEPTH:
        raise InputError(f"ASN.1 nesting deeper than {_MAX_DEPTH} at offset {pos}")
    start = pos
    tag_class, constructed, number, pos = _read_identifier(data, pos, limit)
    length, pos = _read_length(data, pos, limit, start)
    if length is None:
        if not constructed:
            raise InputError(f"indefinite length on a primitive ASN.1 element at offset {start}")
        children: list[Node] = []
        while True:
            if pos + 2 > limit:
                raise InputError(f"unterminated indefinite-length ASN.1 at offset {start}")
            if data[pos] == 0 and data[pos + 1] == 0:
                pos += 2
                break
            node, pos = _read(data, pos, limit, depth + 1)
            children.append(node)
        return Node(tag_class, True, number, b"", tuple(children), start, data[start:pos]), pos
    end = pos + length
    if end > limit:
        raise InputError(f"ASN.1 element at offset {start} runs past the end of its container")
    if not constructed:
        return Node(tag_class, False, number, data[pos:end], (), start, data[start:end]), end
    children = []
    while pos < end:
        node, pos = _read(data, pos, end, depth + 1)
        children.append(node)
    return Node(tag_class, True, number, b"", tuple(children), start, data[start:end]), end


def _read_identifier(data: bytes, pos: int, limit: int) -> tuple[int, bool, int, int]:
    """Tag class, constructed flag, tag number, and the position after the identifier."""
    start = pos
    if pos >= limit:
        raise InputError(f"truncated ASN.1 at offset {pos}")
    first = data[pos]
    pos += 1
    tag_class, constructed, number = first >> 6, bool(first & 0x20), first & 0x1F
    if number != 0x1F:
        return tag_class, constructed, number, pos
    number = 0
    while True:
        if pos >= limit or number > 1 << 28:
            raise InputError(f"truncated or oversized ASN.1 tag at offset {start}")
        byte = data[pos]
        pos += 1
        number = (number << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return tag_class, constructed, number, pos


def _read_length(data: bytes, pos: int, limit: int, start: int) -> tuple[int | None, int]:
    """The content length (None = indefinite) and the position after the length octets."""
    if pos >= limit:
        raise InputError(f"truncated ASN.1 length at offset {start}")
    first = data[pos]
    pos += 1
    if first == 0x80:
        return None, pos
    if not first & 0x80:
        return first, pos
    count = first & 0x7F
    if count > 4 or pos + count > limit:
        raise InputError(f"bad ASN.1 length at offset {start}")
    return int.from_bytes(data[pos : pos + count], "big"), pos + count


def _encode_identifier(tag_class: int, constructed: bool, number: int) -> bytes:
    lead = (tag_class << 6) | (0x20 if constructed else 0)
    if number < 0x1F:
        return bytes([lead | number])
    groups = [number & 0x7F]
    number >>= 7
    while number:
        groups.append(0x80 | (number & 0x7F))
        number >>= 7
    return bytes([lead | 0x1F, *reversed(groups)])


def _encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body), *body])

"""The BER reader must decode what Kalkan writes and fail cleanly on everything else."""

from __future__ import annotations

import pytest

from gateway import der
from gateway.errors import InputError


def test_definite_and_indefinite_lengths() -> None:
    # SEQUENCE (indefinite) { INTEGER 3, OCTET STRING (constructed, indefinite) {"ab", "c"} }
    data = bytes.fromhex("3080 020103 2480 04026162 040163 0000 0000".replace(" ", ""))
    node = der.decode(data)
    assert node.is_(der.SEQUENCE)
    assert node.child(0).integer() == 3
    assert node.child(1).octets() == b"abc"
    assert node.raw == data
    assert der.decode(node.to_der()).child(1).octets() == b"abc"
    assert node.to_der() == bytes.fromhex("300c020103240704026162040163")


def test_oid_and_long_forms() -> None:
    node = der.decode(bytes.fromhex("06092a864886f70d010701"))
    assert node.oid() == "1.2.840.113549.1.7.1"
    assert der.decode(bytes.fromhex("0603551d0f")).oid() == "2.5.29.15"
    long_body = bytes(200)
    node = der.decode(b"\x04\x81\xc8" + long_body)
    assert node.octets() == long_body
    assert node.to_der() == b"\x04\x81\xc8" + long_body
    high_tag = der.decode(b"\x9f\x81\x00\x01\x05")
    assert (high_tag.tag_class, high_tag.number, high_tag.content) == (der.CONTEXT, 128, b"\x05")
    assert high_tag.to_der() == b"\x9f\x81\x00\x01\x05"


HOSTILE = {
    "empty": b"",
    "truncated-header": b"\x30",
    "length-past-end": b"\x30\x05\x02\x01",
    "huge-length": b"\x30\x84\xff\xff\xff\xff",
    "length-of-length-too-big": b"\x30\x89" + bytes(9),
    "unterminated-indefinite": b"\x30\x80\x02\x01\x03",
    "indefinite-primitive": b"\x04\x80\x00\x00",
    "deep-nesting": b"\x30\x80" * 1000,
    "trailing-bytes": b"\x05\x00\x05\x00",
    "truncated-tag": b"\x1f\x81",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_is_an_input_error(name: str) -> None:
    with pytest.raises(InputError):
        der.decode(HOSTILE[name])


def test_wrong_shapes_are_input_errors() -> None:
    node = der.decode(b"\x05\x00")
    with pytest.raises(InputError, match=r"unexpected ASN\.1 tag"):
        node.expect(der.SEQUENCE)
    with pytest.raises(InputError):
        node.child(0)
    with pytest.raises(InputError):
        node.oid()
    with pytest.raises(InputError):
        der.decode(b"\x06\x01\x81").oid()
    with pytest.raises(InputError):
        der.decode(b"\x02\x00").integer()
    assert der.decode(b"\x05\x00\x05\x00", allow_trailing=True).is_(der.NULL)

"""The layout of a PKCS#12 container: which bags it holds, their aliases and algorithms.

``cryptography``'s ``load_pkcs12`` decrypts a container but hides its structure: it silently
takes the *first* key of a multi-entry keystore, and for a GOST container it only says "invalid
password". Reading the unencrypted outer layers lets :mod:`gateway.identity` pick an entry by
alias, list the aliases on error, and hand a single key bag to ``cryptography`` to learn whether
the password or the key algorithm is the problem. Nothing here decrypts anything.

Layout (RFC 7292)::

    PFX { version 3, authSafe ContentInfo(data → AuthenticatedSafe), macData? }
    AuthenticatedSafe = SEQUENCE OF ContentInfo(data → SafeContents | encryptedData)
    SafeContents = SEQUENCE OF SafeBag { bagId, bagValue [0], bagAttributes SET? }

Key bags normally sit in a plain ``data`` part (their own encryption is inside the bag), so
their aliases are readable without the password; certificate bags are usually in an
``encryptedData`` part, whose algorithm we report but do not open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from gateway import der
from gateway.errors import InputError

__all__ = [
    "CertBag",
    "KeyBag",
    "PfxLayout",
    "algorithm_name",
    "looks_like_pfx",
    "private_key_algorithm",
    "read_pfx_layout",
]

_DATA: Final = "1.2.840.113549.1.7.1"
_SIGNED_DATA: Final = "1.2.840.113549.1.7.2"
_ENCRYPTED_DATA: Final = "1.2.840.113549.1.7.6"

_KEY_BAG: Final = "1.2.840.113549.1.12.10.1.1"
_SHROUDED_KEY_BAG: Final = "1.2.840.113549.1.12.10.1.2"
_CERT_BAG: Final = "1.2.840.113549.1.12.10.1.3"
_SAFE_CONTENTS_BAG: Final = "1.2.840.113549.1.12.10.1.6"
_X509_CERTIFICATE: Final = "1.2.840.113549.1.9.22.1"

_FRIENDLY_NAME: Final = "1.2.840.113549.1.9.20"
_LOCAL_KEY_ID: Final = "1.2.840.113549.1.9.21"

_PBES2: Final = "1.2.840.113549.1.5.13"
_PBKDF2: Final = "1.2.840.113549.1.5.12"

_ALGORITHM_NAMES: Final = {
    "1.2.840.113549.1.12.1.1": "pbeWithSHA1And128BitRC4",
    "1.2.840.113549.1.12.1.2": "pbeWithSHA1And40BitRC4",
    "1.2.840.113549.1.12.1.3": "pbeWithSHA1And3-KeyTripleDES-CBC",
    "1.2.840.113549.1.12.1.4": "pbeWithSHA1And2-KeyTripleDES-CBC",
    "1.2.840.113549.1.12.1.5": "pbeWithSHA1And128BitRC2-CBC",
    "1.2.840.113549.1.12.1.6": "pbeWithSHA1And40BitRC2-CBC",
    _PBES2: "PBES2",
    _PBKDF2: "PBKDF2",
    "1.2.840.113549.2.7": "hmacWithSHA1",
    "1.2.840.113549.2.9": "hmacWithSHA256",
    "1.2.840.113549.2.10": "hmacWithSHA384",
    "1.2.840.113549.2.11": "hmacWithSHA512",
    "2.16.840.1.101.3.4.1.2": "aes-128-cbc",
    "2.16.840.1.101.3.4.1.22": "aes-192-cbc",
    "2.16.840.1.101.3.4.1.42": "aes-256-cbc",
    "1.2.840.113549.3.7": "des-ede3-cbc",
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyBag:
    """A private key entry as stored; ``data`` is still encrypted for a shrouded bag."""

    friendly_name: str | None
    local_key_id: bytes | None
    encryption: str | None
    """Algorithm name of a shrouded bag (``pbeWithSHA1And3-KeyTripleDES-CBC`` for NCA keys);
    None for a plain, unencrypted key bag."""
    data: bytes = field(repr=False)
    """DER EncryptedPrivateKeyInfo (shrouded) or PrivateKeyInfo (plain): both are what
    ``cryptography``'s ``load_der_private_key`` takes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CertBag:
    """A certificate entry found in an unencrypted part of the container."""

    friendly_name: str | None
    local_key_id: bytes | None
    certificate_der: bytes = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class PfxLayout:
    """What a container holds, as far as can be seen without the password."""

    mac_algorithm: str | None
    mac_iterations: int | None
    key_bags: tuple[KeyBag, ...]
    cert_bags: tuple[CertBag, ...]
    """Only certificates stored unencrypted; most containers encrypt theirs."""
    encrypted_parts: tuple[str, ...]
    """Algorithm name of each ``encryptedData`` part (NCA: ``pbeWithSHA1And40BitRC2-CBC``)."""

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(bag.friendly_name for bag in self.key_bags if bag.friendly_name)


_PFX_CONTENT_TYPES: Final = (
    bytes.fromhex("06092a864886f70d010701"),  # OID data
    bytes.fromhex("06092a864886f70d010702"),  # OID signedData
)


def looks_like_pfx(data: bytes) -> bool:
    """True if the bytes start like a PFX: SEQUENCE { INTEGER 3, SEQUENCE { OID data ...

    Only the header is checked, so a truncated or damaged container is still recognised and
    reported as a damaged container rather than as "not a key".
    """
    rest = _skip_header(data, 0x30)
    if rest is None or not rest.startswith(b"\x02\x01\x03"):
        return False
    content_info = _skip_header(rest[3:], 0x30)
    return content_info is not None and content_info.startswith(_PFX_CONTENT_TYPES)


def _skip_header(data: bytes, tag: int) -> bytes | None:
    """The bytes after an identifier ``tag`` and its length octets, ignoring the length."""
    if len(data) < 2 or data[0] != tag:
        return None
    first = data[1]
    if first == 0x80 or first < 0x80:
        return data[2:]
    count = first & 0x7F
    return data[2 + count :] if 0 < count <= 4 else None


def read_pfx_layout(data: bytes) -> PfxLayout:
    """Walk the unencrypted layers of a PKCS#12 container.

    Raises InputError for anything that is not a well-formed PFX; public-key-protected
    (``signedData``) containers are rejected because no NCA or SIGEX tool writes them.
    """
    pfx = der.decode(data, allow_trailing=True).expect(der.SEQUENCE)
    if pfx.child(0).integer() != 3:
        raise InputError("not a PKCS#12 version 3 container")
    auth_safe = pfx.child(1).expect(der.SEQUENCE)
    if auth_safe.child(0).oid() != _DATA:
        raise InputError("PKCS#12 containers protected by a public key are not supported")
    content = _explicit(auth_safe.child(1)).expect(der.OCTET_STRING).octets()
    parts = der.decode(content).expect(der.SEQUENCE).children

    mac_algorithm: str | None = None
    mac_iterations: int | None = None
    if len(pfx.children) > 2:
        mac_data = pfx.child(2).expect(der.SEQUENCE)
        digest_info = mac_data.child(0).expect(der.SEQUENCE)
        mac_algorithm = algorithm_name(digest_info.child(0))
        mac_iterations = mac_data.child(2).integer() if len(mac_data.children) > 2 else 1

    keys: list[KeyBag] = []
    certs: list[CertBag] = []
    encrypted: list[str] = []
    for part in parts:
        kind = part.expect(der.SEQUENCE).child(0).oid()
        if kind == _DATA:
            safe_contents = _explicit(part.child(1)).expect(der.OCTET_STRING).octets()
            _read_safe_contents(der.decode(safe_contents), keys, certs, depth=0)
        elif kind == _ENCRYPTED_DATA:
            encrypted_data = _explicit(part.child(1)).expect(der.SEQUENCE)
            content_info = encrypted_data.child(1).expect(der.SEQUENCE)
            encrypted.append(algorithm_name(content_info.child(1)))
        else:
            raise InputError(f"unsupported PKCS#12 content type {kind}")
    return PfxLayout(
        mac_algorithm=mac_algorithm,
        mac_iterations=mac_iterations,
        key_bags=tuple(keys),
        cert_bags=tuple(certs),
        encrypted_parts=tuple(encrypted),
    )


def algorithm_name(identifier: der.Node) -> str:
    """Readable name of an AlgorithmIdentifier, with PBES2's KDF and cipher spelled out."""
    oid = identifier.expect(der.SEQUENCE).child(0).oid()
    name = _ALGORITHM_NAMES.get(oid, oid)
    if oid == _PBES2 and len(identifier.children) > 1:
        params = identifier.child(1).expect(der.SEQUENCE)
        kdf = params.child(0).expect(der.SEQUENCE)
        details = [algorithm_name(kdf)]
        kdf_params = kdf.child(1) if len(kdf.children) > 1 else None
        if kdf_params is not None and kdf_params.constructed:
            prf = [c for c in kdf_params.children if c.is_(der.SEQUENCE)]
            details.append(algorithm_name(prf[0]) if prf else "hmacWithSHA1")
        details.append(algorithm_name(params.child(1)))
        name = f"{name} ({', '.join(details)})"
    return name


def private_key_algorithm(private_key_info: bytes) -> str:
    """The algorithm OID of an unencrypted PKCS#8 PrivateKeyInfo, even one we cannot load."""
    info = der.decode(private_key_info).expect(der.SEQUENCE)
    return info.child(1).expect(der.SEQUENCE).child(0).oid()


def _explicit(node: der.Node) -> der.Node:
    """The single child of an ``[0] EXPLICIT`` wrapper."""
    node.expect(0, der.CONTEXT)
    return node.child(0)


def _read_safe_contents(
    contents: der.Node, keys: list[KeyBag], certs: list[CertBag], *, depth: int
) -> None:
    if depth > 4:
        raise InputError("PKCS#12 safe contents nested too deeply")
    for bag in contents.expect(der.SEQUENCE).children:
        bag_id = bag.expect(der.SEQUENCE).child(0).oid()
        value = _explicit(bag.child(1))
        friendly_name, local_key_id = _attributes(
            bag.children[2] if len(bag.children) > 2 else None
        )
        if bag_id == _SHROUDED_KEY_BAG:
            algorithm = value.expect(der.SEQUENCE).child(0)
            keys.append(
                KeyBag(
                    friendly_name=friendly_name,
                    local_key_id=local_key_id,
                    encryption=algorithm_name(algorithm),
                    data=value.to_der(),
                )
            )
        elif bag_id == _KEY_BAG:
            keys.append(
                KeyBag(
                    friendly_name=friendly_name,
                    local_key_id=local_key_id,
                    encryption=None,
                    data=value.to_der(),
                )
            )
        elif bag_id == _CERT_BAG:
            cert_type = value.expect(der.SEQUENCE).child(0).oid()
            if cert_type == _X509_CERTIFICATE:
                cert = _explicit(value.child(1)).expect(der.OCTET_STRING).octets()
                certs.append(
                    CertBag(
                        friendly_name=friendly_name,
                        local_key_id=local_key_id,
                        certificate_der=cert,
                    )
                )
        elif bag_id == _SAFE_CONTENTS_BAG:
            _read_safe_contents(value, keys, certs, depth=depth + 1)


def _attributes(attributes: der.Node | None) -> tuple[str | None, bytes | None]:
    friendly_name: str | None = None
    local_key_id: bytes | None = None
    if attributes is None:
        return friendly_name, local_key_id
    for attribute in attributes.expect(der.SET).children:
        oid = attribute.expect(der.SEQUENCE).child(0).oid()
        values = attribute.child(1).expect(der.SET)
        if not values.children:
            continue
        value = values.child(0)
        if oid == _FRIENDLY_NAME and value.is_(der.BMP_STRING):
            friendly_name = _decode_bmp(value.octets(), value.offset)
        elif oid == _LOCAL_KEY_ID and value.is_(der.OCTET_STRING):
            local_key_id = value.octets()
    return friendly_name, local_key_id


def _decode_bmp(raw: bytes, offset: int) -> str:
    try:
        # A NUL terminator, which some writers add, is not part of the alias.
        return raw.decode("utf-16-be").rstrip("\x00")
    except UnicodeDecodeError as exc:
        raise InputError(f"malformed friendlyName at offset {offset}") from exc

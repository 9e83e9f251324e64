"""The layout of a PKCS#12 container: which key bags it holds, their aliases and algorithms.

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

:func:`is_encrypted_pkcs8` tells the content of a shrouded key bag, an encrypted PKCS#8 key,
from a plain one, for key files as well.

The ASN.1 is parsed by ``asn1crypto``, BER included (streaming writers produce indefinite
lengths; asn1crypto limits their nesting). Its ``Any``-typed values stay in this module and its
exceptions leave it as :class:`~gateway.errors.InputError`. Key bags are passed on as stored:
``cryptography`` takes them in DER, which is what every writer we know puts there. Algorithm
names are asn1crypto's (``pkcs12_sha1_tripledes_3key``, ``pkcs12_sha1_rc2_40``, ``pbes2 (...)``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

from asn1crypto import keys
from asn1crypto import pkcs12 as asn1_pkcs12

from gateway.errors import InputError

__all__ = ["KeyBag", "PfxLayout", "is_encrypted_pkcs8", "looks_like_pfx", "read_pfx_layout"]

_MAX_NESTING: Final = 4
"""safeContents bags inside safeContents bags: real containers have none."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyBag:
    """A private key entry as stored; ``data`` is still encrypted for a shrouded bag."""

    friendly_name: str | None
    local_key_id: bytes | None
    encryption: str | None
    """Algorithm of a shrouded bag (``pkcs12_sha1_tripledes_3key`` for NCA keys); None for a
    plain, unencrypted key bag."""
    data: bytes = field(repr=False)
    """EncryptedPrivateKeyInfo (shrouded) or PrivateKeyInfo (plain), as stored: both are what
    ``cryptography``'s ``load_der_private_key`` takes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PfxLayout:
    """What a container holds, as far as can be seen without the password."""

    mac_algorithm: str | None
    mac_iterations: int | None
    key_bags: tuple[KeyBag, ...]
    encrypted_parts: tuple[str, ...]
    """Algorithm of each ``encryptedData`` part (NCA: ``pkcs12_sha1_rc2_40``)."""

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(bag.friendly_name for bag in self.key_bags if bag.friendly_name)


# SEQUENCE { INTEGER 3, SEQUENCE { OID data | signedData ...: asn1crypto only parses whole
# elements, and a truncated container should still be reported as a damaged container.
_LENGTH: Final = rb"(?:[\x00-\x80]|\x81.|\x82..|\x83...|\x84....)"
_PFX_HEADER: Final = re.compile(
    rb"\x30" + _LENGTH + rb"\x02\x01\x03\x30" + _LENGTH + rb"\x06\x09\x2a\x86\x48\x86\xf7\x0d"
    rb"\x01\x07[\x01\x02]",
    re.DOTALL,
)


def looks_like_pfx(data: bytes) -> bool:
    """True if the bytes start like a PFX; only the header is checked, so a truncated or
    damaged container is still recognised and reported as such rather than as "not a key"."""
    return _PFX_HEADER.match(data) is not None


def read_pfx_layout(data: bytes) -> PfxLayout:
    """Walk the unencrypted layers of a PKCS#12 container.

    Raises InputError for anything that is not a well-formed PFX; public-key-protected
    (``signedData``) containers are rejected because no NCA or SIGEX tool writes them.
    """
    try:
        pfx = asn1_pkcs12.Pfx.load(data)
        if pfx["version"].native != "v3":
            raise InputError("not a PKCS#12 version 3 container")
        if pfx["auth_safe"]["content_type"].native != "data":
            raise InputError("PKCS#12 containers protected by a public key are not supported")
        key_bags: list[KeyBag] = []
        encrypted: list[str] = []
        for part in pfx.authenticated_safe:
            kind = part["content_type"].native
            if kind == "data":
                contents = asn1_pkcs12.SafeContents.load(part["content"].native)
                key_bags.extend(_key_bags(contents, depth=0))
            elif kind == "encrypted_data":
                info = part["content"]["encrypted_content_info"]
                encrypted.append(_algorithm_name(info["content_encryption_algorithm"]))
            else:
                raise InputError(f"unsupported PKCS#12 content type {kind}")
        mac = pfx["mac_data"]
        has_mac = bool(mac)  # an absent optional field is asn1crypto's falsy Void
        return PfxLayout(
            mac_algorithm=mac["mac"]["digest_algorithm"]["algorithm"].native if has_mac else None,
            mac_iterations=mac["iterations"].native if has_mac else None,
            key_bags=tuple(key_bags),
            encrypted_parts=tuple(encrypted),
        )
    except (ValueError, TypeError, KeyError) as exc:
        # UnicodeDecodeError (a malformed friendlyName) is a ValueError too.
        raise InputError("damaged PKCS#12 container: malformed or truncated ASN.1") from exc


def is_encrypted_pkcs8(data: bytes) -> bool:
    """True for a PKCS#8 EncryptedPrivateKeyInfo, whatever key it holds (GOST included)."""
    try:
        info = keys.EncryptedPrivateKeyInfo.load(data, strict=True)
        return bool(info["encryption_algorithm"]["algorithm"].dotted)
    except (ValueError, TypeError, KeyError):
        return False


def _key_bags(contents: Any, *, depth: int) -> list[KeyBag]:
    if depth > _MAX_NESTING:
        raise InputError("PKCS#12 safe contents nested too deeply")
    found: list[KeyBag] = []
    for bag in contents:
        kind, value = bag["bag_id"].native, bag["bag_value"]
        if kind == "safe_contents":
            found.extend(_key_bags(value, depth=depth + 1))
        elif kind in ("key_bag", "pkcs8_shrouded_key_bag"):
            name, key_id = _attribute(bag, "friendly_name"), _attribute(bag, "local_key_id")
            found.append(
                KeyBag(
                    # A NUL terminator, which some writers add, is not part of the alias.
                    friendly_name=name.rstrip("\x00") if name is not None else None,
                    local_key_id=key_id,
                    encryption=(
                        _algorithm_name(value["encryption_algorithm"])
                        if kind == "pkcs8_shrouded_key_bag"
                        else None
                    ),
                    data=value.untag().dump(),  # without the bagValue [0] wrapper
                )
            )
    return found


def _attribute(bag: Any, kind: str) -> Any:
    """The first value of one bag attribute; the others are left unparsed."""
    for attribute in bag["bag_attributes"]:
        if attribute["type"].native == kind and len(attribute["values"]):
            return attribute["values"][0].native
    return None


def _algorithm_name(algorithm: Any) -> str:
    """asn1crypto's name of an EncryptionAlgorithm; for PBES2 with its KDF, PRF and cipher."""
    name = str(algorithm["algorithm"].native)
    if name != "pbes2":
        return name
    params = algorithm["parameters"]
    kdf = params["key_derivation_func"]
    details = [str(kdf["algorithm"].native)]
    if details[0] == "pbkdf2":
        details.append(f"hmac-{kdf['parameters']['prf']['algorithm'].native}")
    details.append(str(params["encryption_scheme"]["algorithm"].native))
    return f"pbes2 ({', '.join(details)})"

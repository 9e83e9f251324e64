"""The layout of a PKCS#12 container: which key bags it holds, their aliases and algorithms.

``cryptography``'s ``load_pkcs12`` decrypts a container but hides its structure: it silently
takes the *first* key of a multi-entry keystore, and for a GOST container it only says "invalid
password". Reading the unencrypted outer layers lets :mod:`gateway.identity` pick an entry by
alias, list the aliases on error, and hand a single key bag to ``cryptography`` to learn whether
the password or the key algorithm is the problem.

GOST containers (``GOST512_*.p12``) hold keys no standard library loads, so this module also
opens them itself (:func:`decrypt_private_key`, :func:`verify_mac`, :func:`read_certificates`):
RFC 7292's key derivation (appendix B.2, a loop over hashlib's SHA-1) feeds ``cryptography``'s
3DES and HMAC; PBES2 uses ``cryptography``'s PBKDF2 and AES. Certificate parts encrypted with
RC2-40, which ``cryptography`` offers only inside its own PKCS#12 loader, are handed to that
loader in a container of their own. :func:`build_pfx` writes the same layout, for test keys.

Layout (RFC 7292)::

    PFX { version 3, authSafe ContentInfo(data → AuthenticatedSafe), macData? }
    AuthenticatedSafe = SEQUENCE OF ContentInfo(data → SafeContents | encryptedData)
    SafeContents = SEQUENCE OF SafeBag { bagId, bagValue [0], bagAttributes SET? }

Key bags normally sit in a plain ``data`` part (their own encryption is inside the bag), so
their aliases are readable without the password; certificate bags are usually in an
``encryptedData`` part, whose algorithm the layout reports (:func:`read_certificates` opens it).

:func:`is_encrypted_pkcs8` tells the content of a shrouded key bag, an encrypted PKCS#8 key,
from a plain one, for key files as well.

The ASN.1 is parsed by ``asn1crypto``, BER included (streaming writers produce indefinite
lengths; asn1crypto limits their nesting). Its ``Any``-typed values stay in this module and its
exceptions leave it as :class:`~gateway.errors.InputError`. Key bags are passed on as stored:
``cryptography`` takes them in DER, which is what every writer we know puts there. Algorithm
names are asn1crypto's (``pkcs12_sha1_tripledes_3key``, ``pkcs12_sha1_rc2_40``, ``pbes2 (...)``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from asn1crypto import algos, cms, keys
from asn1crypto import core as asn1_core
from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import RC2, TripleDES
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, CipherAlgorithm, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.serialization import (
    PrivateFormat,
    pkcs12,
)

from gateway.errors import IdentityError, InputError, PasswordRequiredError

__all__ = [
    "KeyBag",
    "PfxLayout",
    "build_pfx",
    "decrypt_private_key",
    "is_encrypted_pkcs8",
    "looks_like_pfx",
    "read_certificates",
    "read_pfx_layout",
    "verify_mac",
]

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


# --- decryption (GOST containers) ----------------------------------------------------------

_KEY_PURPOSE: Final = 1
_IV_PURPOSE: Final = 2
_MAC_PURPOSE: Final = 3

_PKCS12_PBE: Final = {
    # asn1crypto name: (cipher factory, key bytes)
    "pkcs12_sha1_tripledes_3key": (TripleDES, 24),
    "pkcs12_sha1_tripledes_2key": (TripleDES, 16),
    "pkcs12_sha1_rc2_128": (RC2, 16),
}
_PBES2_CIPHERS: Final = {"aes": algorithms.AES, "tripledes": TripleDES}
_PBES2_HMACS: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def pkcs12_kdf(
    password: bytes,
    salt: bytes,
    iterations: int,
    *,
    purpose: int,
    length: int,
    hash_name: str = "sha1",
) -> bytes:
    """RFC 7292 appendix B.2: key, IV (purpose 1, 2) or MAC key (3) from a password.

    ``password`` is the user's UTF-8 password; B.1 turns it into NUL-terminated UTF-16BE.
    """
    block = hashlib.new(hash_name).block_size
    if iterations < 1:
        raise ValueError("PKCS#12 iteration count below 1")
    encoded = _bmp_password(password)

    def stretch(value: bytes) -> bytes:
        if not value:
            return b""
        size = block * -(-len(value) // block)
        return (value * (size // len(value) + 1))[:size]

    diversifier = bytes([purpose]) * block
    state = bytearray(stretch(salt) + stretch(encoded))
    output = b""
    while len(output) < length:
        chunk = diversifier + bytes(state)
        for _ in range(iterations):
            chunk = hashlib.new(hash_name, chunk).digest()
        output += chunk
        increment = int.from_bytes(stretch(chunk)[:block], "big") + 1
        for start in range(0, len(state), block):
            value = (int.from_bytes(state[start : start + block], "big") + increment) % (
                1 << (8 * block)
            )
            state[start : start + block] = value.to_bytes(block, "big")
    return output[:length]


def _bmp_password(password: bytes) -> bytes:
    """RFC 7292 B.1: the password as NUL-terminated UTF-16BE (a BMPString)."""
    try:
        text = password.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("the password is not UTF-8 text") from None
    return text.encode("utf-16-be") + b"\x00\x00"


_PASSWORD_ERRORS: Final = (ValueError, TypeError, KeyError, AttributeError)


def _password_problem(exc: Exception) -> str:
    """A fixed message: the derivation's own errors may quote the password's bytes."""
    if "UTF-8" in str(exc):
        return "the password is not UTF-8 text"
    return "unusable key-derivation parameters in the container (damaged?)"


def _unpad(data: bytes, block_bits: int) -> bytes:
    unpadder = padding.PKCS7(block_bits).unpadder()
    return unpadder.update(data) + unpadder.finalize()


def _cipher_for(algorithm: Any, password: bytes) -> tuple[CipherAlgorithm, bytes, int] | None:
    """(cipher with key, IV, block bits) for a PKCS#12 PBE or a PBES2 algorithm; None for
    anything else. ValueError for a password or parameters the derivation refuses."""
    name = str(algorithm["algorithm"].native)
    if name in _PKCS12_PBE:
        factory, size = _PKCS12_PBE[name]
        salt, rounds = algorithm.kdf_salt, algorithm.kdf_iterations
        key = pkcs12_kdf(password, salt, rounds, purpose=_KEY_PURPOSE, length=size)
        iv = pkcs12_kdf(password, salt, rounds, purpose=_IV_PURPOSE, length=8)
        if factory is TripleDES and size == 16:
            key += key[:8]  # two-key 3DES is K1 K2 K1; cryptography wants it spelled out
        return factory(key), iv, 64
    if name == "pbes2" and algorithm.kdf == "pbkdf2":
        prf = _PBES2_HMACS.get(algorithm.kdf_hmac)
        cipher = _PBES2_CIPHERS.get(algorithm.encryption_cipher)
        if prf is not None and cipher is not None and algorithm.encryption_mode == "cbc":
            key = PBKDF2HMAC(
                algorithm=prf(),
                length=algorithm.key_length,
                salt=algorithm.kdf_salt,
                iterations=algorithm.kdf_iterations,
            ).derive(password)
            made = cipher(key)
            return made, algorithm.encryption_iv, made.block_size
    return None


def decrypt_private_key(data: bytes, password: bytes | None, *, source: str) -> bytes:
    """Decrypt a PKCS#8 EncryptedPrivateKeyInfo (a shrouded key bag) to PrivateKeyInfo DER.

    For keys ``cryptography`` cannot load (GOST): it decrypts, this module does not parse.
    """
    if password is None:
        raise PasswordRequiredError(
            "the private key is encrypted: a password is needed", file=source
        )
    try:
        info = keys.EncryptedPrivateKeyInfo.load(data, strict=True)
        algorithm = info["encryption_algorithm"]
        ciphertext = info["encrypted_data"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise IdentityError("damaged encrypted private key", file=source) from exc
    try:
        made = _cipher_for(algorithm, password)
    except _PASSWORD_ERRORS as exc:
        raise IdentityError(_password_problem(exc), file=source) from None
    if made is None:
        raise IdentityError(
            f"the private key is encrypted with {_algorithm_name(algorithm)}, which shep cannot"
            " decrypt; export it as PKCS#8, unencrypted or with PBES2 (PBKDF2 + AES-CBC)",
            file=source,
        )
    cipher, iv, block_bits = made
    decryptor = Cipher(cipher, modes.CBC(iv)).decryptor()
    try:
        plain = _unpad(decryptor.update(ciphertext) + decryptor.finalize(), block_bits)
        # Only the outer shape: asn1crypto's PrivateKeyInfo knows no GOST algorithm.
        fields = len(asn1_core.Sequence.load(plain, strict=True))
    except (ValueError, TypeError, KeyError) as exc:
        raise IdentityError("wrong password or damaged key", file=source) from exc
    if fields < 3:
        raise IdentityError("wrong password or damaged key", file=source)
    return plain


def verify_mac(data: bytes, password: bytes | None, *, source: str) -> None:
    """Check the container's integrity MAC (RFC 7292 §5.2); a wrong password fails here.

    A container without macData is accepted, as ``cryptography`` and OpenSSL accept it: the
    key then still has to match its certificate. A malformed macData is an error, not absent.
    """
    damaged = IdentityError("damaged PKCS#12 container (its MAC)", file=source)
    try:
        pfx = asn1_pkcs12.Pfx.load(data, strict=True)
        mac = pfx["mac_data"]
        # asn1crypto leaves an optional field it cannot match empty: count the parts.
        parts = len(asn1_core.Sequence.load(data, strict=True))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise damaged from exc
    if not mac:
        if parts > 2:
            raise damaged
        return
    try:
        hash_name = str(mac["mac"]["digest_algorithm"]["algorithm"].native)
        salt, rounds = mac["mac_salt"].native, mac["iterations"].native
        stored = mac["mac"]["digest"].native
        content = pfx["auth_safe"]["content"].native
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise damaged from exc
    if password is None:
        raise PasswordRequiredError(
            "the PKCS#12 container is password-protected: a password is needed", file=source
        )
    if hash_name not in _PBES2_HMACS:
        raise IdentityError(f"unsupported PKCS#12 MAC algorithm {hash_name}", file=source)
    size = hashlib.new(hash_name).digest_size
    try:
        key = pkcs12_kdf(
            password, salt, rounds, purpose=_MAC_PURPOSE, length=size, hash_name=hash_name
        )
    except _PASSWORD_ERRORS as exc:
        raise IdentityError(_password_problem(exc), file=source) from None
    expected = hmac.new(key, content, hash_name).digest()
    if not isinstance(stored, bytes) or not hmac.compare_digest(expected, stored):
        raise IdentityError(
            "wrong password or damaged container (the MAC does not match)", file=source
        )


def read_certificates(
    data: bytes, password: bytes | None, *, source: str
) -> tuple[x509.Certificate, ...]:
    """Every certificate of a container whose key ``cryptography`` cannot load (GOST).

    The key bags are left out and the rest goes to ``cryptography``'s PKCS#12 loader, which
    decrypts the RC2-40 certificate parts NCA writes (its RC2 cipher alone takes 128-bit keys).
    Call :func:`verify_mac` first: the rebuilt container has no MAC.
    """
    try:
        pfx = asn1_pkcs12.Pfx.load(data)
        parts = []
        for part in pfx.authenticated_safe:
            if part["content_type"].native != "data":
                parts.append(part)
                continue
            contents = asn1_pkcs12.SafeContents.load(part["content"].native)
            kept = [b for b in contents if b["bag_id"].native not in _KEY_BAG_KINDS]
            if kept:
                safe = asn1_pkcs12.SafeContents(kept).dump()
                parts.append(cms.ContentInfo({"content_type": "data", "content": safe}))
        if not parts:
            return ()
        rebuilt = _pfx(asn1_pkcs12.AuthenticatedSafe(parts)).dump()
    except (ValueError, TypeError, KeyError) as exc:
        raise IdentityError("damaged PKCS#12 container", file=source) from exc
    try:
        bundle = pkcs12.load_pkcs12(rebuilt, password)
    except ValueError as exc:
        raise IdentityError(
            "the private key opens but the certificates in the container cannot be read",
            file=source,
        ) from exc
    found = [bundle.cert] if bundle.cert is not None else []
    found.extend(bundle.additional_certs)
    return tuple(entry.certificate for entry in found)


_KEY_BAG_KINDS: Final = frozenset({"key_bag", "pkcs8_shrouded_key_bag"})


def _pfx(safe: Any, mac: Any = None) -> Any:
    value: dict[str, Any] = {
        "version": "v3",
        "auth_safe": cms.ContentInfo({"content_type": "data", "content": safe.dump()}),
    }
    if mac is not None:
        value["mac_data"] = mac
    return asn1_pkcs12.Pfx(value)


def build_pfx(
    private_key_info: bytes,
    certificates: Sequence[x509.Certificate],
    password: bytes,
    *,
    friendly_name: str,
    local_key_id: bytes,
    iterations: int = 2048,
) -> bytes:
    """A container in NCA's layout for a key ``cryptography`` cannot write (GOST test keys).

    The key bag is shrouded with pbeWithSHA1And3-KeyTripleDES-CBC here; ``cryptography``
    writes the (3DES-encrypted) certificate part; the MAC is HMAC-SHA-1, as NCA's.
    """
    encryption = (
        PrivateFormat.PKCS12.encryption_builder()
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .kdf_rounds(iterations)
        .build(password)
    )
    with_certs = pkcs12.serialize_key_and_certificates(
        None, None, None, [pkcs12.PKCS12Certificate(c, None) for c in certificates], encryption
    )
    salt = os.urandom(20)
    key = pkcs12_kdf(password, salt, iterations, purpose=_KEY_PURPOSE, length=24)
    iv = pkcs12_kdf(password, salt, iterations, purpose=_IV_PURPOSE, length=8)
    padder = padding.PKCS7(64).padder()
    plain = padder.update(private_key_info) + padder.finalize()
    encryptor = Cipher(TripleDES(key), modes.CBC(iv)).encryptor()
    shrouded = keys.EncryptedPrivateKeyInfo(
        {
            "encryption_algorithm": {
                "algorithm": "pkcs12_sha1_tripledes_3key",
                "parameters": algos.Pbes1Params({"salt": salt, "iterations": iterations}),
            },
            "encrypted_data": encryptor.update(plain) + encryptor.finalize(),
        }
    )
    bag = asn1_pkcs12.SafeBag(
        {
            "bag_id": "pkcs8_shrouded_key_bag",
            "bag_value": shrouded,
            "bag_attributes": [
                {"type": "friendly_name", "values": [asn1_core.BMPString(friendly_name)]},
                {"type": "local_key_id", "values": [asn1_core.OctetString(local_key_id)]},
            ],
        }
    )
    key_part = cms.ContentInfo(
        {"content_type": "data", "content": asn1_pkcs12.SafeContents([bag]).dump()}
    )
    cert_parts = list(asn1_pkcs12.Pfx.load(with_certs).authenticated_safe)
    safe = asn1_pkcs12.AuthenticatedSafe([key_part, *cert_parts])
    mac_salt = os.urandom(20)
    mac_key = pkcs12_kdf(password, mac_salt, iterations, purpose=_MAC_PURPOSE, length=20)
    mac = asn1_pkcs12.MacData(
        {
            "mac": {
                "digest_algorithm": {"algorithm": "sha1"},
                "digest": hmac.new(mac_key, safe.dump(), "sha1").digest(),
            },
            "mac_salt": mac_salt,
            "iterations": iterations,
        }
    )
    return bytes(_pfx(safe, mac).dump())

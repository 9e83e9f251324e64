"""One loader for every key and certificate form NCA and SIGEX users actually have.

NCA issues password-protected PKCS#12 containers (``RSA256_*.p12``, ``AUTH_RSA256_*.p12``) in
a legacy layout (3DES key bag, RC2-40 certificate bag); SIGEX hands out ``privateKey.pem`` or
``privateKey.der`` plus a certificate shown as bare base64 text; everybody else has PEM files.
:func:`load_identity` takes any of them as bytes and returns an :class:`Identity` whose key is
checked against its certificate, so a mismatch fails here and not as a rejected signature at
the gateway.

Errors: every failure is an :class:`~gateway.errors.IdentityError` naming the file and what to
do; an encrypted key given without a password is its subclass
:class:`~gateway.errors.PasswordRequiredError`, so a caller prompts only then. Messages never
contain the password or key material; ``cryptography``'s exceptions are translated here and
chained (``from exc``) for ``--debug``.

GOST 34.10-2015 keys (``GOST512_*.p12``, or the key as PKCS#8) load as
:class:`~gateway.gost.GostPrivateKey`: ``cryptography`` has no GOST and reports such a container
as a wrong password, so :mod:`gateway.pkcs12` opens it. Legacy GOST 34.310-2004 keys
(``GOSTKNCA_*``) are recognised and refused with the reason (docs/gost.md).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal, NoReturn, TypeAlias, TypeVar

from asn1crypto import core as asn1_core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.hazmat.primitives.serialization import pkcs12 as crypto_pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway import gost, pkcs12
from gateway.errors import IdentityError, InputError, PasswordRequiredError

__all__ = [
    "CertificateInfo",
    "Identity",
    "PrivateKey",
    "describe_certificate",
    "format_name",
    "load_certificates",
    "load_certificates_from_path",
    "load_identity",
    "load_identity_from_path",
    "quiet_name_length_warnings",
]

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | gost.GostPrivateKey
"""Keys we can sign with: RSA and ECDSA through ``cryptography``, GOST 34.10-2015 of our own."""

CERTIFICATE_SUFFIXES: Final = frozenset({".pem", ".crt", ".cer", ".der", ".txt"})
"""File types read from a trust-store directory; anything else there is ignored."""

_EXPIRY_WARNING_DAYS: Final = 30
_MAX_FILE_BYTES: Final = 10 * 1024 * 1024

_GOST_NAMES: Final = {
    "1.2.398.3.10.1.1.2.2": "GOST 34.10-2015",
    "1.2.398.3.10.1.1.1.1": "GOST 34.310-2004",
}

_PEM_BLOCK: Final = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL
)
_PEM_KEY_LABELS: Final = frozenset(
    {
        b"PRIVATE KEY",
        b"ENCRYPTED PRIVATE KEY",
        b"RSA PRIVATE KEY",
        b"EC PRIVATE KEY",
        b"DSA PRIVATE KEY",
        b"OPENSSH PRIVATE KEY",
    }
)
_PEM_CERT_LABELS: Final = frozenset({b"CERTIFICATE", b"X509 CERTIFICATE"})
_PEM_PKCS7_LABELS: Final = frozenset({b"PKCS7", b"CMS"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """A signing/TLS identity: a private key and the certificate it belongs to.

    Construction checks that the key matches the certificate, so every Identity in the program
    can sign something the gateway will be able to verify. The key is kept out of ``repr``.
    """

    certificate: x509.Certificate
    private_key: PrivateKey = field(repr=False)
    chain: tuple[x509.Certificate, ...] = ()
    """The other certificates found with the key (usually the issuing CA), leaf excluded."""
    source: str = "<memory>"
    alias: str | None = None
    """Friendly name of the PKCS#12 entry (NCA: the key identifier in hex)."""

    def __post_init__(self) -> None:
        _usable_key(self.private_key, self.source)
        if not _key_matches(self.private_key, self.certificate):
            raise IdentityError(
                "the private key does not belong to the certificate"
                f" ({_subject(self.certificate)})",
                file=self.source,
            )


def load_identity(
    key_data: bytes,
    *,
    password: bytes | None = None,
    cert_data: bytes | None = None,
    alias: str | None = None,
    source: str = "<memory>",
    cert_source: str | None = None,
) -> Identity:
    """Load a private key and its certificate from any supported form.

    ``key_data`` is a PKCS#12 container (modern or NCA legacy), a PEM file (PKCS#8,
    traditional, encrypted; may hold the certificate too) or a DER private key. ``cert_data``
    (PEM, DER or SIGEX-style bare base64) supplies or overrides the certificate; the one whose
    public key matches is chosen, the rest become the chain. ``alias`` picks a PKCS#12 entry by
    friendly name and is required only when a container holds several keys.

    Raises :class:`~gateway.errors.PasswordRequiredError` when the key is encrypted and
    ``password`` is None (a caller may then ask for one), IdentityError for everything else.
    A PKCS#12 container with an empty password opens with None as well as with ``b""``.
    """
    cert_file = cert_source or source
    given = load_certificates(cert_data, source=cert_file) if cert_data is not None else ()
    material = _load_key_material(key_data, password, alias, source)
    key, found = material.key, material.certificates

    leaf: x509.Certificate | None = None
    if given:
        leaf = next((c for c in given if _key_matches(key, c)), None)
        if leaf is None:
            raise IdentityError(
                f"no certificate in {cert_file} belongs to the private key in {source}"
                f" (certificate: {_subject(given[0])})",
                file=cert_file,
            )
    else:
        leaf = next((c for c in found if _key_matches(key, c)), None)
        if leaf is None and found:
            raise IdentityError(
                f"none of the {len(found)} certificates stored with the private key belongs"
                " to it; give the right certificate with --cert",
                file=source,
            )
        if leaf is None:
            raise IdentityError(
                "the file holds a private key but no certificate: a certificate is needed"
                " (give it with --cert; SIGEX users: the certificate text saved from sigex.kz)",
                file=source,
            )
    others = _unique(c for c in (*given, *found) if c != leaf)
    # A keystore's other certificates may be other entries' leaves: keep only this one's path.
    chain = _issuer_path(leaf, others) if material.keystore else others
    return Identity(
        certificate=leaf, private_key=key, chain=chain, source=source, alias=material.alias
    )


def load_identity_from_path(
    key_path: Path,
    *,
    password: bytes | None = None,
    cert_path: Path | None = None,
    alias: str | None = None,
) -> Identity:
    """Read the files and call :func:`load_identity`; errors name the file."""
    key_data = _read_file(key_path)
    cert_data = _read_file(cert_path) if cert_path is not None else None
    return load_identity(
        key_data,
        password=password,
        cert_data=cert_data,
        alias=alias,
        source=str(key_path),
        cert_source=str(cert_path) if cert_path is not None else None,
    )


def load_certificates(data: bytes, *, source: str = "<memory>") -> tuple[x509.Certificate, ...]:
    """Certificates from a PEM bundle, one DER certificate, PKCS#7, or bare base64 text.

    Bare base64 (whitespace and line breaks allowed) is how sigex.kz shows a certificate.
    """
    stripped = data.strip()
    if not stripped:
        raise IdentityError("no certificate: the input is empty", file=source)
    try:
        if data[0] == 0x30:
            # Binary DER: never strip it, its last bytes may well be "whitespace".
            return _certificates_from_der(data, source)
        if b"-----BEGIN " in stripped:
            return _certificates_from_pem(stripped, source)
        return _certificates_from_der(_decode_base64_text(stripped, source), source)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise IdentityError(
            "unreadable certificate: damaged, or not an X.509 certificate", file=source
        ) from exc


def load_certificates_from_path(path: Path) -> tuple[x509.Certificate, ...]:
    """Certificates from a file, or from every certificate file of a directory (a trust store).

    A directory is read in name order, taking files ending in .pem, .crt, .cer, .der or .txt;
    duplicates are dropped. An empty trust store is an error, never "trust nothing silently".
    """
    if not path.is_dir():
        return load_certificates(_read_file(path), source=str(path))
    files = sorted(
        p for p in path.iterdir() if p.is_file() and p.suffix.lower() in CERTIFICATE_SUFFIXES
    )
    if not files:
        suffixes = ", ".join(sorted(CERTIFICATE_SUFFIXES))
        raise InputError(f"no certificate files ({suffixes}) in the directory", file=str(path))
    certificates: list[x509.Certificate] = []
    for file in files:
        certificates.extend(load_certificates(_read_file(file), source=str(file)))
    return _unique(certificates)


# --- describing certificates ----------------------------------------------------------------

_KEY_USAGE_NAMES: Final = (
    ("digital_signature", "digitalSignature"),
    ("content_commitment", "nonRepudiation"),
    ("key_encipherment", "keyEncipherment"),
    ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"),
    ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "cRLSign"),
)
_EKU_NAMES: Final = {
    ExtendedKeyUsageOID.SERVER_AUTH.dotted_string: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING.dotted_string: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING.dotted_string: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING.dotted_string: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE.dotted_string: "anyExtendedKeyUsage",
}
# NCA subject roles carried in the EKU (protocol.md §4; names as NCANode reports them).
_NCA_ROLE_NAMES: Final = {
    "1.2.398.3.3.4.1.1": "individual",
    "1.2.398.3.3.4.1.2": "organization",
    "1.2.398.3.3.4.1.2.1": "first head",
    "1.2.398.3.3.4.1.2.2": "may sign",
    "1.2.398.3.3.4.1.2.3": "may sign financial documents",
    "1.2.398.3.3.4.1.2.4": "HR",
    "1.2.398.3.3.4.1.2.5": "employee",
}
_NCA_POLICY_NAMES: Final = {
    "1.2.398.3.3.2": "NCA end-entity",
    "1.2.398.3.3.2.1": "legal entity SIGN",
    "1.2.398.3.3.2.2": "legal entity AUTH",
    "1.2.398.3.3.2.3": "individual SIGN",
    "1.2.398.3.3.2.4": "individual AUTH",
}
_NAME_LABELS: Final = {
    NameOID.SURNAME: "SURNAME",
    NameOID.GIVEN_NAME: "GIVENNAME",
    NameOID.SERIAL_NUMBER: "SERIALNUMBER",
    NameOID.EMAIL_ADDRESS: "E",
    NameOID.BUSINESS_CATEGORY: "BUSINESSCATEGORY",
}
_Ext = TypeVar("_Ext", bound=x509.ExtensionType)
_CURVE_NAMES: Final = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateInfo:
    """What a user needs to know about a certificate before configuring it.

    ``purpose`` answers the most common NCA mistake, configuring the AUTH key for signing (or
    the reverse): SIGN = EKU emailProtection, AUTH = EKU clientAuth, with keyUsage as the
    fallback because GOST-2015 SIGN certificates also carry keyEncipherment (protocol.md §4).
    """

    subject: str
    """Attributes in certificate order, as Kalkan and openssl print them."""
    common_name: str | None
    iin: str | None
    """Individual identification number, from SERIALNUMBER=IIN…"""
    bin: str | None
    """Business identification number, from OU=BIN…"""
    issuer: str
    serial_hex: str
    not_before: datetime
    not_after: datetime
    days_left: int
    key_algorithm: str
    key_size: int
    key_usage: tuple[str, ...]
    extended_key_usage: tuple[str, ...]
    policies: tuple[str, ...]
    purpose: Literal["SIGN", "AUTH"] | None
    self_signed: bool
    warnings: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe: times as ISO 8601 strings, tuples as lists."""
        return {
            "subject": self.subject,
            "common_name": self.common_name,
            "iin": self.iin,
            "bin": self.bin,
            "issuer": self.issuer,
            "serial_hex": self.serial_hex,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "days_left": self.days_left,
            "key_algorithm": self.key_algorithm,
            "key_size": self.key_size,
            "key_usage": list(self.key_usage),
            "extended_key_usage": list(self.extended_key_usage),
            "policies": list(self.policies),
            "purpose": self.purpose,
            "self_signed": self.self_signed,
            "warnings": list(self.warnings),
        }

    def lines(self) -> list[str]:
        """Human-readable ``label: value`` lines; absent values are left out."""
        rows: list[tuple[str, str | None]] = [
            ("Subject", self.subject),
            ("Common name", self.common_name),
            ("IIN", self.iin),
            ("BIN", self.bin),
            ("Issuer", self.issuer),
            ("Serial", self.serial_hex),
            ("Valid from", _format_time(self.not_before)),
            ("Valid until", f"{_format_time(self.not_after)} ({self.days_left} days left)"),
            ("Key", f"{self.key_algorithm} {self.key_size} bits"),
            ("Key usage", ", ".join(self.key_usage) or None),
            ("Extended key usage", ", ".join(self.extended_key_usage) or None),
            ("Policies", ", ".join(self.policies) or None),
            ("Purpose", self.purpose),
            ("Self-signed", "yes" if self.self_signed else "no"),
            ("Warnings", "; ".join(self.warnings) or None),
        ]
        return [f"{label}: {value}" for label, value in rows if value is not None]


def describe_certificate(cert: x509.Certificate, *, now: datetime) -> CertificateInfo:
    """Summarise a certificate (NCA, SIGEX, TLS, GOST ones too) as of ``now``."""
    if now.tzinfo is None:
        raise InputError("now must be timezone-aware (certificate times are UTC)")
    with quiet_name_length_warnings():
        return _describe(cert, now)


@contextlib.contextmanager
def quiet_name_length_warnings() -> Iterator[None]:
    """Silence cryptography's length warning for NCA's names.

    cryptography counts a CN's UTF-8 *bytes* against the 64-*character* limit, so real NCA
    names such as "ҰЛТТЫҚ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ (GOST) TEST 2022" warn on every parse.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Attribute's length must be", category=UserWarning
        )
        yield


def _describe(cert: x509.Certificate, now: datetime) -> CertificateInfo:
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    days_left = (not_after - now).days
    warnings: list[str] = []
    if now > not_after:
        warnings.append("expired")
    elif now < not_before:
        warnings.append("not yet valid")
    elif days_left < _EXPIRY_WARNING_DAYS:
        warnings.append(f"expires in {days_left} days")

    key_usage = _extension(cert, x509.KeyUsage)
    key_usage_names = (
        tuple(label for attr, label in _KEY_USAGE_NAMES if getattr(key_usage, attr))
        if key_usage is not None
        else ()
    )
    eku = _extension(cert, x509.ExtendedKeyUsage)
    eku_oids = tuple(oid.dotted_string for oid in eku) if eku is not None else ()
    policies = _extension(cert, x509.CertificatePolicies)
    policy_oids = (
        tuple(p.policy_identifier.dotted_string for p in policies) if policies is not None else ()
    )
    basic = _extension(cert, x509.BasicConstraints)
    key_algorithm, key_size = _key_description(cert)
    serial_number = _attribute(cert.subject, NameOID.SERIAL_NUMBER)
    unit = _attribute(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
    return CertificateInfo(
        subject=format_name(cert.subject),
        common_name=_attribute(cert.subject, NameOID.COMMON_NAME),
        iin=_prefixed_number(serial_number, "IIN"),
        bin=_prefixed_number(unit, "BIN"),
        issuer=format_name(cert.issuer),
        serial_hex=format(cert.serial_number, "x"),
        not_before=not_before,
        not_after=not_after,
        days_left=days_left,
        key_algorithm=key_algorithm,
        key_size=key_size,
        key_usage=key_usage_names,
        extended_key_usage=tuple(_eku_name(oid) for oid in eku_oids),
        policies=tuple(_policy_name(oid) for oid in policy_oids),
        purpose=None if basic is not None and basic.ca else _purpose(eku_oids, key_usage),
        self_signed=_is_self_signed(cert),
        warnings=tuple(warnings),
    )


# --- key material -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _KeyMaterial:
    key: PrivateKey = field(repr=False)
    certificates: tuple[x509.Certificate, ...]
    """Every certificate stored with the key, in container order."""
    alias: str | None = None
    keystore: bool = False
    """True for a multi-entry container, whose certificates belong to several keys."""


def _load_key_material(
    data: bytes, password: bytes | None, alias: str | None, source: str
) -> _KeyMaterial:
    if len(data) > _MAX_FILE_BYTES:
        raise IdentityError("too large for a key file", file=source)
    if not data.strip():
        raise IdentityError("the key file is empty", file=source)
    if b"-----BEGIN " in data:
        _no_alias_outside_pkcs12(alias, "PEM", source)
        return _load_pem(data, password, source)
    if pkcs12.looks_like_pfx(data):
        return _load_pkcs12(data, password, alias, source)
    _no_alias_outside_pkcs12(alias, "DER", source)
    if _is_certificate_data(data):
        raise IdentityError(
            "the file holds a certificate, not a private key: give the key file as the key"
            " and the certificate with --cert",
            file=source,
        )
    key = _load_private_key(
        data,
        password,
        encrypted=pkcs12.is_encrypted_pkcs8(data),
        source=source,
        unreadable="not a private key: expected a PKCS#12 container (.p12/.pfx), a PEM file,"
        " or a DER private key (SIGEX privateKey.der)",
    )
    return _KeyMaterial(key=key, certificates=())


def _load_pem(data: bytes, password: bytes | None, source: str) -> _KeyMaterial:
    blocks = [(m.group(1), m.group(0)) for m in _PEM_BLOCK.finditer(data)]
    keys = [block for label, block in blocks if label in _PEM_KEY_LABELS]
    certs = [block for label, block in blocks if label in _PEM_CERT_LABELS | _PEM_PKCS7_LABELS]
    if not keys:
        found = sorted({label.decode() for label, _ in blocks})
        what = "only certificates" if certs else f"no private key (found: {found or '-'})"
        raise IdentityError(
            f"the PEM file holds {what}; give the private key file (and the certificate"
            " with --cert)",
            file=source,
        )
    if len(keys) > 1:
        raise IdentityError(
            f"the PEM file holds {len(keys)} private keys; keep one key per file", file=source
        )
    block = keys[0]
    if block.startswith(b"-----BEGIN OPENSSH PRIVATE KEY"):
        raise IdentityError(
            "OpenSSH private keys are not supported: convert with"
            " `ssh-keygen -p -m PKCS8 -f <file>` (it rewrites the file in place)",
            file=source,
        )
    key = _load_private_key(
        block,
        password,
        encrypted=block.startswith(b"-----BEGIN ENCRYPTED") or b"Proc-Type: 4,ENCRYPTED" in block,
        source=source,
        unreadable="unreadable private key: damaged, or not PKCS#8 / traditional RSA or EC",
    )
    certificates = load_certificates(b"\n".join(certs), source=source) if certs else ()
    return _KeyMaterial(key=key, certificates=certificates)


def _load_pkcs12(
    data: bytes, password: bytes | None, alias: str | None, source: str
) -> _KeyMaterial:
    try:
        layout = pkcs12.read_pfx_layout(data)
    except InputError as exc:
        raise IdentityError(exc.message, file=source) from exc
    try:
        bundle = crypto_pkcs12.load_pkcs12(data, password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        gost_material = _load_gost_pkcs12(data, layout, password, alias, source)
        if gost_material is not None:
            return gost_material
        _diagnose_pkcs12(layout, password, source, exc)
    entries = [bundle.cert] if bundle.cert is not None else []
    entries.extend(bundle.additional_certs)
    certificates = tuple(entry.certificate for entry in entries)

    if len(layout.key_bags) > 1:
        # cryptography would silently return the first key: choose the entry ourselves.
        key = _load_key_bag(_choose_key_bag(layout, alias, source), password, source)
        return _KeyMaterial(key=key, certificates=certificates, alias=alias, keystore=True)

    if bundle.key is None:
        raise IdentityError(
            f"the PKCS#12 container holds no private key, only {len(certificates)}"
            " certificate(s): is it a trust store?",
            file=source,
        )
    names = [layout.key_bags[0].friendly_name] if layout.key_bags else []
    if bundle.cert is not None and bundle.cert.friendly_name:
        names.append(bundle.cert.friendly_name.decode("utf-8", "replace"))
    found = [name for name in dict.fromkeys(names) if name]
    if alias is not None:
        _check_alias(alias, found, source)
    return _KeyMaterial(
        key=_usable_key(bundle.key, source),
        certificates=certificates,
        alias=alias or (found[0] if found else None),
    )


def _choose_key_bag(layout: pkcs12.PfxLayout, alias: str | None, source: str) -> pkcs12.KeyBag:
    """The entry ``alias`` names in a multi-key container; an error lists the aliases."""
    if alias is None:
        raise IdentityError(
            f"the PKCS#12 container holds {len(layout.key_bags)} keys; choose one with an"
            f" alias: {_alias_list(layout.aliases)}",
            file=source,
        )
    _check_alias(alias, layout.aliases, source)
    matches = [bag for bag in layout.key_bags if bag.friendly_name == alias]
    if len(matches) > 1:
        raise IdentityError(f"{len(matches)} keys share the alias {alias!r}", file=source)
    return matches[0]


def _load_gost_pkcs12(
    data: bytes,
    layout: pkcs12.PfxLayout,
    password: bytes | None,
    alias: str | None,
    source: str,
) -> _KeyMaterial | None:
    """A GOST container (``GOST512_*.p12``) opened by :mod:`gateway.pkcs12`; None if the
    container's key is not GOST, or cannot be decrypted here (the caller then diagnoses)."""
    if not layout.key_bags or (password is None and layout.mac_algorithm is not None):
        return None
    bags = layout.key_bags
    if len(bags) > 1 and alias is not None and alias in layout.aliases:
        bag = _choose_key_bag(layout, alias, source)
    else:
        bag = bags[0]
    try:
        plain = (
            pkcs12.decrypt_private_key(bag.data, password, source=source)
            if bag.encryption is not None
            else bag.data
        )
    except IdentityError:
        return None  # a wrong password, or not ours to open: the caller diagnoses
    if not gost.is_gost_private_key_info(plain):
        return None
    # A GOST container: now the alias rules apply, as they do for RSA ones.
    if len(bags) > 1:
        bag = _choose_key_bag(layout, alias, source)  # no or an unknown alias: say which
    elif alias is not None:
        _check_alias(alias, [n for n in (bag.friendly_name,) if n], source)
    pkcs12.verify_mac(data, password, source=source)
    key = gost.load_private_key_info(plain, source=source)
    return _KeyMaterial(
        key=key,
        certificates=pkcs12.read_certificates(data, password, source=source),
        alias=alias or bag.friendly_name,
        keystore=len(layout.key_bags) > 1,
    )


def _diagnose_pkcs12(
    layout: pkcs12.PfxLayout, password: bytes | None, source: str, cause: Exception
) -> NoReturn:
    """Tell a missing or wrong password from an unsupported key: cryptography reports all alike.

    Each key bag decrypts on its own, so loading one says which: a wrong password fails
    decryption, a GOST key decrypts and is then reported as an unknown algorithm.
    """
    protected = (
        layout.mac_algorithm is not None
        or bool(layout.encrypted_parts)
        or any(bag.encryption for bag in layout.key_bags)
    )
    if password is None and protected:
        raise PasswordRequiredError(
            "the PKCS#12 container is password-protected: a password is needed", file=source
        ) from cause
    for bag in layout.key_bags:
        _load_key_bag(bag, password, source)
    if layout.key_bags:
        parts = ", ".join(layout.encrypted_parts) or "none"
        raise IdentityError(
            "the private key opens with this password but the rest of the container cannot be"
            f" read (encrypted parts: {parts})",
            file=source,
        ) from cause
    raise IdentityError("wrong password or damaged container", file=source) from cause


def _check_alias(alias: str, aliases: Sequence[str], source: str) -> None:
    if alias not in aliases:
        raise IdentityError(
            f"no entry with alias {alias!r}; available aliases: {_alias_list(aliases)}",
            file=source,
        )


def _load_key_bag(bag: pkcs12.KeyBag, password: bytes | None, source: str) -> PrivateKey:
    return _load_private_key(
        bag.data,
        password,
        encrypted=bag.encryption is not None,
        source=source,
        unreadable="damaged PKCS#12 container: the private key cannot be read",
        what="container",
    )


def _load_private_key(
    data: bytes,
    password: bytes | None,
    *,
    encrypted: bool,
    source: str,
    unreadable: str,
    what: str = "key",
) -> PrivateKey:
    """Load one PEM block or DER key with ``cryptography`` and translate its errors.

    ``encrypted`` is known from the format (PEM label, PKCS#8 structure, key bag type): the
    password goes only to an encrypted key, and only a missing password for an encrypted key
    is a :class:`PasswordRequiredError`.
    """
    pem = data.startswith(b"-----")
    load = serialization.load_pem_private_key if pem else serialization.load_der_private_key
    try:
        key = load(data, password if encrypted else None)
    except UnsupportedAlgorithm as exc:
        if _gost_name(_oid_in(exc)) is not None:
            return _load_gost_pkcs8(data, password, encrypted=encrypted, source=source)
        raise IdentityError(_unsupported_key_message(exc), file=source) from exc
    except (ValueError, TypeError) as exc:
        if not encrypted:
            raise IdentityError(unreadable, file=source) from exc
        if password is None:
            raise PasswordRequiredError(
                "the private key is encrypted: a password is needed", file=source
            ) from exc
        with contextlib.suppress(IdentityError):
            # A GOST key under an encryption cryptography cannot undo (2-key 3DES, RC2-128).
            return _load_gost_pkcs8(data, password, encrypted=True, source=source)
        raise IdentityError(f"wrong password or damaged {what}", file=source) from exc
    return _usable_key(key, source)


def _oid_in(exc: UnsupportedAlgorithm) -> str | None:
    """cryptography names the OID of a key it cannot load ("Unknown key type: 1.2..."), for a
    decrypted key too, whose algorithm nothing else can show without the key."""
    match = re.search(r"\b\d+(?:\.\d+){3,}\b", str(exc))
    return match.group(0) if match else None


def _unsupported_key_message(exc: UnsupportedAlgorithm) -> str:
    """Name the key algorithm cryptography could not load (GOST keys never get here)."""
    oid = _oid_in(exc)
    return (
        f"unsupported private key algorithm {oid or '(unknown)'}: only RSA, ECDSA and"
        " GOST 34.10-2015 keys work"
    )


def _load_gost_pkcs8(
    data: bytes, password: bytes | None, *, encrypted: bool, source: str
) -> gost.GostPrivateKey:
    """A GOST key as PKCS#8 (PEM or DER, encrypted or not): the exported form of a GOST512 key."""
    der = _pem_body(data, source) if data.startswith(b"-----") else data
    plain = pkcs12.decrypt_private_key(der, password, source=source) if encrypted else der
    return gost.load_private_key_info(plain, source=source)


def _pem_body(block: bytes, source: str) -> bytes:
    match = _PEM_BLOCK.search(block)
    if match is None or b"Proc-Type:" in match.group(2):
        raise IdentityError("GOST keys in PEM must be PKCS#8 (BEGIN PRIVATE KEY)", file=source)
    try:
        return base64.b64decode(b"".join(match.group(2).split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise IdentityError("damaged PEM private key (bad base64)", file=source) from exc


def _gost_name(oid: str | None) -> str | None:
    if oid is None:
        return None
    for prefix, name in _GOST_NAMES.items():
        if oid == prefix or oid.startswith(prefix + "."):
            return name
    if oid.startswith("1.2.398.3.10."):
        return "GOST"
    return None


def _usable_key(key: object, source: str) -> PrivateKey:
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | gost.GostPrivateKey):
        return key
    raise IdentityError(
        f"unsupported private key type {type(key).__name__}: only RSA, ECDSA and"
        " GOST 34.10-2015 keys can be used (NCA and SIGEX keys are one of them)",
        file=source,
    )


def _no_alias_outside_pkcs12(alias: str | None, kind: str, source: str) -> None:
    if alias is not None:
        raise IdentityError(
            f"an alias ({alias!r}) only selects an entry of a PKCS#12 container;"
            f" this is a {kind} key file",
            file=source,
        )


def _is_certificate_data(data: bytes) -> bool:
    try:
        load_certificates(data)
    except IdentityError:
        return False
    return True


def _key_matches(key: PrivateKey, cert: x509.Certificate) -> bool:
    if isinstance(key, gost.GostPrivateKey):
        try:
            return (
                gost.is_gost_certificate(cert)
                and gost.certificate_public_key(cert) == key.public_key()
            )
        except IdentityError:
            return False
    try:
        return cert.public_key() == key.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return False


# --- certificates -------------------------------------------------------------------------


def _certificates_from_pem(data: bytes, source: str) -> tuple[x509.Certificate, ...]:
    certificates: list[x509.Certificate] = []
    labels: list[str] = []
    for match in _PEM_BLOCK.finditer(data):
        label, block = match.group(1), match.group(0)
        labels.append(label.decode())
        if label in _PEM_CERT_LABELS:
            body = block.replace(b"X509 CERTIFICATE", b"CERTIFICATE")
            certificates.append(x509.load_pem_x509_certificate(body))
        elif label in _PEM_PKCS7_LABELS:
            certificates.extend(pkcs7.load_pem_pkcs7_certificates(block))
    if not certificates:
        found = ", ".join(dict.fromkeys(labels)) or "no complete PEM block"
        raise IdentityError(f"no certificate in the PEM data (found: {found})", file=source)
    return tuple(certificates)


def _certificates_from_der(data: bytes, source: str) -> tuple[x509.Certificate, ...]:
    try:
        return (x509.load_der_x509_certificate(data),)
    except ValueError as exc:
        try:
            return tuple(pkcs7.load_der_pkcs7_certificates(data))
        except (ValueError, UnsupportedAlgorithm):
            pass
        if pkcs12.looks_like_pfx(data):
            raise IdentityError(
                "this is a PKCS#12 container, not a certificate file: give it as the key",
                file=source,
            ) from exc
        raise IdentityError(
            "not a certificate: damaged, or not X.509 DER / PKCS#7", file=source
        ) from exc


def _decode_base64_text(data: bytes, source: str) -> bytes:
    compact = re.sub(rb"\s+", b"", data)
    try:
        decoded = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise IdentityError(
            "not a certificate: expected PEM, DER, or base64 text (as sigex.kz shows it)",
            file=source,
        ) from exc
    if not decoded or decoded[0] != 0x30:
        raise IdentityError("not a certificate: the base64 text is not DER", file=source)
    return decoded


def _unique(certificates: Iterable[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    seen: dict[bytes, x509.Certificate] = {}
    for cert in certificates:
        seen.setdefault(cert.public_bytes(serialization.Encoding.DER), cert)
    return tuple(seen.values())


def _issuer_path(
    leaf: x509.Certificate, pool: tuple[x509.Certificate, ...]
) -> tuple[x509.Certificate, ...]:
    """The certificates of ``pool`` that issued ``leaf``, nearest first (by name only)."""
    path: list[x509.Certificate] = []
    current = leaf
    while current.issuer != current.subject and len(path) < len(pool):
        issuer = next((c for c in pool if c.subject == current.issuer and c not in path), None)
        if issuer is None:
            break
        path.append(issuer)
        current = issuer
    return tuple(path)


def _read_file(path: Path) -> bytes:
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            raise InputError("too large for a key or certificate file", file=str(path))
        return path.read_bytes()
    except IsADirectoryError as exc:
        raise InputError("is a directory, expected a file", file=str(path)) from exc
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=str(path)) from exc


# --- description helpers ------------------------------------------------------------------


def _extension(cert: x509.Certificate, kind: type[_Ext]) -> _Ext | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except (x509.ExtensionNotFound, ValueError):
        # Absent, or malformed or duplicated: describe what we can rather than fail.
        return None


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if not values:
        return None
    value = values[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _prefixed_number(value: str | None, prefix: str) -> str | None:
    if value is None:
        return None
    match = re.fullmatch(rf"{prefix}(\d{{12}})", value.strip())
    return match.group(1) if match else None


def format_name(name: x509.Name) -> str:
    """A distinguished name as NCA tools show it: CN first, with readable labels."""
    with quiet_name_length_warnings():
        return ", ".join(rdn.rfc4514_string(_NAME_LABELS) for rdn in name.rdns)


def _subject(cert: x509.Certificate) -> str:
    return format_name(cert.subject)


def _format_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _eku_name(oid: str) -> str:
    if oid in _EKU_NAMES:
        return _EKU_NAMES[oid]
    if oid in _NCA_ROLE_NAMES:
        return f"{_NCA_ROLE_NAMES[oid]} ({oid})"
    return oid


def _policy_name(oid: str) -> str:
    return f"{_NCA_POLICY_NAMES[oid]} ({oid})" if oid in _NCA_POLICY_NAMES else oid


def _purpose(
    eku_oids: tuple[str, ...], key_usage: x509.KeyUsage | None
) -> Literal["SIGN", "AUTH"] | None:
    sign = ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string in eku_oids
    auth = ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string in eku_oids
    if sign != auth:
        return "SIGN" if sign else "AUTH"
    if eku_oids and not sign:
        return None  # e.g. a TLS server certificate: neither NCA purpose
    if key_usage is None:
        return None
    if key_usage.content_commitment:
        return "SIGN"
    if key_usage.digital_signature and key_usage.key_encipherment:
        return "AUTH"
    return None


def _key_description(cert: x509.Certificate) -> tuple[str, int]:
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return _unsupported_key_description(cert)
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {_CURVE_NAMES.get(key.curve.name, key.curve.name)}", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 448
    return type(key).__name__, 0


def _unsupported_key_description(cert: x509.Certificate) -> tuple[str, int]:
    """GOST keys: cryptography cannot load them, but the certificate still names them."""
    try:
        oid = cert.public_key_algorithm_oid.dotted_string
    except (UnsupportedAlgorithm, ValueError):
        return "unknown", 0
    name = _gost_name(oid) or oid
    try:
        spki = asn1_x509.TbsCertificate.load(cert.tbs_certificate_bytes)["subject_public_key_info"]
        # Generic decoding: asn1crypto's PublicKeyInfo raises KeyError for a GOST algorithm.
        key_bits = asn1_core.load(spki.dump())[1].cast(asn1_core.OctetBitString).native
        point = asn1_core.OctetString.load(key_bits).native
    except (ValueError, TypeError, KeyError, IndexError):
        return name, 0
    # GOST public keys are X‖Y in an OCTET STRING: each coordinate is half the point.
    return name, len(point) * 4


def _is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    if gost.is_gost_certificate(cert):
        return gost.verify_certificate_signature(cert, cert)
    try:
        cert.verify_directly_issued_by(cert)
    except UnsupportedAlgorithm:
        return True  # a signature we cannot check: the names are all we have
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _alias_list(aliases: Iterable[str]) -> str:
    names = [repr(a) for a in aliases]
    return ", ".join(names) if names else "(none: the entries have no friendly names)"

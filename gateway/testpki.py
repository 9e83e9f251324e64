"""A throw-away test PKI that looks like NCA's, generated fresh for each test session.

Why generate instead of committing keys: committed certificates expire and turn the suite red
on a date nobody remembers, and committed keys get copied into real configurations. Like the
``trustme`` CA, everything here is made with ``cryptography`` in well under a second; only the
NCA-style legacy PKCS#12 needs the ``openssl`` CLI, because no Python library writes RC2-40
certificate bags.

GOST 34.10-2015 material mirrors NCA's GOST hierarchy: a 512-bit GOST root, a 512-bit and a
256-bit SIGN key under it, and a ``GOST512_<ski>.p12`` container. ``cryptography`` cannot put
a GOST key or a GOST signature into a certificate, so those are built with it around a
placeholder key, then re-keyed and re-signed with asn1crypto and :mod:`gateway.gost`.

Security: the private keys are also written *unencrypted* (PKCS#8 PEM, mode 0600) because tests
and the emulator need them that way. This is test material only: never point a production
profile at it. Generated files belong under a temporary directory or the git-ignored
``certs/generated/``.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar, Final, Literal, TypeAlias

from asn1crypto import core as asn1_core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from gateway import gost
from gateway import pkcs12 as gateway_pkcs12
from gateway.errors import ConfigError, InputError

__all__ = [
    "CA_COMMON_NAME",
    "DEFAULT_PASSWORD",
    "ORGANIZATION_BIN",
    "SIGNER_IIN",
    "IssuedCert",
    "TestPki",
    "generate_test_pki",
    "load_test_pki",
    "make_ca",
]

DEFAULT_PASSWORD: Final = "test-password"  # noqa: S105 - published on purpose: test keys only
CA_COMMON_NAME: Final = "ҰЛТТЫҚ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ (RSA) TEST"
GOST_CA_COMMON_NAME: Final = "ҰЛТТЫҚ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ (GOST) TEST"
SIGNER_IIN: Final = "900101300017"
ORGANIZATION_BIN: Final = "180340021234"
ORGANIZATION_NAME: Final = 'ТОО "ТЕСТ ИНТЕГРАЦИЯ"'  # noqa: RUF001 - Cyrillic names are the point

# NCA policy and role OIDs (protocol.md §4).
_POLICY_LEGAL_SIGN: Final = ObjectIdentifier("1.2.398.3.3.2.1")
_POLICY_LEGAL_AUTH: Final = ObjectIdentifier("1.2.398.3.3.2.2")
_ROLE_ORGANIZATION: Final = ObjectIdentifier("1.2.398.3.3.4.1.2")

_RSA_BITS: Final = 2048
_UNSAFE_FILE_CHARS: Final = re.compile(r"[^A-Za-z0-9._-]+")
_OPENSSL_TIMEOUT_S: Final = 60

Usage = Literal["sign", "auth", "tls-server", "tls-client"]
KeyType = Literal["rsa", "ec", "gost2015-512", "gost2015-256"]
TestKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | gost.GostPrivateKey


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedCert:
    """A certificate, its key, and where both were written."""

    certificate: x509.Certificate
    private_key: TestKey = field(repr=False)
    cert_path: Path
    """PEM certificate."""
    key_path: Path
    """Unencrypted PKCS#8 PEM, mode 0600: test material only."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TestPki:
    """The whole test PKI: an NCA-like CA, NCA-like SIGN/AUTH keys, SIGEX and TLS material."""

    __test__: ClassVar[bool] = False  # the name starts with "Test"; pytest must not collect it

    directory: Path
    password: str
    now: datetime
    """The time the PKI was generated for; the default validity of :meth:`issue` is around it."""
    ca: IssuedCert
    signer: IssuedCert
    auth: IssuedCert
    signer_ec: IssuedCert
    sigex: IssuedCert
    server: IssuedCert
    client: IssuedCert
    signer_p12: Path
    """Modern PKCS#12 (PBES2/AES-256, HMAC-SHA256) of signer and the CA, alias "signer"."""
    signer_legacy_p12: Path
    """NCA-style ``RSA256_<ski>.p12``: MAC SHA-1, 3DES key bag, RC2-40 certificate bag,
    alias = the key identifier in hex, the signer certificate only (as NCA issues them)."""
    client_p12: Path
    gost_ca: IssuedCert
    """Self-signed GOST 34.10-2015 512-bit root, like NCA's GOST CA."""
    signer_gost: IssuedCert
    """GOST 34.10-2015 512-bit SIGN key under :attr:`gost_ca` (what NCA issues today)."""
    signer_gost256: IssuedCert
    """GOST 34.10-2015 256-bit SIGN key under :attr:`gost_ca`."""
    signer_gost_p12: Path
    """NCA-style ``GOST512_<ski>.p12`` of :attr:`signer_gost`: MAC SHA-1, 3DES key bag."""
    sigex_cert_txt: Path
    """Base64 of the DER certificate without PEM armour, as sigex.kz displays it."""
    sigex_key_pem: Path
    sigex_key_der: Path

    def issue(
        self,
        name: str,
        *,
        key_type: KeyType = "rsa",
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        issuer: IssuedCert | None = None,
        usage: Usage = "sign",
    ) -> IssuedCert:
        """A scenario certificate (expired, not yet valid, from another CA, ...).

        Files are ``<directory>/<stem>.pem`` and ``<stem>.key.pem``, the stem being ``name``
        reduced to file-safe characters; ``name`` is also the CN, so a failing test names the
        scenario. SIGN/AUTH certificates carry the same NCA-like subject (IIN, BIN) as
        :attr:`signer`.
        """
        start = _now(not_before) if not_before is not None else self.now - timedelta(days=1)
        end = _now(not_after) if not_after is not None else self.now + timedelta(days=365)
        key = _new_key(key_type)
        if issuer is None and isinstance(key, gost.GostPrivateKey):
            issuer = self.gost_ca
        if usage in ("sign", "auth"):
            subject = _person_name(name)
        elif usage == "tls-client":
            subject = _organization_system_name(name)
        else:
            subject = x509.Name([_common_name(name)])
        cert = _build(
            subject=subject,
            key=key,
            issuer=issuer or self.ca,
            extensions=_USAGE_EXTENSIONS[usage](),
            not_before=start,
            not_after=end,
        )
        return _write_issued(self.directory, name, cert, key)


def make_ca(
    directory: Path,
    name: str,
    *,
    now: datetime | None = None,
    common_name: str | None = None,
    key_type: KeyType = "rsa",
) -> IssuedCert:
    """A self-signed root CA (RSA unless ``key_type`` says otherwise) written to
    ``<directory>/<stem>.pem`` (+ ``.key.pem``).

    Use a second CA for "certificate from an untrusted CA" scenarios. ``name`` may be a display
    name ("Untrusted Test CA"): it is the CN unless ``common_name`` is given, and the file stem
    is ``name`` reduced to file-safe characters.
    """
    moment = _now(now)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = _new_key(key_type)
    subject = x509.Name(
        [_common_name(common_name or name), x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ")]
    )
    cert = _build(
        subject=subject,
        key=key,
        issuer=None,
        extensions=[
            (x509.BasicConstraints(ca=True, path_length=None), True),
            (_key_usage(key_cert_sign=True, crl_sign=True), True),
        ],
        not_before=moment - timedelta(days=1),
        not_after=moment + timedelta(days=5 * 365),
    )
    return _write_issued(directory, name, cert, key)


def generate_test_pki(
    directory: Path, *, password: str = DEFAULT_PASSWORD, now: datetime | None = None
) -> TestPki:
    """Generate the complete test PKI under ``directory`` (created if missing).

    Raises ConfigError if the ``openssl`` CLI (needed for the NCA-style container) is missing.
    """
    moment = _now(now)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca = make_ca(directory, "ca", now=moment, common_name=CA_COMMON_NAME)
    start, end = moment - timedelta(days=1), moment + timedelta(days=365)

    def leaf(
        name: str,
        subject: x509.Name,
        usage: Usage,
        key_type: KeyType = "rsa",
        issuer: IssuedCert = ca,
    ) -> IssuedCert:
        key = _new_key(key_type)
        cert = _build(
            subject=subject,
            key=key,
            issuer=issuer,
            extensions=_USAGE_EXTENSIONS[usage](),
            not_before=start,
            not_after=end,
        )
        return _write_issued(directory, name, cert, key)

    person = _person_name("ЖҰМАБЕКОВ ТЕСТ")  # noqa: RUF001 - a Kazakh full name, as NCA writes it
    signer = leaf("signer", person, "sign")
    auth = leaf("auth", person, "auth")
    signer_ec = leaf("signer-ec", person, "sign", key_type="ec")
    server = leaf(
        "server",
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shep-gateway test server")]),
        "tls-server",
    )
    system = "ИС ТЕСТ ИНТЕГРАЦИЯ"  # noqa: RUF001 - an information system's Russian name
    client = leaf("client", _organization_system_name(system), "tls-client")
    sigex = _make_sigex(directory / "sigex", moment)
    gost_ca = make_ca(
        directory, "gost-ca", now=moment, common_name=GOST_CA_COMMON_NAME, key_type="gost2015-512"
    )
    signer_gost = leaf("signer-gost", person, "sign", "gost2015-512", gost_ca)
    signer_gost256 = leaf("signer-gost256", person, "sign", "gost2015-256", gost_ca)

    secret = password.encode()
    signer_p12 = directory / "signer.p12"
    _write_private(signer_p12, _modern_p12(b"signer", signer, [ca], secret))
    client_p12 = directory / "client.p12"
    _write_private(client_p12, _modern_p12(b"client", client, [ca], secret))
    alias = _key_id(signer).hex()
    legacy_p12 = directory / "nca" / f"RSA256_{alias}.p12"
    legacy_p12.parent.mkdir(exist_ok=True, mode=0o700)
    _write_private(legacy_p12, _legacy_p12(signer, alias=alias, password=password))
    gost_p12 = directory / "nca" / f"GOST512_{_key_id(signer_gost).hex()}.p12"
    _write_private(gost_p12, _gost_p12(signer_gost, secret))

    return TestPki(
        directory=directory,
        password=password,
        now=moment,
        ca=ca,
        signer=signer,
        auth=auth,
        signer_ec=signer_ec,
        sigex=sigex,
        server=server,
        client=client,
        signer_p12=signer_p12,
        signer_legacy_p12=legacy_p12,
        client_p12=client_p12,
        gost_ca=gost_ca,
        signer_gost=signer_gost,
        signer_gost256=signer_gost256,
        signer_gost_p12=gost_p12,
        sigex_cert_txt=directory / "sigex" / "certificate.txt",
        sigex_key_pem=sigex.key_path,
        sigex_key_der=directory / "sigex" / "privateKey.der",
    )


def load_test_pki(directory: Path, *, password: str = DEFAULT_PASSWORD) -> TestPki:
    """Read back a test PKI that :func:`generate_test_pki` wrote (e.g. ``shep testpki DIR``),
    so an emulator and its clients in different processes share one PKI."""

    def issued(cert_path: Path, key_path: Path) -> IssuedCert:
        key: object
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            pem = key_path.read_bytes()
            der = base64.b64decode(b"".join(pem.splitlines()[1:-1]))
            if gost.is_gost_private_key_info(der):
                key = gost.load_private_key_info(der, source=str(key_path))
            else:
                key = serialization.load_pem_private_key(pem, password=None)
        except (OSError, ValueError) as exc:
            raise InputError(f"not a complete test PKI: {exc}", file=str(cert_path)) from exc
        if not isinstance(
            key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | gost.GostPrivateKey
        ):
            raise InputError("unexpected key type in test PKI", file=str(key_path))
        return IssuedCert(certificate=cert, private_key=key, cert_path=cert_path, key_path=key_path)

    def pair(stem: str) -> IssuedCert:
        return issued(directory / f"{stem}.pem", directory / f"{stem}.key.pem")

    legacy = sorted((directory / "nca").glob("RSA256_*.p12"))
    gost_p12 = sorted((directory / "nca").glob("GOST512_*.p12"))
    if not legacy or not gost_p12:
        raise InputError(
            "not a complete test PKI: nca/RSA256_*.p12 or nca/GOST512_*.p12 is missing"
            " (generate it again with `shep testpki`)",
            file=str(directory),
        )
    ca = pair("ca")
    return TestPki(
        directory=directory,
        password=password,
        now=ca.certificate.not_valid_before_utc + timedelta(days=1),
        ca=ca,
        signer=pair("signer"),
        auth=pair("auth"),
        signer_ec=pair("signer-ec"),
        sigex=issued(
            directory / "sigex" / "certificate.pem", directory / "sigex" / "privateKey.pem"
        ),
        server=pair("server"),
        client=pair("client"),
        signer_p12=directory / "signer.p12",
        signer_legacy_p12=legacy[0],
        client_p12=directory / "client.p12",
        gost_ca=pair("gost-ca"),
        signer_gost=pair("signer-gost"),
        signer_gost256=pair("signer-gost256"),
        signer_gost_p12=gost_p12[0],
        sigex_cert_txt=directory / "sigex" / "certificate.txt",
        sigex_key_pem=directory / "sigex" / "privateKey.pem",
        sigex_key_der=directory / "sigex" / "privateKey.der",
    )


def _now(now: datetime | None) -> datetime:
    moment = now if now is not None else datetime.now(UTC)
    if moment.tzinfo is None:
        raise InputError("times must be timezone-aware (certificate times are UTC)")
    # Certificates store whole seconds; keeping the same precision makes comparisons exact.
    return moment.astimezone(UTC).replace(microsecond=0)


def _new_key(key_type: KeyType) -> TestKey:
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "gost2015-512":
        return gost.generate_private_key(gost.GOST_2015_512)
    if key_type == "gost2015-256":
        return gost.generate_private_key(gost.GOST_2015_256)
    return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)


def _common_name(value: str) -> x509.NameAttribute[str]:
    try:
        return x509.NameAttribute(NameOID.COMMON_NAME, value)
    except ValueError as exc:
        # cryptography limits a CN to 64 UTF-8 bytes: about 32 Cyrillic letters.
        raise InputError(f"unusable common name {value!r}: {exc}") from exc


def _person_name(common_name: str) -> x509.Name:
    """Subject of an NCA organization-employee certificate, in NCA's attribute order."""
    surname, _, _ = common_name.partition(" ")
    return x509.Name(
        [
            _common_name(common_name),
            x509.NameAttribute(NameOID.SURNAME, surname or common_name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, f"IIN{SIGNER_IIN}"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION_NAME),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"BIN{ORGANIZATION_BIN}"),
            x509.NameAttribute(NameOID.GIVEN_NAME, "ТЕСТҰЛЫ"),
        ]
    )


def _organization_system_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION_NAME),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"BIN{ORGANIZATION_BIN}"),
        ]
    )


def _key_usage(
    *,
    digital_signature: bool = False,
    content_commitment: bool = False,
    key_encipherment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _policies(oid: ObjectIdentifier) -> x509.CertificatePolicies:
    return x509.CertificatePolicies([x509.PolicyInformation(oid, ["http://pki.gov.kz/cps"])])


def _sign_extensions() -> list[tuple[x509.ExtensionType, bool]]:
    return [
        (_key_usage(digital_signature=True, content_commitment=True), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, _ROLE_ORGANIZATION]), False),
        (_policies(_POLICY_LEGAL_SIGN), False),
    ]


def _auth_extensions() -> list[tuple[x509.ExtensionType, bool]]:
    return [
        (_key_usage(digital_signature=True, key_encipherment=True), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, _ROLE_ORGANIZATION]), False),
        (_policies(_POLICY_LEGAL_AUTH), False),
    ]


def _tls_server_extensions() -> list[tuple[x509.ExtensionType, bool]]:
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.DNSName("emulator"),  # the service name in docker/compose.yaml
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    return [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (_key_usage(digital_signature=True, key_encipherment=True), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        (x509.SubjectAlternativeName(names), False),
    ]


def _tls_client_extensions() -> list[tuple[x509.ExtensionType, bool]]:
    return [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (_key_usage(digital_signature=True, key_encipherment=True), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
    ]


_USAGE_EXTENSIONS: Final = {
    "sign": _sign_extensions,
    "auth": _auth_extensions,
    "tls-server": _tls_server_extensions,
    "tls-client": _tls_client_extensions,
}


def _build(
    *,
    subject: x509.Name,
    key: TestKey,
    issuer: IssuedCert | None,
    extensions: list[tuple[x509.ExtensionType, bool]],
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    """Sign a certificate; ``issuer=None`` makes it self-signed."""
    if not_after <= not_before:
        raise InputError("not_after must be later than not_before")
    issuer_name = issuer.certificate.subject if issuer else subject
    signing_key = issuer.private_key if issuer else key
    # cryptography builds GOST certificates around placeholder keys; _regost swaps them.
    placeholder = ec.generate_private_key(ec.SECP256R1())
    subject_key = placeholder if isinstance(key, gost.GostPrivateKey) else key
    issuer_key = placeholder if isinstance(signing_key, gost.GostPrivateKey) else signing_key
    issuer_ski = _key_id(issuer) if issuer else _public_key_id(key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier(_public_key_id(key)), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier(issuer_ski, None, None), critical=False)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    cert = builder.sign(issuer_key, hashes.SHA256())
    if issuer_key is placeholder or subject_key is placeholder:
        cert = _regost(cert, key, signing_key)
    return cert


def _public_key_id(key: TestKey) -> bytes:
    """RFC 5280's method 1: SHA-1 of the subjectPublicKey bits (what cryptography computes)."""
    if isinstance(key, gost.GostPrivateKey):
        bits = asn1_core.OctetString(key.public_key().point).dump()
        return hashlib.sha1(bits).digest()  # noqa: S324 - an identifier, not a signature
    return x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest


def _key_id(issued: IssuedCert) -> bytes:
    ski = issued.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    return ski.value.digest


def _regost(cert: x509.Certificate, key: TestKey, signing_key: TestKey) -> x509.Certificate:
    """Put the real (GOST) subject key in, and sign with the real (GOST or other) issuer key."""
    tbs = asn1_x509.TbsCertificate.load(cert.tbs_certificate_bytes)
    if isinstance(key, gost.GostPrivateKey):
        tbs["subject_public_key_info"] = asn1_x509.PublicKeyInfo.load(key.public_key_info())
    if isinstance(signing_key, gost.GostPrivateKey):
        algorithm = {"algorithm": signing_key.params.signature_oid}
    elif isinstance(signing_key, rsa.RSAPrivateKey):
        algorithm = {"algorithm": "sha256_rsa", "parameters": asn1_core.Null()}
    else:
        algorithm = {"algorithm": "sha256_ecdsa"}
    tbs["signature"] = asn1_x509.SignedDigestAlgorithm(algorithm)
    tbs_der = tbs.dump()
    if isinstance(signing_key, gost.GostPrivateKey):
        value = gost.sign_certificate_tbs(signing_key, tbs_der)
    elif isinstance(signing_key, rsa.RSAPrivateKey):
        value = signing_key.sign(tbs_der, padding.PKCS1v15(), hashes.SHA256())
    else:
        value = signing_key.sign(tbs_der, ec.ECDSA(hashes.SHA256()))
    certificate = asn1_x509.Certificate(
        {
            "tbs_certificate": asn1_x509.TbsCertificate.load(tbs_der),
            "signature_algorithm": asn1_x509.SignedDigestAlgorithm(algorithm),
            "signature_value": value,
        }
    )
    return x509.load_der_x509_certificate(certificate.dump())


def _make_sigex(directory: Path, moment: datetime) -> IssuedCert:
    """The files sigex.kz hands an organization for an information system (protocol.md §5)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, f"Self signed #{secrets.randbelow(10**9)}")]
    )
    cert = _build(
        subject=subject,
        key=key,
        issuer=None,
        extensions=[
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (_key_usage(digital_signature=True), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
        ],
        not_before=moment - timedelta(days=1),
        not_after=moment + timedelta(days=365),
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    (directory / "certificate.txt").write_text(base64.b64encode(der).decode() + "\n")
    (directory / "certificate.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = directory / "privateKey.pem"
    _write_private(key_path, _pkcs8(key, serialization.Encoding.PEM))
    _write_private(directory / "privateKey.der", _pkcs8(key, serialization.Encoding.DER))
    return IssuedCert(
        certificate=cert,
        private_key=key,
        cert_path=directory / "certificate.pem",
        key_path=key_path,
    )


def _pkcs8(key: TestKey, encoding: serialization.Encoding) -> bytes:
    if isinstance(key, gost.GostPrivateKey):
        der = key.private_key_info()
        if encoding == serialization.Encoding.DER:
            return der
        body = base64.encodebytes(der)
        return b"-----BEGIN PRIVATE KEY-----\n" + body + b"-----END PRIVATE KEY-----\n"
    return key.private_bytes(
        encoding, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_issued(
    directory: Path,
    name: str,
    cert: x509.Certificate,
    key: TestKey,
) -> IssuedCert:
    # The stem can hold no path separator nor start with a dot: files stay in `directory`.
    stem = _UNSAFE_FILE_CHARS.sub("-", name).strip(".-")[:64] or "cert"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_path = directory / f"{stem}.pem"
    key_path = directory / f"{stem}.key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(key_path, _pkcs8(key, serialization.Encoding.PEM))
    return IssuedCert(certificate=cert, private_key=key, cert_path=cert_path, key_path=key_path)


def _write_private(path: Path, data: bytes) -> None:
    """Write key material readable by the owner only, even if the file existed before."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(data)


def _gost_p12(issued: IssuedCert, password: bytes) -> bytes:
    """NCA's GOST512_*.p12 layout; the alias is the key identifier in hex, as NCA's."""
    if not isinstance(issued.private_key, gost.GostPrivateKey):
        raise InputError("a GOST container needs a GOST key")
    key_id = _key_id(issued)
    return gateway_pkcs12.build_pfx(
        issued.private_key.private_key_info(),
        [issued.certificate],
        password,
        friendly_name=key_id.hex(),
        local_key_id=key_id,
        iterations=1024,
    )


def _modern_p12(
    alias: bytes, issued: IssuedCert, chain: list[IssuedCert], password: bytes
) -> bytes:
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(20_000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password)
    )
    if isinstance(issued.private_key, gost.GostPrivateKey):
        raise InputError("cryptography cannot write GOST keys: use _gost_p12")
    return pkcs12.serialize_key_and_certificates(
        alias, issued.private_key, issued.certificate, [c.certificate for c in chain], encryption
    )


def _legacy_p12(issued: IssuedCert, *, alias: str, password: str) -> bytes:
    """The NCA layout, written by ``openssl pkcs12 -legacy``.

    The password goes through stdin, never argv (visible in ``ps``) nor the environment
    (inherited by children); the container comes back on stdout and is written 0600 by us.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ConfigError(
            "the openssl command is needed to write the NCA-style legacy PKCS#12"
            " (RC2-40 certificate bag); install OpenSSL 3 and put it on PATH"
        )
    command = [
        openssl,
        "pkcs12",
        "-export",
        "-legacy",
        "-keypbe",
        "PBE-SHA1-3DES",
        "-certpbe",
        "PBE-SHA1-RC2-40",
        "-macalg",
        "sha1",
        "-iter",
        "1024",
        "-inkey",
        str(issued.key_path),
        "-in",
        str(issued.cert_path),
        "-name",
        alias,
        "-passout",
        "stdin",
    ]
    try:
        result = subprocess.run(
            command,
            input=password.encode() + b"\n",
            capture_output=True,
            check=False,
            timeout=_OPENSSL_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"cannot run openssl to write the legacy PKCS#12: {exc}") from exc
    if result.returncode != 0 or not result.stdout:
        detail = result.stderr.decode(errors="replace").strip().splitlines()
        raise ConfigError(
            "openssl could not write the legacy PKCS#12 (does it have the legacy provider?): "
            + (detail[0] if detail else f"exit status {result.returncode}")
        )
    return result.stdout

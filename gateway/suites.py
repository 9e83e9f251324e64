"""Signature algorithms: an open registry of suites, each computed by a pluggable backend.

A :class:`SignatureSuite` is named by the URIs that appear on the wire. The Kazakh GOST URIs
are not ones libxmlsec knows, so suites are an open registry (not a closed Enum): a GOST
backend registers its own suites.

RSA and ECDSA have two backends, each a complete implementation of the profile:

- :data:`LIBRARY_BACKEND` (the default) signs with lxml's exclusive c14n (libxml2, the same
  canonicalizer libxmlsec1 uses), hashlib and ``cryptography``, and verifies with libxmlsec1.
  Our profile fixes every transform, so signing is "canonicalize Body, digest, canonicalize
  SignedInfo, sign": nothing is hand-rolled, and it is twice as fast as libxmlsec1's generic
  engine (bench/bench_sign.py).
- :data:`XMLSEC_BACKEND` signs and verifies with python-xmlsec (libxmlsec1 over OpenSSL).

GOST 34.10-2015 (:data:`GOST2015_512`, :data:`GOST2015_256`, the pkigovkz URIs of
protocol.md §3) has one backend, :data:`GOST_BACKEND`: the same c14n pipeline with Streebog
and :mod:`gateway.gost`, verifying the same way (libxmlsec1 knows no Kazakh URI). The policy in
``wssec`` has already fixed every transform when it runs, so "recompute the digest, check the
signature over the canonical SignedInfo" is the whole of XML-DSig core validation here.

Tests hold the two to each other: for the same envelope, both must produce byte-identical
DigestValue and (RSA being deterministic) SignatureValue. This module is the only one that
touches xmlsec.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import xmlsec as _xmlsec_module
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from lxml import etree

from gateway import gost
from gateway.errors import IdentityError, Rejection, SignatureError, VerificationError
from gateway.identity import Identity
from gateway.xmlns import DS, WSU, qname

__all__ = [
    "ECDSA_SHA256",
    "EXC_C14N",
    "GOST2015_256",
    "GOST2015_512",
    "GOST_BACKEND",
    "LIBRARY_BACKEND",
    "RSA_SHA1",
    "RSA_SHA256",
    "XMLSEC_BACKEND",
    "SignatureBackend",
    "SignatureSuite",
    "find_suite",
    "key_type",
    "register_suite",
    "registered_suites",
    "signer_key_type",
]

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"

# python-xmlsec's bundled stubs do not cover the constants we use; keep its Any in here.
xmlsec: Any = _xmlsec_module


class SignatureBackend(Protocol):
    """Computes and checks signature values for the suites bound to it.

    The envelope-level work (template, KeyInfo, Ids, policy) is shared in ``wssec``; a backend
    only fills DigestValue/SignatureValue of a prepared ``ds:Signature`` whose single Reference
    points at ``target`` (by its ``wsu:Id``), or checks them.
    """

    def prepare_key(self, identity: Identity, suite: SignatureSuite) -> object:
        """Convert the identity's private key once per signer into what ``sign`` needs."""
        ...

    def sign(
        self, signature: etree._Element, target: etree._Element, key: object, suite: SignatureSuite
    ) -> None:
        """Fill the template's digest and signature values in place."""
        ...

    def verify(
        self,
        signature: etree._Element,
        target: etree._Element,
        certificate: x509.Certificate,
        suite: SignatureSuite,
    ) -> None:
        """Raise :class:`VerificationError` unless the values match ``certificate``'s key."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SignatureSuite:
    """One signature algorithm with its digest, named by the URIs on the wire."""

    name: str
    signature_uri: str
    digest_uri: str
    key_type: str
    """What the certificate's public key must be ("rsa", "ec", ...): stops key confusion."""
    hash_name: str
    """Name of the digest: hashlib's (sha256, sha1) or streebog256/streebog512."""
    backend: SignatureBackend = field(compare=False, hash=False, repr=False)


_SUITES: dict[str, SignatureSuite] = {}


def register_suite(suite: SignatureSuite) -> SignatureSuite:
    """Add ``suite`` to the registry; registering a different suite under a used URI fails."""
    known = _SUITES.get(suite.signature_uri)
    if known is not None and known != suite:
        raise SignatureError(f"a different suite is already registered for {suite.signature_uri}")
    _SUITES[suite.signature_uri] = suite
    return suite


def find_suite(signature_uri: str) -> SignatureSuite:
    """The registered suite for a SignatureMethod URI; an unknown URI is named in the error."""
    try:
        return _SUITES[signature_uri]
    except KeyError:
        raise SignatureError(f"unknown signature algorithm {signature_uri}") from None


def registered_suites() -> tuple[SignatureSuite, ...]:
    """Every registered suite, in registration order."""
    return tuple(_SUITES.values())


def key_type(key: object) -> str:
    """ "rsa", "ec", "gost2015-512", "gost2015-256" for keys (private or public); the class
    name otherwise."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return "ec"
    if isinstance(key, gost.GostPrivateKey | gost.GostPublicKey):
        return key.key_type
    return type(key).__name__


def signer_key_type(certificate: x509.Certificate) -> str:
    """The :func:`key_type` of a certificate's public key, GOST ones included."""
    if gost.is_gost_certificate(certificate):
        try:
            return gost.certificate_public_key(certificate).key_type
        except IdentityError as exc:
            return f"unusable GOST ({exc.message})"
    try:
        return key_type(certificate.public_key())
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        return f"unusable ({exc})"


def digest(hash_name: str, data: bytes) -> bytes:
    """``data``'s digest by a suite's hash name (Streebog is not in hashlib)."""
    if hash_name.startswith("streebog"):
        return gost.streebog(data, int(hash_name.removeprefix("streebog")))
    return hashlib.new(hash_name, data).digest()


_XMLSEC_TRANSFORMS: dict[str, Any] = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": xmlsec.Transform.RSA_SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": xmlsec.Transform.ECDSA_SHA256,
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1": xmlsec.Transform.RSA_SHA1,
    "http://www.w3.org/2001/04/xmlenc#sha256": xmlsec.Transform.SHA256,
    "http://www.w3.org/2000/09/xmldsig#sha1": xmlsec.Transform.SHA1,
}


def _xmlsec_context(target: etree._Element, suite: SignatureSuite) -> Any:
    ctx = xmlsec.SignatureContext()
    ctx.register_id(target, "Id", WSU)
    # Only the profile's transforms may run, whatever the XML asks for.
    ctx.enable_signature_transform(xmlsec.Transform.EXCL_C14N)
    ctx.enable_signature_transform(_XMLSEC_TRANSFORMS[suite.signature_uri])
    ctx.enable_reference_transform(xmlsec.Transform.EXCL_C14N)
    ctx.enable_reference_transform(_XMLSEC_TRANSFORMS[suite.digest_uri])
    return ctx


def verify_with_xmlsec(
    signature: etree._Element,
    target: etree._Element,
    certificate: x509.Certificate,
    suite: SignatureSuite,
) -> None:
    """Check digest and signature with libxmlsec1: only the profile's transforms enabled, and
    the key of ``certificate``, never one from KeyInfo."""
    ctx = _xmlsec_context(target, suite)
    ctx.set_enabled_key_data([])
    cert_der = certificate.public_bytes(serialization.Encoding.DER)
    ctx.key = xmlsec.Key.from_memory(cert_der, xmlsec.KeyFormat.CERT_DER)
    try:
        ctx.verify(signature)
    except xmlsec.Error as exc:
        raise classify_failure(signature, target, suite) from exc


class _XmlsecBackend:
    """RSA and ECDSA signed and verified by python-xmlsec."""

    def prepare_key(self, identity: Identity, suite: SignatureSuite) -> object:
        # Unencrypted PKCS#8 in memory only. The bundled libxmlsec reads it as PEM (its
        # PKCS8_DER loader refuses RSA keys).
        key = identity.private_key
        if isinstance(key, gost.GostPrivateKey):
            raise SignatureError("xmlsec knows no Kazakh GOST algorithm", file=identity.source)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            return xmlsec.Key.from_memory(pem, xmlsec.KeyFormat.PEM)
        except xmlsec.Error as exc:
            raise SignatureError("xmlsec cannot use this key", file=identity.source) from exc

    def sign(
        self, signature: etree._Element, target: etree._Element, key: object, suite: SignatureSuite
    ) -> None:
        ctx = _xmlsec_context(target, suite)
        ctx.key = key
        try:
            ctx.sign(signature)
        except xmlsec.Error as exc:
            raise SignatureError(f"xmlsec failed to sign with {suite.name}: {exc}") from exc

    def verify(
        self,
        signature: etree._Element,
        target: etree._Element,
        certificate: x509.Certificate,
        suite: SignatureSuite,
    ) -> None:
        verify_with_xmlsec(signature, target, certificate, suite)


_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"sha256": hashes.SHA256, "sha1": hashes.SHA1}


class _LibraryBackend(_XmlsecBackend):
    """Signs with lxml exc-c14n + hashlib + cryptography; verifies with libxmlsec1 (inherited).

    Valid only because the profile fixes the transforms: one Reference, exc-c14n without an
    InclusiveNamespaces list, no other transform. The template ``wssec`` builds is exactly that.
    """

    def prepare_key(self, identity: Identity, suite: SignatureSuite) -> object:
        return identity.private_key

    def sign(
        self, signature: etree._Element, target: etree._Element, key: object, suite: SignatureSuite
    ) -> None:
        _sign_pipeline(
            signature, target, suite, lambda canonical: self._sign_bytes(canonical, key, suite)
        )

    @staticmethod
    def _sign_bytes(canonical: bytes, key: object, suite: SignatureSuite) -> bytes:
        algorithm = _HASHES[suite.hash_name]()
        if isinstance(key, rsa.RSAPrivateKey):
            raw = key.sign(canonical, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            # XML-DSig wants r || s, each the curve's size, not cryptography's DER.
            r, s = decode_dss_signature(key.sign(canonical, ec.ECDSA(algorithm)))
            size = (key.curve.key_size + 7) // 8
            raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")
        else:
            raise SignatureError(f"{suite.name} cannot sign with a {type(key).__name__}")
        return raw


def _sign_pipeline(
    signature: etree._Element,
    target: etree._Element,
    suite: SignatureSuite,
    sign_bytes: Callable[[bytes], bytes],
) -> None:
    """Canonicalize the target, digest it, canonicalize SignedInfo, sign: valid only for the
    profile's fixed template (one Reference, exc-c14n, no InclusiveNamespaces)."""
    signed_info = signature.find(qname(DS, "SignedInfo"))
    value = signature.find(qname(DS, "SignatureValue"))
    digest_value = None if signed_info is None else signed_info.find(f".//{{{DS}}}DigestValue")
    if signed_info is None or value is None or digest_value is None:
        raise SignatureError("signature template lacks SignedInfo/DigestValue/SignatureValue")
    body = etree.tostring(target, method="c14n", exclusive=True, with_comments=False)
    digest_value.text = base64.b64encode(digest(suite.hash_name, body)).decode()
    canonical = etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False)
    encoded = base64.b64encode(sign_bytes(canonical)).decode()
    lines = [encoded[i : i + 76] for i in range(0, len(encoded), 76)]  # as Java signers do
    value.text = "\n" + "\n".join(lines) + "\n"


def _exclusive_c14n(element: etree._Element, method: etree._Element | None) -> bytes:
    """exc-c14n of ``element`` with the InclusiveNamespaces PrefixList that WSS4J adds as a
    child of the exc-c14n Transform or CanonicalizationMethod ``method`` (the policy in
    ``wssec`` allows no other transform, so this is the one the signer applied)."""
    inclusive: list[str] | None = None
    if method is not None:
        prefixes = method.find(f"{{{EXC_C14N}}}InclusiveNamespaces")
        if prefixes is not None:
            inclusive = (prefixes.get("PrefixList") or "").split()
    return etree.tostring(
        element, method="c14n", exclusive=True, with_comments=False, inclusive_ns_prefixes=inclusive
    )


def _digest_matches(
    signature: etree._Element, target: etree._Element, suite: SignatureSuite
) -> bool:
    reference = signature.find(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    expected_text = "" if reference is None else reference.findtext(qname(DS, "DigestValue")) or ""
    transform = (
        None if reference is None else reference.find(f"{{{DS}}}Transforms/{{{DS}}}Transform")
    )
    actual = digest(suite.hash_name, _exclusive_c14n(target, transform))
    try:
        expected = base64.b64decode("".join(expected_text.split()), validate=True)
    except ValueError:
        return False
    return hmac.compare_digest(expected, actual)


def classify_failure(
    signature: etree._Element, target: etree._Element, suite: SignatureSuite
) -> VerificationError:
    """Tell a changed Body (digest) from a bad SignatureValue, for a useful message.

    Only called after libxmlsec1 has rejected the signature: the digest recomputed here
    (lxml's exc-c14n + hashlib) decides nothing, it only names the failed check.
    """
    if not _digest_matches(signature, target, suite):
        return VerificationError(
            "the Body was changed after signing (digest mismatch)",
            reason=Rejection.DIGEST_MISMATCH,
        )
    return VerificationError(
        "the SignatureValue does not match the signer's key", reason=Rejection.BAD_SIGNATURE
    )


class _GostBackend:
    """GOST 34.10-2015 with Streebog: signs by the library pipeline, verifies in full itself."""

    def prepare_key(self, identity: Identity, suite: SignatureSuite) -> object:
        key = identity.private_key
        if not isinstance(key, gost.GostPrivateKey) or key.key_type != suite.key_type:
            raise SignatureError(f"{suite.name} needs a {suite.key_type} key", file=identity.source)
        return key

    def sign(
        self, signature: etree._Element, target: etree._Element, key: object, suite: SignatureSuite
    ) -> None:
        if not isinstance(key, gost.GostPrivateKey):
            raise SignatureError(f"{suite.name} cannot sign with a {type(key).__name__}")
        _sign_pipeline(signature, target, suite, key.sign)

    def verify(
        self,
        signature: etree._Element,
        target: etree._Element,
        certificate: x509.Certificate,
        suite: SignatureSuite,
    ) -> None:
        try:
            public = gost.certificate_public_key(certificate)
        except IdentityError as exc:
            raise VerificationError(exc.message, reason=Rejection.ALGORITHM_NOT_ALLOWED) from exc
        if public.key_type != suite.key_type:
            raise VerificationError(
                f"{suite.name} signature but the certificate holds a {public.key_type} key",
                reason=Rejection.ALGORITHM_NOT_ALLOWED,
            )
        # SignedInfo first: Streebog costs ~4 s per MiB in pure Python, so the Body is hashed
        # only for a signature made with the signer's key. A changed DigestValue is therefore
        # reported as a bad signature, a changed Body (under a valid SignedInfo) as a digest
        # mismatch.
        signed_info = signature.find(qname(DS, "SignedInfo"))
        value_text = signature.findtext(qname(DS, "SignatureValue")) or ""
        try:
            value = base64.b64decode("".join(value_text.split()), validate=True)
        except ValueError:
            value = b""
        if signed_info is None:
            raise VerificationError("no SignedInfo", reason=Rejection.MALFORMED_SIGNATURE)
        canonical = _exclusive_c14n(
            signed_info, signed_info.find(qname(DS, "CanonicalizationMethod"))
        )
        if not public.verify(canonical, value):
            raise VerificationError(
                "the SignatureValue does not match the signer's key", reason=Rejection.BAD_SIGNATURE
            )
        if not _digest_matches(signature, target, suite):
            raise VerificationError(
                "the Body was changed after signing (digest mismatch)",
                reason=Rejection.DIGEST_MISMATCH,
            )


XMLSEC_BACKEND: SignatureBackend = _XmlsecBackend()
"""Signs and verifies with libxmlsec1: the reference the default backend is tested against."""
LIBRARY_BACKEND: SignatureBackend = _LibraryBackend()
"""Signs with lxml exc-c14n + cryptography (twice libxmlsec1's speed), verifies with libxmlsec1."""
GOST_BACKEND: SignatureBackend = _GostBackend()
"""GOST 34.10-2015 + Streebog through :mod:`gateway.gost`, for signing and verifying."""

RSA_SHA256 = register_suite(
    SignatureSuite(
        name="rsa-sha256",
        signature_uri="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        digest_uri="http://www.w3.org/2001/04/xmlenc#sha256",
        key_type="rsa",
        hash_name="sha256",
        backend=LIBRARY_BACKEND,
    )
)
"""What NCA RSA keys sign with (protocol.md §3)."""

ECDSA_SHA256 = register_suite(
    SignatureSuite(
        name="ecdsa-sha256",
        signature_uri="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        digest_uri="http://www.w3.org/2001/04/xmlenc#sha256",
        key_type="ec",
        hash_name="sha256",
        backend=LIBRARY_BACKEND,
    )
)
"""For EC keys such as SIGEX's P-256 integration keys."""

RSA_SHA1 = register_suite(
    SignatureSuite(
        name="rsa-sha1",
        signature_uri="http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        digest_uri="http://www.w3.org/2000/09/xmldsig#sha1",
        key_type="rsa",
        hash_name="sha1",
        backend=LIBRARY_BACKEND,
    )
)
"""Legacy SHA-1: registered so it can be named and refused; no default policy allows it."""

_PKIGOVKZ: Final = "urn:ietf:params:xml:ns:pkigovkz:xmlsec:algorithms:"


def _gost_suite(params: gost.GostParams) -> SignatureSuite:
    """The pkigovkz URIs (protocol.md §3) differ only by the key size."""
    return register_suite(
        SignatureSuite(
            name=params.name,
            signature_uri=f"{_PKIGOVKZ}gostr34102015-gostr34112015-{params.bits}",
            digest_uri=f"{_PKIGOVKZ}gostr34112015-{params.bits}",
            key_type=params.name,
            hash_name=params.hash_name,
            backend=GOST_BACKEND,
        )
    )


GOST2015_512 = _gost_suite(gost.GOST_2015_512)
"""NCA's GOST512_* keys: GOST 34.10-2015 512-bit with Streebog-512 (protocol.md §3)."""

GOST2015_256 = _gost_suite(gost.GOST_2015_256)
"""GOST 34.10-2015 256-bit with Streebog-256; Kalkan interoperability unproven (docs/gost.md)."""

"""The WS-Security transport signature: sign an envelope, verify one by policy.

The profile is the gateway's (protocol.md §3): one ``ds:Signature`` in ``wsse:Security``
(``mustUnderstand="1"``) in the Header, one Reference to the Body by ``wsu:Id``, exc-c14n for
SignedInfo and the Reference, SHA-256 digests, and **no Timestamp**. The key is referenced by
an embedded X509v3 ``KeyIdentifier`` by default; ``bst`` and ``issuerserial`` are options.

Verification is by :class:`VerifyPolicy`, never "the math checks out": exactly one transport
signature; its one Reference must resolve, by an Id unique in the document, to the envelope's
own top-level Body; algorithms must be allowed; the key must come from the referenced token,
with a certificate that chains to a trusted one at the time of check. The caller gets back the
verified Body, so code downstream reads only what was signed.
"""

from __future__ import annotations

import base64
import binascii
import copy
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from gateway.certpath import check_certificate
from gateway.envelope import (
    declare_wsu_on_body,
    find_body,
    find_header,
    request_message_id,
    soap_version,
)
from gateway.errors import (
    EnvelopeError,
    HostileXmlError,
    Rejection,
    SignatureError,
    VerificationError,
    XmlError,
)
from gateway.identity import Identity
from gateway.suites import (
    ECDSA_SHA256,
    EXC_C14N,
    GOST2015_256,
    GOST2015_512,
    RSA_SHA256,
    SignatureSuite,
    key_type,
    signer_key_type,
)
from gateway.xmlns import DS, SOAP11, SOAP12, WSS_BASE64, WSS_X509V3, WSSE, WSU, XML, qname
from gateway.xmlparse import has_doctype, parse_xml

__all__ = [
    "ALL_SUITES",
    "DEFAULT_MAX_ENVELOPE_BYTES",
    "DEFAULT_SUITES",
    "GOST_SUITES",
    "KeyRef",
    "Signer",
    "VerifiedEnvelope",
    "VerifyPolicy",
    "make_signer",
    "sign_envelope",
    "verify_envelope",
]

KeyRef = Literal["keyidentifier", "bst", "issuerserial"]
"""How KeyInfo points at the signer's certificate (protocol.md §3)."""

_KEY_REFS: frozenset[str] = frozenset(get_args(KeyRef))
_ID_ATTRIBUTES = (qname(WSU, "Id"), "Id", "ID", "id", qname(XML, "id"))
_BODY_ID = qname(WSU, "Id")
DEFAULT_MAX_ENVELOPE_BYTES = 16 * 1024 * 1024
_GOST_2004_URI = "http://www.w3.org/2001/04/xmldsig-more#gost34310-gost34311"


# --------------------------------------------------------------------------- signing


@dataclass(frozen=True, slots=True, kw_only=True)
class Signer:
    """A prepared signing key: the key is converted once, then signs many envelopes."""

    identity: Identity
    suite: SignatureSuite
    key_ref: KeyRef = "keyidentifier"
    prepared_key: object = field(repr=False, compare=False)
    certificate_b64: str = field(repr=False, compare=False)
    template: etree._Element = field(repr=False, compare=False)
    """``ds:Signature`` with SignedInfo and an empty SignatureValue; copied for each message."""


DEFAULT_SUITES: frozenset[SignatureSuite] = frozenset({RSA_SHA256, ECDSA_SHA256})
"""What a VerifyPolicy allows unless told otherwise: cheap to check, so a flood of forged
messages costs little."""
GOST_SUITES: frozenset[SignatureSuite] = frozenset({GOST2015_512, GOST2015_256})
"""GOST 34.10-2015, opt-in: each check is a pure-Python verification of ~0.03-0.13 s (plus one
per uncached certificate in the chain), so a sender of forged messages costs the verifier
that much. The CLI, the emulator and response checking allow them."""
ALL_SUITES: frozenset[SignatureSuite] = DEFAULT_SUITES | GOST_SUITES
"""Every suite a current NCA key signs with."""

_SUITE_FOR_KEY: dict[str, SignatureSuite] = {suite.key_type: suite for suite in ALL_SUITES}


def make_signer(
    identity: Identity, *, key_ref: KeyRef = "keyidentifier", suite: SignatureSuite | None = None
) -> Signer:
    """Prepare ``identity`` for signing; the suite follows the key type (RSA, EC, GOST) by
    default."""
    if key_ref not in _KEY_REFS:
        raise SignatureError(f"unknown key reference {key_ref!r}; use one of {sorted(_KEY_REFS)}")
    kind = key_type(identity.private_key)
    if suite is None:
        suite = _SUITE_FOR_KEY.get(kind)
        if suite is None:
            raise SignatureError(f"no signature suite for {kind} keys", file=identity.source)
    if suite.key_type != kind:
        raise SignatureError(
            f"suite {suite.name} needs a {suite.key_type} key, {identity.source} holds {kind}"
        )
    cert_der = identity.certificate.public_bytes(serialization.Encoding.DER)
    return Signer(
        identity=identity,
        suite=suite,
        key_ref=key_ref,
        prepared_key=suite.backend.prepare_key(identity, suite),
        certificate_b64=base64.b64encode(cert_der).decode("ascii"),
        template=_signature_template(suite),
    )


def _signature_template(suite: SignatureSuite) -> etree._Element:
    signature = etree.Element(qname(DS, "Signature"), nsmap={"ds": DS})
    signed_info = etree.SubElement(signature, qname(DS, "SignedInfo"))
    etree.SubElement(signed_info, qname(DS, "CanonicalizationMethod"), Algorithm=EXC_C14N)
    etree.SubElement(signed_info, qname(DS, "SignatureMethod"), Algorithm=suite.signature_uri)
    reference = etree.SubElement(signed_info, qname(DS, "Reference"), URI="")
    transforms = etree.SubElement(reference, qname(DS, "Transforms"))
    etree.SubElement(transforms, qname(DS, "Transform"), Algorithm=EXC_C14N)
    etree.SubElement(reference, qname(DS, "DigestMethod"), Algorithm=suite.digest_uri)
    etree.SubElement(reference, qname(DS, "DigestValue"))
    etree.SubElement(signature, qname(DS, "SignatureValue"))
    return signature


def sign_envelope(
    envelope: bytes | etree._Element, signer: Signer, *, source: str = "<envelope>"
) -> bytes:
    """Sign a SOAP 1.1/1.2 envelope and return it serialized once, ready for the wire.

    An element is signed in place. An existing transport signature (and the token it added)
    is replaced, never stacked. Nothing inside the Body changes: whitespace, comments and
    business signatures stay as they are, and the result is never pretty-printed.
    """
    root = _parse_for_signing(envelope, source) if isinstance(envelope, bytes) else envelope
    try:
        soap_ns = SOAP11 if soap_version(root) == "1.1" else SOAP12
        header = find_header(root, create=True)
        body = _ensure_body_id(find_body(root))
    except (EnvelopeError, SignatureError) as exc:
        raise SignatureError(
            f"cannot sign: {exc.message}",
            file=source,
            field=exc.field,
            message_id=request_message_id(root),
        ) from exc
    security = _security_header(header, soap_ns)
    _remove_transport_signatures(security)

    signature = copy.deepcopy(signer.template)
    security.append(signature)
    reference = signature.find(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    assert reference is not None  # noqa: S101  (the template has it)
    reference.set("URI", f"#{body.get(_BODY_ID)}")
    _add_key_info(signature, signer)

    try:
        signer.suite.backend.sign(signature, body, signer.prepared_key, signer.suite)
    except SignatureError as exc:
        exc.file = exc.file or source
        exc.message_id = exc.message_id or request_message_id(root)
        raise
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def _parse_for_signing(data: bytes, source: str) -> etree._Element:
    try:
        return parse_xml(data, source=source).getroot()
    except XmlError as exc:
        raise SignatureError(f"cannot sign: {exc.message}", file=exc.file, line=exc.line) from exc


def _security_header(header: etree._Element, soap_ns: str) -> etree._Element:
    """The Header's wsse:Security block, created when missing, marked mustUnderstand=1."""
    security = header.find(qname(WSSE, "Security"))
    if security is None:
        security = etree.SubElement(header, qname(WSSE, "Security"), nsmap={"wsse": WSSE})
    security.set(qname(soap_ns, "mustUnderstand"), "1")
    return security


def _remove_transport_signatures(security: etree._Element) -> None:
    """Drop earlier signatures and the BinarySecurityTokens they referenced (re-signing)."""
    for old in security.findall(qname(DS, "Signature")):
        referenced = {(ref.get("URI") or "")[1:] for ref in old.iterfind(f".//{{{WSSE}}}Reference")}
        for token in security.findall(qname(WSSE, "BinarySecurityToken")):
            if token.get(qname(WSU, "Id")) in referenced:
                security.remove(token)
        security.remove(old)


def _add_key_info(signature: etree._Element, signer: Signer) -> None:
    key_info = etree.SubElement(signature, qname(DS, "KeyInfo"))
    token_ref = etree.SubElement(key_info, qname(WSSE, "SecurityTokenReference"))
    if signer.key_ref == "keyidentifier":
        ident = etree.SubElement(
            token_ref, qname(WSSE, "KeyIdentifier"), EncodingType=WSS_BASE64, ValueType=WSS_X509V3
        )
        ident.text = signer.certificate_b64
    elif signer.key_ref == "bst":
        token_id = f"X509-{uuid.uuid4()}"
        token = etree.Element(
            qname(WSSE, "BinarySecurityToken"),
            {qname(WSU, "Id"): token_id, "EncodingType": WSS_BASE64, "ValueType": WSS_X509V3},
            nsmap={"wsu": WSU},
        )
        token.text = signer.certificate_b64
        signature.addprevious(token)
        etree.SubElement(
            token_ref, qname(WSSE, "Reference"), URI=f"#{token_id}", ValueType=WSS_X509V3
        )
    else:
        cert = signer.identity.certificate
        data = etree.SubElement(token_ref, qname(DS, "X509Data"))
        serial = etree.SubElement(data, qname(DS, "X509IssuerSerial"))
        etree.SubElement(serial, qname(DS, "X509IssuerName")).text = cert.issuer.rfc4514_string()
        etree.SubElement(serial, qname(DS, "X509SerialNumber")).text = str(cert.serial_number)


def _ensure_body_id(body: etree._Element) -> etree._Element:
    """Give the Body a ``wsu:Id`` (``wsu`` declared on the Body itself, as Java signers do).
    An existing Id is kept (re-signing), if it is unique."""
    existing = body.get(_BODY_ID)
    if existing:
        root = body.getroottree().getroot()
        if len(_elements_with_id(root, existing)) != 1:
            raise SignatureError(
                f"the Body's wsu:Id {existing!r} is not unique in the envelope",
                field="Body/@wsu:Id",
            )
        return body
    body = declare_wsu_on_body(body)
    body.set(_BODY_ID, f"id-{uuid.uuid4()}")
    return body


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyPolicy:
    """What a transport signature must satisfy to be accepted; pass it to every verify call.

    Each field says what loosening it lets an attacker do.
    """

    trusted_certs: tuple[x509.Certificate, ...]
    """Trust anchors: CA certificates, or pinned leaf certificates (a SIGEX self-signed key,
    the gateway's own certificate). Anything chaining to one of these is believed."""

    intermediates: tuple[x509.Certificate, ...] = ()
    """Untrusted certificates for building chains and resolving IssuerSerial references;
    never anchors themselves."""

    suites: frozenset[SignatureSuite] = DEFAULT_SUITES
    """Allowed signature algorithms. Add :data:`GOST_SUITES` (or use :data:`ALL_SUITES`) to
    accept NCA GOST keys, at their CPU cost. Adding RSA_SHA1 accepts collision-prone digests."""

    key_refs: frozenset[str] = _KEY_REFS
    """Accepted KeyInfo forms. Every form still needs a certificate that chains to trust."""

    time: datetime | None = None
    """Time of check (timezone-aware); None means the clock at each verify call. A fixed past
    time accepts certificates that have expired since."""

    max_bytes: int = DEFAULT_MAX_ENVELOPE_BYTES
    """Envelopes larger than this are refused before parsing."""

    max_chain_depth: int = 4
    """How many certificates a chain may have above the signer."""

    require_digital_signature: bool = True
    """Refuse signer certificates whose keyUsage lacks digitalSignature."""

    def __post_init__(self) -> None:
        if not self.trusted_certs:
            raise SignatureError("a VerifyPolicy needs at least one trusted certificate")
        if not self.suites:
            raise SignatureError("a VerifyPolicy needs at least one allowed signature suite")
        unknown = set(self.key_refs) - _KEY_REFS
        if unknown:
            raise SignatureError(f"unknown key reference forms {sorted(unknown)}")
        if self.time is not None and self.time.tzinfo is None:
            raise SignatureError("VerifyPolicy.time must be timezone-aware")
        if self.max_bytes <= 0 or self.max_chain_depth < 0:
            raise SignatureError("VerifyPolicy limits must be positive")


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedEnvelope:
    """A verification that passed. Read the payload from ``body``: it is what was signed."""

    body: etree._Element
    envelope: etree._Element
    certificate: x509.Certificate
    suite: SignatureSuite
    key_ref: str
    message_id: str | None


def verify_envelope(
    envelope: bytes | etree._Element, policy: VerifyPolicy, *, source: str = "<envelope>"
) -> VerifiedEnvelope:
    """Verify the transport signature of ``envelope`` against ``policy``.

    Raises :class:`VerificationError` whose ``reason`` names the failed check; on success the
    returned ``body`` is the element that was actually signed.
    """
    message_id: str | None = None
    try:
        root = _parse_for_verify(envelope, policy)
        message_id = request_message_id(root)
        return _verify(root, policy, message_id)
    except VerificationError as exc:
        exc.file = exc.file or source
        exc.message_id = exc.message_id or message_id
        raise


def _verify(root: etree._Element, policy: VerifyPolicy, message_id: str | None) -> VerifiedEnvelope:
    try:
        find_header(root)
        body = find_body(root)
    except EnvelopeError as exc:
        raise VerificationError(
            exc.message, reason=Rejection.MALFORMED_ENVELOPE, field=exc.field, line=exc.line
        ) from exc
    signature = _find_transport_signature(root, body)
    suite, reference_id = _check_signed_info(signature, policy)
    _check_reference_target(root, body, reference_id)
    _check_no_split_text(body)
    certificate, key_ref = _resolve_token(signature, policy)
    held = signer_key_type(certificate)
    if held != suite.key_type:
        raise VerificationError(
            f"{suite.name} signature but the certificate holds a {held} key",
            reason=Rejection.ALGORITHM_NOT_ALLOWED,
        )
    check_certificate(
        certificate,
        trusted=policy.trusted_certs,
        intermediates=policy.intermediates,
        at=policy.time or datetime.now(UTC),
        max_depth=policy.max_chain_depth,
        require_digital_signature=policy.require_digital_signature,
    )
    suite.backend.verify(signature, body, certificate, suite)
    return VerifiedEnvelope(
        body=body,
        envelope=root,
        certificate=certificate,
        suite=suite,
        key_ref=key_ref,
        message_id=message_id,
    )


def _parse_for_verify(envelope: bytes | etree._Element, policy: VerifyPolicy) -> etree._Element:
    if isinstance(envelope, bytes):
        if len(envelope) > policy.max_bytes:
            raise VerificationError(
                f"envelope is {len(envelope)} bytes, over the policy limit of {policy.max_bytes}",
                reason=Rejection.TOO_LARGE,
            )
        try:
            return parse_xml(envelope, max_bytes=policy.max_bytes).getroot()
        except XmlError as exc:
            hostile = isinstance(exc, HostileXmlError)
            raise VerificationError(
                exc.message,
                reason=Rejection.HOSTILE_XML if hostile else Rejection.MALFORMED_XML,
                line=exc.line,
            ) from exc
    if has_doctype(envelope.getroottree()):
        raise VerificationError("DOCTYPE is not allowed", reason=Rejection.HOSTILE_XML)
    if any(True for _ in envelope.iter(etree.Entity)):
        raise VerificationError("entity references are not allowed", reason=Rejection.HOSTILE_XML)
    return envelope


def _find_transport_signature(root: etree._Element, body: etree._Element) -> etree._Element:
    """The one ds:Signature outside the Body; it must sit in Header/wsse:Security.

    Signatures inside the Body belong to the payload (business signatures) and are left alone.
    """
    outside = [
        sig
        for sig in root.iter(qname(DS, "Signature"))
        if not any(ancestor is body for ancestor in sig.iterancestors())
    ]
    if not outside:
        raise VerificationError(
            "no transport signature in the envelope header", reason=Rejection.NO_SIGNATURE
        )
    if len(outside) > 1:
        raise VerificationError(
            f"{len(outside)} signatures outside the Body; the profile allows exactly one",
            reason=Rejection.MULTIPLE_SIGNATURES,
        )
    signature = outside[0]
    security = signature.getparent()
    header = security.getparent() if security is not None else None
    if (
        security is None
        or security.tag != qname(WSSE, "Security")
        or header is None
        or header is not find_header(root)
    ):
        raise VerificationError(
            f"the signature is at {_describe_path(signature)}, not in Header/wsse:Security",
            reason=Rejection.SIGNATURE_WRAPPING,
        )
    return signature


def _single(parent: etree._Element, tag: str) -> etree._Element:
    found = parent.findall(tag)
    if len(found) != 1:
        local = etree.QName(tag).localname
        raise VerificationError(
            f"expected one {local} in {etree.QName(parent).localname}, found {len(found)}",
            reason=Rejection.MALFORMED_SIGNATURE,
            field=local,
        )
    return found[0]


def _not_allowed(message: str, field: str) -> VerificationError:
    return VerificationError(message, reason=Rejection.ALGORITHM_NOT_ALLOWED, field=field)


def _check_signed_info(
    signature: etree._Element, policy: VerifyPolicy
) -> tuple[SignatureSuite, str]:
    """Allowed algorithms only, and exactly one same-document Reference; returns its Id."""
    signed_info = _single(signature, qname(DS, "SignedInfo"))
    _single(signature, qname(DS, "SignatureValue"))
    c14n = _single(signed_info, qname(DS, "CanonicalizationMethod")).get("Algorithm")
    if c14n != EXC_C14N:
        raise _not_allowed(
            f"canonicalization {c14n} is not allowed (only exc-c14n)", "CanonicalizationMethod"
        )
    method = _single(signed_info, qname(DS, "SignatureMethod"))
    if len(method):
        raise _not_allowed(
            "SignatureMethod parameters (e.g. HMACOutputLength) are not allowed", "SignatureMethod"
        )
    uri = method.get("Algorithm") or "(none)"
    allowed = {s.signature_uri: s for s in policy.suites}
    if uri == _GOST_2004_URI and uri not in allowed:
        raise _not_allowed(
            "GOST 34.310-2004 signatures cannot be checked: no maintained Python library"
            " implements GOST 34.311-95 (docs/gost.md); the gateway's own responses use them",
            "SignatureMethod",
        )
    if uri not in allowed:
        hint = " (allow GOST with VerifyPolicy(suites=ALL_SUITES))" if "pkigovkz" in uri else ""
        raise _not_allowed(
            f"signature algorithm {uri} is not allowed by the policy{hint}", "SignatureMethod"
        )
    suite = allowed[uri]
    reference = _single(signed_info, qname(DS, "Reference"))
    ref_uri = reference.get("URI") or ""
    if not ref_uri.startswith("#") or len(ref_uri) < 2:
        raise VerificationError(
            f"Reference URI {ref_uri!r} is not a same-document #Id reference",
            reason=Rejection.SIGNATURE_WRAPPING,
            field="Reference/@URI",
        )
    for transform in reference.iterfind(f"{{{DS}}}Transforms/{{{DS}}}Transform"):
        if transform.get("Algorithm") != EXC_C14N:
            raise _not_allowed(
                f"transform {transform.get('Algorithm')} is not allowed (only exc-c14n)",
                "Transform",
            )
    digest = _single(reference, qname(DS, "DigestMethod")).get("Algorithm")
    if digest != suite.digest_uri:
        raise _not_allowed(f"digest {digest} is not allowed with {suite.name}", "DigestMethod")
    return suite, ref_uri[1:]


def _check_reference_target(root: etree._Element, body: etree._Element, reference_id: str) -> None:
    """The Id must be unique in the whole document and carried by the top-level Body."""
    targets = _elements_with_id(root, reference_id)
    if len(targets) > 1:
        raise VerificationError(
            f"Id {reference_id!r} is carried by {len(targets)} elements",
            reason=Rejection.DUPLICATE_ID,
            field="Reference/@URI",
        )
    if not targets or targets[0] is not body:
        where = _describe_path(targets[0]) if targets else "nothing"
        raise VerificationError(
            f"the signed Reference #{reference_id} resolves to {where}, not the envelope's Body",
            reason=Rejection.SIGNATURE_WRAPPING,
            field="Reference/@URI",
        )
    if body.get(_BODY_ID) != reference_id:
        raise VerificationError(
            f"the Body carries #{reference_id} in an attribute other than wsu:Id",
            reason=Rejection.MALFORMED_SIGNATURE,
            field="Body/@wsu:Id",
        )


def _check_no_split_text(body: etree._Element) -> None:
    """Refuse a comment in the Body that has text after it.

    exc-c14n (without comments) leaves comments out of the digest, so anyone on the path can
    add one: ``<senderId>de<!---->mo</senderId>`` still verifies, and lxml's ``.text`` then
    reads ``de``. A comment followed only by whitespace changes nothing and is allowed.
    """
    for comment in body.iter(etree.Comment):
        if comment.tail and not comment.tail.isspace():
            parent = comment.getparent()
            where = _describe_path(parent) if parent is not None else "the Body"
            raise VerificationError(
                f"a comment inside {where} splits its text; comments are not signed",
                reason=Rejection.SIGNATURE_WRAPPING,
                field="Body",
                line=getattr(comment, "sourceline", None),  # lxml-stubs: Ellipsis
            )


def _resolve_token(signature: etree._Element, policy: VerifyPolicy) -> tuple[x509.Certificate, str]:
    """The signer certificate, taken only from what KeyInfo references."""
    key_info = signature.find(qname(DS, "KeyInfo"))
    token_ref = None if key_info is None else key_info.find(qname(WSSE, "SecurityTokenReference"))
    if key_info is None or token_ref is None or len(key_info) != 1 or len(token_ref) != 1:
        raise VerificationError(
            "KeyInfo must hold exactly one wsse:SecurityTokenReference with one reference",
            reason=Rejection.MISSING_TOKEN,
            field="KeyInfo",
        )
    child = token_ref[0]
    if child.tag == qname(WSSE, "KeyIdentifier"):
        _require_form("keyidentifier", policy)
        if child.get("ValueType") != WSS_X509V3:
            raise VerificationError(
                f"KeyIdentifier ValueType {child.get('ValueType')} is not X509v3",
                reason=Rejection.KEY_REF_NOT_ALLOWED,
                field="KeyIdentifier",
            )
        if child.get("EncodingType") not in (None, WSS_BASE64):
            raise VerificationError(
                f"KeyIdentifier EncodingType {child.get('EncodingType')} is not Base64Binary",
                reason=Rejection.MALFORMED_SIGNATURE,
                field="KeyIdentifier",
            )
        return _certificate_from_b64(child.text, "KeyIdentifier"), "keyidentifier"
    if child.tag == qname(WSSE, "Reference"):
        _require_form("bst", policy)
        return _certificate_from_token(signature, child), "bst"
    if child.tag == qname(DS, "X509Data") and len(child) == 1:
        serial = child.find(qname(DS, "X509IssuerSerial"))
        if serial is not None:
            _require_form("issuerserial", policy)
            return _certificate_from_issuer_serial(serial, policy), "issuerserial"
    raise VerificationError(
        f"unsupported token reference {etree.QName(child).localname}",
        reason=Rejection.KEY_REF_NOT_ALLOWED,
        field="SecurityTokenReference",
    )


def _certificate_from_token(
    signature: etree._Element, reference: etree._Element
) -> x509.Certificate:
    """A BinarySecurityToken referenced by a unique Id, in the signature's own Security."""
    token_id = (reference.get("URI") or "")[1:]
    root = signature.getroottree().getroot()
    matches = _elements_with_id(root, token_id) if token_id else []
    if len(matches) > 1:
        raise VerificationError(
            f"token Id {token_id!r} is not unique", reason=Rejection.DUPLICATE_ID, field="Reference"
        )
    token = matches[0] if matches else None
    if (
        token is None
        or token.tag != qname(WSSE, "BinarySecurityToken")
        or token.getparent() is not signature.getparent()
    ):
        raise VerificationError(
            f"no BinarySecurityToken #{token_id} in the signature's Security header",
            reason=Rejection.MISSING_TOKEN,
            field="Reference",
        )
    if token.get("ValueType") != WSS_X509V3:
        raise VerificationError(
            f"BinarySecurityToken ValueType {token.get('ValueType')} is not X509v3",
            reason=Rejection.KEY_REF_NOT_ALLOWED,
            field="BinarySecurityToken",
        )
    return _certificate_from_b64(token.text, "BinarySecurityToken")


def _certificate_from_issuer_serial(
    serial: etree._Element, policy: VerifyPolicy
) -> x509.Certificate:
    """IssuerSerial carries no certificate: it must be one the policy already knows."""
    issuer = (serial.findtext(qname(DS, "X509IssuerName")) or "").strip()
    number = (serial.findtext(qname(DS, "X509SerialNumber")) or "").strip()
    for cert in (*policy.trusted_certs, *policy.intermediates):
        if str(cert.serial_number) == number and _same_name(cert.issuer, issuer):
            return cert
    raise VerificationError(
        f"no configured certificate has issuer {issuer!r} and serial {number}",
        reason=Rejection.MISSING_TOKEN,
        field="X509IssuerSerial",
    )


def _require_form(form: str, policy: VerifyPolicy) -> None:
    if form not in policy.key_refs:
        raise VerificationError(
            f"key reference form {form} is not allowed by the policy",
            reason=Rejection.KEY_REF_NOT_ALLOWED,
            field="KeyInfo",
        )


def _certificate_from_b64(text: str | None, field: str) -> x509.Certificate:
    try:
        der = base64.b64decode("".join((text or "").split()), validate=True)
        return x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError) as exc:
        raise VerificationError(
            f"{field} does not hold a DER certificate",
            reason=Rejection.MALFORMED_SIGNATURE,
            field=field,
        ) from exc


def _same_name(name: x509.Name, text: str) -> bool:
    if name.rfc4514_string() == text:
        return True
    try:
        return x509.Name.from_rfc4514_string(text) == name
    except ValueError:
        return False


def _elements_with_id(root: etree._Element, value: str) -> list[etree._Element]:
    """Every element carrying ``value`` in any attribute a resolver might treat as an Id."""
    found: list[etree._Element] = []
    # XPath finds the candidates in C; lxml returns attribute values as "smart strings" that
    # know their name and element (lxml-stubs do not describe them, hence Any).
    matches: list[Any] = root.xpath("//@*[. = $value]", value=value)  # type: ignore[assignment]
    for attribute in matches:
        element = attribute.getparent()
        if attribute.attrname in _ID_ATTRIBUTES and all(e is not element for e in found):
            found.append(element)
    return found


def _describe_path(element: etree._Element) -> str:
    chain = [*reversed(list(element.iterancestors())), element]
    return "/".join(etree.QName(e).localname for e in chain)

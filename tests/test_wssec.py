"""Transport signature: signing profile, verification by policy, attacks, interop."""

from __future__ import annotations

import base64
import copy
import functools
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from lxml import etree

from gateway.errors import Rejection, SignatureError, VerificationError
from gateway.identity import Identity, load_identity_from_path
from gateway.suites import (
    ECDSA_SHA256,
    EXC_C14N,
    GOST2015_256,
    GOST2015_512,
    RSA_SHA1,
    RSA_SHA256,
    SignatureSuite,
    find_suite,
)
from gateway.testpki import IssuedCert, TestPki, make_ca
from gateway.wssec import (
    ALL_SUITES,
    DEFAULT_SUITES,
    GOST_SUITES,
    Signer,
    VerifyPolicy,
    make_signer,
    sign_envelope,
    verify_envelope,
)
from gateway.xmlns import DS, SOAP11, SOAP12, WSSE, WSU, qname

HOSTILE = Path(__file__).parent / "data" / "hostile"

SOAP11_REQUEST = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    "<soapenv:Header/>"
    '<soapenv:Body><ns3:SendMessage xmlns:ns3="http://bip.bee.kz/SyncChannel/v10/Types">'
    "<request><requestInfo><messageId>msg-0001</messageId>"
    "<serviceId>GBDFL_UniversalServiceSync</serviceId>"
    "<messageDate>2026-11-30T10:00:00.000+06:00</messageDate>"
    "<sender><senderId>demo</senderId><password>s3cret-sender</password></sender>"
    "</requestInfo><requestData>"
    '<data xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:p="urn:p" xsi:type="p:Req">'
    "\n  <p:name>Сәлем әлем — Қазақстан</p:name>\n"
    "  <p:blob>QUJD&#13;\nREVG</p:blob>"
    "<p:cdata><![CDATA[<not-xml> & stuff]]></p:cdata>"
    "<!-- a comment inside the signed Body -->"
    "</data></requestData></request></ns3:SendMessage></soapenv:Body></soapenv:Envelope>"
).encode()

SOAP12_REQUEST = (
    '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope">'
    "<env:Body><m:Ping xmlns:m='urn:ping'>Кириллица</m:Ping></env:Body></env:Envelope>"
).encode()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def signer_identity(pki: TestPki) -> Identity:
    return load_identity_from_path(pki.signer_p12, password=pki.password.encode())


@pytest.fixture(scope="module")
def signer(signer_identity: Identity) -> Signer:
    return make_signer(signer_identity)


@pytest.fixture(scope="module")
def policy(pki: TestPki) -> VerifyPolicy:
    return VerifyPolicy(trusted_certs=(pki.ca.certificate,))


@pytest.fixture(scope="module")
def signed(signer: Signer) -> bytes:
    return sign_envelope(SOAP11_REQUEST, signer)


def _identity(issued: object) -> Identity:
    return Identity(
        certificate=issued.certificate,  # type: ignore[attr-defined]
        private_key=issued.private_key,  # type: ignore[attr-defined]
        source="test",
    )


@pytest.fixture(scope="module")
def old_ca(pki: TestPki) -> IssuedCert:
    """A CA created 500 days ago, still valid, that issued a certificate now expired."""
    return make_ca(
        pki.directory / "old", "Old Test CA", now=datetime.now(UTC) - timedelta(days=500)
    )


@pytest.fixture(scope="module")
def expired_signer(pki: TestPki, old_ca: IssuedCert) -> Signer:
    now = datetime.now(UTC)
    issued = pki.issue(
        "expired",
        issuer=old_ca,
        not_before=now - timedelta(days=400),
        not_after=now - timedelta(days=1),
    )
    return make_signer(_identity(issued))


@pytest.fixture(scope="module")
def not_yet_valid_signer(pki: TestPki) -> Signer:
    now = datetime.now(UTC)
    issued = pki.issue(
        "future", not_before=now + timedelta(days=2), not_after=now + timedelta(days=400)
    )
    return make_signer(_identity(issued))


@pytest.fixture(scope="module")
def signer_from_untrusted_ca(pki: TestPki) -> Signer:
    other_ca = make_ca(pki.directory / "other", "Untrusted Test CA")
    issued = pki.issue("stranger", issuer=other_ca)
    return make_signer(_identity(issued))


def _root(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def _reject(data: bytes, policy: VerifyPolicy) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        verify_envelope(data, policy)
    return info.value


# --------------------------------------------------------------------------- the profile


def test_signed_envelope_has_the_gateway_profile(signed: bytes) -> None:
    root = _root(signed)
    header = root.find(qname(SOAP11, "Header"))
    assert header is not None
    security = header.find(qname(WSSE, "Security"))
    assert security is not None
    assert security.get(qname(SOAP11, "mustUnderstand")) == "1"
    assert [etree.QName(c).localname for c in security] == ["Signature"]
    assert root.find(f".//{{{WSU}}}Timestamp") is None
    signed_info = security.find(f"{{{DS}}}Signature/{{{DS}}}SignedInfo")
    assert signed_info is not None
    assert signed_info.find(qname(DS, "CanonicalizationMethod")).get("Algorithm") == EXC_C14N
    assert signed_info.find(qname(DS, "SignatureMethod")).get("Algorithm") == (
        RSA_SHA256.signature_uri
    )
    references = signed_info.findall(qname(DS, "Reference"))
    assert len(references) == 1
    transforms = references[0].findall(f"{{{DS}}}Transforms/{{{DS}}}Transform")
    assert [t.get("Algorithm") for t in transforms] == [EXC_C14N]
    assert references[0].find(qname(DS, "DigestMethod")).get("Algorithm") == (
        "http://www.w3.org/2001/04/xmlenc#sha256"
    )
    body = root.find(qname(SOAP11, "Body"))
    body_id = body.get(qname(WSU, "Id"))
    assert body_id.startswith("id-")
    assert references[0].get("URI") == f"#{body_id}"
    assert body.nsmap.get("wsu") == WSU  # declared on the Body, as Java signers do
    identifier = security.find(
        f"{{{DS}}}Signature/{{{DS}}}KeyInfo/{{{WSSE}}}SecurityTokenReference/{{{WSSE}}}KeyIdentifier"
    )
    assert identifier is not None
    assert identifier.get("ValueType").endswith("#X509v3")
    assert identifier.get("EncodingType").endswith("#Base64Binary")
    assert root.find(f".//{{{WSSE}}}BinarySecurityToken") is None


def test_body_bytes_reach_the_wire_unchanged(signed: bytes) -> None:
    """Whitespace, CR (&#13;), CDATA-derived text, comments and Cyrillic survive signing."""
    start = SOAP11_REQUEST.index(b"<ns3:SendMessage")
    end = SOAP11_REQUEST.index(b"</soapenv:Body>")
    assert SOAP11_REQUEST[start:end].replace(b"<![CDATA[<not-xml> & stuff]]>", b"") in (
        signed.replace(b"&lt;not-xml&gt; &amp; stuff", b"")
    )
    assert b"&#13;" in signed
    assert b"<!-- a comment inside the signed Body -->" in signed


def test_verify_returns_the_signed_body(signed: bytes, policy: VerifyPolicy, pki: TestPki) -> None:
    result = verify_envelope(signed, policy)
    assert etree.QName(result.body).localname == "Body"
    assert result.body.getparent() is result.envelope
    assert result.certificate == pki.signer.certificate
    assert result.suite is RSA_SHA256
    assert result.key_ref == "keyidentifier"
    assert result.message_id == "msg-0001"


@pytest.mark.parametrize("key_ref", ["keyidentifier", "bst", "issuerserial"])
def test_each_key_reference_form_round_trips(
    key_ref: str, signer_identity: Identity, pki: TestPki
) -> None:
    signed = sign_envelope(SOAP11_REQUEST, make_signer(signer_identity, key_ref=key_ref))  # type: ignore[arg-type]
    policy = VerifyPolicy(
        trusted_certs=(pki.ca.certificate,), intermediates=(pki.signer.certificate,)
    )
    assert verify_envelope(signed, policy).key_ref == key_ref
    if key_ref == "bst":
        root = _root(signed)
        tokens = root.findall(f".//{{{WSSE}}}BinarySecurityToken")
        assert len(tokens) == 1
        ref = root.find(f".//{{{WSSE}}}SecurityTokenReference/{{{WSSE}}}Reference")
        assert ref.get("URI") == f"#{tokens[0].get(qname(WSU, 'Id'))}"


def test_issuerserial_needs_the_certificate_from_configuration(
    signer_identity: Identity, policy: VerifyPolicy
) -> None:
    signed = sign_envelope(SOAP11_REQUEST, make_signer(signer_identity, key_ref="issuerserial"))
    assert _reject(signed, policy).reason is Rejection.MISSING_TOKEN


def test_soap12_envelope_is_signed_and_verified(signer: Signer, policy: VerifyPolicy) -> None:
    signed = sign_envelope(SOAP12_REQUEST, signer)
    root = _root(signed)
    security = root.find(f"{{{SOAP12}}}Header/{{{WSSE}}}Security")
    assert security is not None
    assert security.get(qname(SOAP12, "mustUnderstand")) == "1"
    assert verify_envelope(signed, policy).body.findtext("{urn:ping}Ping") == "Кириллица"


def test_ecdsa_key_signs_with_ecdsa_sha256(pki: TestPki) -> None:
    signer = make_signer(_identity(pki.signer_ec))
    assert signer.suite is ECDSA_SHA256
    signed = sign_envelope(SOAP11_REQUEST, signer)
    result = verify_envelope(signed, VerifyPolicy(trusted_certs=(pki.ca.certificate,)))
    assert result.suite is ECDSA_SHA256


def test_sigex_self_signed_key_verifies_when_pinned(pki: TestPki) -> None:
    signed = sign_envelope(SOAP11_REQUEST, make_signer(_identity(pki.sigex)))
    pinned = VerifyPolicy(trusted_certs=(pki.sigex.certificate,))
    assert verify_envelope(signed, pinned).certificate == pki.sigex.certificate
    ca_only = VerifyPolicy(trusted_certs=(pki.ca.certificate,))
    assert _reject(signed, ca_only).reason is Rejection.UNTRUSTED_CERTIFICATE


def test_resigning_replaces_the_transport_signature(
    signer_identity: Identity, policy: VerifyPolicy
) -> None:
    bst_signer = make_signer(signer_identity, key_ref="bst")
    once = sign_envelope(SOAP11_REQUEST, bst_signer)
    twice = sign_envelope(once, bst_signer)
    thrice = sign_envelope(twice, make_signer(signer_identity))
    root = _root(thrice)
    assert len(root.findall(f".//{{{DS}}}Signature")) == 1
    assert root.findall(f".//{{{WSSE}}}BinarySecurityToken") == []
    assert len(root.findall(f".//{{{WSSE}}}Security")) == 1
    # The Body keeps the Id it had: re-signing does not disturb anything else.
    body_id = lambda data: _root(data).find(qname(SOAP11, "Body")).get(qname(WSU, "Id"))  # noqa: E731
    assert body_id(once) == body_id(thrice)
    verify_envelope(thrice, policy)


def test_business_signature_inside_the_body_is_left_alone(
    signer: Signer, policy: VerifyPolicy
) -> None:
    business = SOAP11_REQUEST.replace(
        b"</data>",
        b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo/>'
        b"<ds:SignatureValue>AAAA&#13;\nBBBB</ds:SignatureValue></ds:Signature></data>",
    )
    signed = sign_envelope(business, signer)
    assert b"<ds:SignatureValue>AAAA&#13;\nBBBB</ds:SignatureValue>" in signed
    verify_envelope(signed, policy)


def test_comments_and_whitespace_outside_the_signed_body_are_accepted(
    signed: bytes, policy: VerifyPolicy
) -> None:
    decorated = signed.replace(b"<soapenv:Body", b"\n  <!-- relay note -->\n  <soapenv:Body", 1)
    decorated = decorated.replace(b"</soapenv:Envelope>", b"\n</soapenv:Envelope>\n")
    verify_envelope(decorated, policy)


def test_signing_refuses_what_is_not_an_envelope(signer: Signer) -> None:
    with pytest.raises(SignatureError, match="not a SOAP envelope"):
        sign_envelope(b"<a/>", signer, source="in.xml")
    with pytest.raises(SignatureError) as info:
        sign_envelope((HOSTILE / "xxe_file.xml").read_bytes(), signer, source="x.xml")
    assert "DOCTYPE" in str(info.value)
    assert "x.xml" in str(info.value)


def test_suite_key_type_mismatch_is_refused(signer_identity: Identity) -> None:
    with pytest.raises(SignatureError, match="needs a ec key"):
        make_signer(signer_identity, suite=ECDSA_SHA256)


def test_unknown_algorithm_uri_is_named() -> None:
    with pytest.raises(SignatureError, match="urn:unknown:alg"):
        find_suite("urn:unknown:alg")


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(SignatureError):
        VerifyPolicy(trusted_certs=())
    with pytest.raises(SignatureError, match="timezone-aware"):
        VerifyPolicy(trusted_certs=(_any_cert(),), time=datetime(2026, 1, 1))


def _any_cert() -> x509.Certificate:
    import tempfile

    from gateway.testpki import make_ca as _make

    return _make(Path(tempfile.mkdtemp()), "Throwaway").certificate


# --------------------------------------------------------------------------- attacks


def _signed_root(signed: bytes) -> tuple[etree._Element, etree._Element, etree._Element]:
    root = _root(signed)
    return root, root.find(qname(SOAP11, "Header")), root.find(qname(SOAP11, "Body"))


def _evil_body() -> etree._Element:
    body = etree.Element(qname(SOAP11, "Body"))
    etree.SubElement(body, "{urn:evil}TransferAllMoney").text = "to attacker"
    return body


def wrap_body_into_security_header(signed: bytes) -> bytes:
    root, header, body = _signed_root(signed)
    header.find(qname(WSSE, "Security")).append(body)
    root.append(_evil_body())
    return etree.tostring(root)


def wrap_body_into_signature_object(signed: bytes) -> bytes:
    root, _, body = _signed_root(signed)
    signature = root.find(f".//{{{DS}}}Signature")
    etree.SubElement(signature, qname(DS, "Object")).append(body)
    root.append(_evil_body())
    return etree.tostring(root)


def wrap_body_into_custom_header(signed: bytes) -> bytes:
    root, header, body = _signed_root(signed)
    etree.SubElement(header, "{urn:evil}Wrapper").append(body)
    root.append(_evil_body())
    return etree.tostring(root)


def duplicate_id_in_header(signed: bytes) -> bytes:
    root, header, body = _signed_root(signed)
    clone = copy.deepcopy(body)
    etree.SubElement(header, "{urn:evil}Wrapper").append(clone)
    return etree.tostring(root)


def duplicate_id_in_payload(signed: bytes) -> bytes:
    root, _, body = _signed_root(signed)
    body_id = body.get(qname(WSU, "Id"))
    body.find(".//requestInfo").set("Id", body_id)
    return etree.tostring(root)


def two_bodies(signed: bytes) -> bytes:
    root, _, _ = _signed_root(signed)
    root.append(_evil_body())
    return etree.tostring(root)


def two_signatures(signed: bytes) -> bytes:
    root, header, _ = _signed_root(signed)
    security = header.find(qname(WSSE, "Security"))
    header.append(copy.deepcopy(security))
    return etree.tostring(root)


def signature_outside_security(signed: bytes) -> bytes:
    root, header, _ = _signed_root(signed)
    security = header.find(qname(WSSE, "Security"))
    header.append(security.find(qname(DS, "Signature")))
    return etree.tostring(root)


def reference_to_payload_element(signed: bytes) -> bytes:
    root, _, body = _signed_root(signed)
    body.find(".//requestInfo").set(qname(WSU, "Id"), "inner")
    root.find(f".//{{{DS}}}Reference").set("URI", "#inner")
    return etree.tostring(root)


def reference_to_whole_document(signed: bytes) -> bytes:
    root, _, _ = _signed_root(signed)
    root.find(f".//{{{DS}}}Reference").set("URI", "")
    return etree.tostring(root)


def reference_to_external_uri(signed: bytes) -> bytes:
    root, _, _ = _signed_root(signed)
    root.find(f".//{{{DS}}}Reference").set("URI", "http://127.0.0.1:9/body")
    return etree.tostring(root)


def tampered_body(signed: bytes) -> bytes:
    return signed.replace("Қазақстан".encode(), b"Kazakhstan")


def comment_splitting_signed_text(signed: bytes) -> bytes:
    """exc-c14n leaves comments out of the digest; lxml's ``.text`` stops at one."""
    return signed.replace(b"<senderId>demo<", b"<senderId>de<!---->mo<")


def tampered_digest(signed: bytes) -> bytes:
    root, _, _ = _signed_root(signed)
    digest = root.find(f".//{{{DS}}}DigestValue")
    digest.text = "A" + digest.text[1:] if digest.text[0] != "A" else "B" + digest.text[1:]
    return etree.tostring(root)


def tampered_signature_value(signed: bytes) -> bytes:
    root, _, _ = _signed_root(signed)
    value = root.find(f".//{{{DS}}}SignatureValue")
    text = "".join(value.text.split())
    value.text = ("B" if text[10] == "A" else "A").join([text[:10], text[11:]])
    return etree.tostring(root)


def missing_key_info(signed: bytes) -> bytes:
    root, _, _ = _signed_root(signed)
    signature = root.find(f".//{{{DS}}}Signature")
    signature.remove(signature.find(qname(DS, "KeyInfo")))
    return etree.tostring(root)


def hmac_key_confusion(signed: bytes) -> bytes:
    root, _, _ = _signed_root(signed)
    root.find(f".//{{{DS}}}SignatureMethod").set(
        "Algorithm", "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
    )
    return etree.tostring(root)


def ecdsa_claimed_for_rsa_key(signed: bytes) -> bytes:
    root, _, _ = _signed_root(signed)
    root.find(f".//{{{DS}}}SignatureMethod").set("Algorithm", ECDSA_SHA256.signature_uri)
    return etree.tostring(root)


def inclusive_c14n(signed: bytes) -> bytes:
    root, _, _ = _signed_root(signed)
    root.find(f".//{{{DS}}}CanonicalizationMethod").set(
        "Algorithm", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    )
    return etree.tostring(root)


def xslt_transform(signed: bytes) -> bytes:
    root, _, _ = _signed_root(signed)
    transforms = root.find(f".//{{{DS}}}Transforms")
    etree.SubElement(
        transforms, qname(DS, "Transform"), Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"
    )
    return etree.tostring(root)


def two_references(signed: bytes) -> bytes:
    root, _, _ = _signed_root(signed)
    reference = root.find(f".//{{{DS}}}Reference")
    reference.addnext(copy.deepcopy(reference))
    return etree.tostring(root)


def body_id_without_wsu(signed: bytes) -> bytes:
    root, _, body = _signed_root(signed)
    body_id = body.attrib.pop(qname(WSU, "Id"))
    body.set("Id", body_id)
    return etree.tostring(root)


def not_an_envelope(signed: bytes) -> bytes:
    root, _, _ = _signed_root(signed)
    root.tag = "{urn:evil}Envelope"
    return etree.tostring(root)


ATTACKS: dict[str, tuple[Callable[[bytes], bytes], Rejection]] = {
    "body moved into Security header": (
        wrap_body_into_security_header,
        Rejection.SIGNATURE_WRAPPING,
    ),
    "body moved into ds:Object": (wrap_body_into_signature_object, Rejection.SIGNATURE_WRAPPING),
    "body moved into a custom header": (wrap_body_into_custom_header, Rejection.SIGNATURE_WRAPPING),
    "duplicate Id in header": (duplicate_id_in_header, Rejection.DUPLICATE_ID),
    "duplicate Id in payload": (duplicate_id_in_payload, Rejection.DUPLICATE_ID),
    "two bodies": (two_bodies, Rejection.MALFORMED_ENVELOPE),
    "two signatures": (two_signatures, Rejection.MULTIPLE_SIGNATURES),
    "signature outside Security": (signature_outside_security, Rejection.SIGNATURE_WRAPPING),
    "reference to a payload element": (reference_to_payload_element, Rejection.SIGNATURE_WRAPPING),
    "reference to the whole document": (reference_to_whole_document, Rejection.SIGNATURE_WRAPPING),
    "reference to an external URI": (reference_to_external_uri, Rejection.SIGNATURE_WRAPPING),
    "tampered body": (tampered_body, Rejection.DIGEST_MISMATCH),
    "comment splitting a signed text value": (
        comment_splitting_signed_text,
        Rejection.SIGNATURE_WRAPPING,
    ),
    "tampered digest": (tampered_digest, Rejection.DIGEST_MISMATCH),
    "tampered signature value": (tampered_signature_value, Rejection.BAD_SIGNATURE),
    "missing KeyInfo": (missing_key_info, Rejection.MISSING_TOKEN),
    "HMAC key confusion": (hmac_key_confusion, Rejection.ALGORITHM_NOT_ALLOWED),
    "ECDSA claimed for an RSA key": (ecdsa_claimed_for_rsa_key, Rejection.ALGORITHM_NOT_ALLOWED),
    "inclusive c14n": (inclusive_c14n, Rejection.ALGORITHM_NOT_ALLOWED),
    "XSLT transform": (xslt_transform, Rejection.ALGORITHM_NOT_ALLOWED),
    "two references": (two_references, Rejection.MALFORMED_SIGNATURE),
    "Body Id not in wsu namespace": (body_id_without_wsu, Rejection.MALFORMED_SIGNATURE),
    "not a SOAP envelope": (not_an_envelope, Rejection.MALFORMED_ENVELOPE),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_is_rejected_with_its_reason(name: str, signed: bytes, policy: VerifyPolicy) -> None:
    mutate, reason = ATTACKS[name]
    error = _reject(mutate(signed), policy)
    assert error.reason is reason, str(error)
    assert str(error).startswith(f"rejected ({reason.value})")


def test_wrapped_body_is_rejected_even_when_the_math_checks_out(
    signed: bytes, policy: VerifyPolicy, pki: TestPki
) -> None:
    """The wrapped original still has a valid signature; only the policy catches it."""
    wrapped = wrap_body_into_security_header(signed)
    cert = tmp_pem(pki)
    if shutil.which("xmlsec1"):
        assert _xmlsec1_verify(wrapped, cert, id_node="Body").returncode == 0
    assert _reject(wrapped, policy).reason is Rejection.SIGNATURE_WRAPPING


def tmp_pem(pki: TestPki) -> Path:
    return pki.signer.cert_path


@pytest.mark.parametrize("path", sorted(HOSTILE.glob("*.xml")), ids=lambda p: p.name)
def test_hostile_and_malformed_xml_is_rejected(path: Path, policy: VerifyPolicy) -> None:
    error = _reject(path.read_bytes(), policy)
    hostile = path.name.split("_")[0] in {"xxe", "billion", "external", "parameter"}
    assert error.reason is (Rejection.HOSTILE_XML if hostile else Rejection.MALFORMED_XML)


def test_too_large_is_rejected_before_parsing(signed: bytes, pki: TestPki) -> None:
    small = VerifyPolicy(trusted_certs=(pki.ca.certificate,), max_bytes=1024)
    assert _reject(signed, small).reason is Rejection.TOO_LARGE


def test_sha1_is_rejected_by_default(
    signer_identity: Identity, policy: VerifyPolicy, pki: TestPki
) -> None:
    signed = sign_envelope(SOAP11_REQUEST, make_signer(signer_identity, suite=RSA_SHA1))
    assert _reject(signed, policy).reason is Rejection.ALGORITHM_NOT_ALLOWED
    legacy = VerifyPolicy(trusted_certs=(pki.ca.certificate,), suites=frozenset({RSA_SHA1}))
    assert verify_envelope(signed, legacy).suite is RSA_SHA1


def test_untrusted_expired_and_future_certificates(
    signer_from_untrusted_ca: Signer,
    expired_signer: Signer,
    not_yet_valid_signer: Signer,
    old_ca: IssuedCert,
    pki: TestPki,
) -> None:
    policy = VerifyPolicy(trusted_certs=(pki.ca.certificate, old_ca.certificate))
    cases = [
        (signer_from_untrusted_ca, Rejection.UNTRUSTED_CERTIFICATE),
        (expired_signer, Rejection.CERTIFICATE_EXPIRED),
        (not_yet_valid_signer, Rejection.CERTIFICATE_NOT_YET_VALID),
    ]
    for signer, reason in cases:
        error = _reject(sign_envelope(SOAP11_REQUEST, signer), policy)
        assert error.reason is reason
        assert error.message_id == "msg-0001"


def test_comment_in_the_body_without_text_after_it_is_accepted(
    signed: bytes, policy: VerifyPolicy
) -> None:
    commented = signed.replace(b"<request>", b"<request><!-- unsigned, harmless -->", 1)
    assert commented != signed
    assert verify_envelope(commented, policy).body is not None


def _chain_cert(
    name: str,
    key: object,
    issuer: x509.Certificate | None,
    issuer_key: object,
    *,
    path_length: int | None = None,
    key_cert_sign: bool = True,
    ca: bool = True,
) -> x509.Certificate:
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    usage = x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca and key_cert_sign,
        crl_sign=ca and key_cert_sign,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer.subject)
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(usage, critical=True)
        .sign(issuer_key, hashes.SHA256())  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("root_path_length", "key_cert_sign", "accepted"),
    [(None, True, True), (1, True, True), (0, True, False), (None, False, False)],
    ids=["unconstrained", "pathlen-1", "pathlen-0-exceeded", "sub-ca-without-keyCertSign"],
)
def test_chain_honours_path_length_and_key_cert_sign(
    root_path_length: int | None, key_cert_sign: bool, accepted: bool
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from gateway.certpath import check_certificate

    root_key, sub_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _chain_cert("root", root_key, None, root_key, path_length=root_path_length)
    sub = _chain_cert("sub", sub_key, root, root_key, key_cert_sign=key_cert_sign)
    leaf = _chain_cert("leaf", leaf_key, sub, sub_key, ca=False)
    check = functools.partial(
        check_certificate, leaf, trusted=(root,), intermediates=(sub,), at=datetime.now(UTC)
    )
    if accepted:
        check()
    else:
        with pytest.raises(VerificationError) as error:
            check()
        assert error.value.reason is Rejection.UNTRUSTED_CERTIFICATE


def test_time_of_check_comes_from_the_policy(expired_signer: Signer, old_ca: IssuedCert) -> None:
    signed = sign_envelope(SOAP11_REQUEST, expired_signer)
    back_then = expired_signer.identity.certificate.not_valid_before_utc + timedelta(days=1)
    archived = VerifyPolicy(trusted_certs=(old_ca.certificate,), time=back_then)
    assert verify_envelope(signed, archived).certificate == expired_signer.identity.certificate


def test_swapped_token_with_another_trusted_certificate_fails_the_math(
    signed: bytes, policy: VerifyPolicy, pki: TestPki
) -> None:
    import base64

    from cryptography.hazmat.primitives import serialization

    root = _root(signed)
    identifier = root.find(f".//{{{WSSE}}}KeyIdentifier")
    other = pki.auth.certificate.public_bytes(serialization.Encoding.DER)
    identifier.text = base64.b64encode(other).decode()
    assert _reject(etree.tostring(root), policy).reason is Rejection.BAD_SIGNATURE


def test_key_ref_form_can_be_restricted(signer_identity: Identity, pki: TestPki) -> None:
    signed = sign_envelope(SOAP11_REQUEST, make_signer(signer_identity, key_ref="bst"))
    strict = VerifyPolicy(
        trusted_certs=(pki.ca.certificate,), key_refs=frozenset({"keyidentifier"})
    )
    assert _reject(signed, strict).reason is Rejection.KEY_REF_NOT_ALLOWED


def test_rejection_never_echoes_the_body_or_sender_password(
    signed: bytes, policy: VerifyPolicy
) -> None:
    for mutate, _ in ATTACKS.values():
        text = str(_reject(mutate(signed), policy))
        assert "s3cret-sender" not in text
        assert "Қазақстан" not in text


# --------------------------------------------------------------------------- interop


def _xmlsec1_verify(
    data: bytes, cert: Path, *, id_node: str = "Body"
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [
            "xmlsec1",
            "--verify",
            "--id-attr:Id",
            id_node,
            "--pubkey-cert-pem",
            str(cert),
            "--enabled-reference-uris",
            "same-doc",
            "-",
        ],
        input=data,
        capture_output=True,
        check=False,
        timeout=60,
    )


@pytest.fixture(scope="module")
def xmlsec1() -> str:
    path = shutil.which("xmlsec1")
    if path is None:
        pytest.fail("xmlsec1 is not installed: bin/setup installs the Debian package xmlsec1")
    return path


@pytest.mark.parametrize("key_ref", ["keyidentifier", "bst", "issuerserial"])
@pytest.mark.parametrize("envelope", [SOAP11_REQUEST, SOAP12_REQUEST], ids=["soap11", "soap12"])
def test_xmlsec1_command_line_verifies_what_we_sign(
    xmlsec1: str, key_ref: str, envelope: bytes, signer_identity: Identity, pki: TestPki
) -> None:
    signed = sign_envelope(envelope, make_signer(signer_identity, key_ref=key_ref))  # type: ignore[arg-type]
    result = _xmlsec1_verify(signed, pki.signer.cert_path)
    assert result.returncode == 0, result.stderr.decode()
    assert b"OK" in result.stdout + result.stderr
    # ... and it is not a rubber stamp: a changed Body fails there too.
    broken = signed.replace("Кириллица".encode(), b"x").replace("Қазақстан".encode(), b"x")
    assert _xmlsec1_verify(broken, pki.signer.cert_path).returncode != 0


def test_xmlsec1_verifies_ecdsa(xmlsec1: str, pki: TestPki) -> None:
    signed = sign_envelope(SOAP11_REQUEST, make_signer(_identity(pki.signer_ec)))
    result = _xmlsec1_verify(signed, pki.signer_ec.cert_path)
    assert result.returncode == 0, result.stderr.decode()


def _kalkan_leaf(path: Path) -> x509.Certificate:
    import base64

    root = etree.fromstring(path.read_bytes())
    text = root.findtext(f".//{{{WSSE}}}KeyIdentifier")
    return x509.load_der_x509_certificate(base64.b64decode(text))


@pytest.mark.parametrize(
    "name", ["ncanode_wsse_rsa_sha256.xml", "ncanode_postman_XML_verifyWithSecurityHeader.xml"]
)
def test_real_ncanode_signatures_verify(kalkan_samples: Path, name: str) -> None:
    """Signatures made by Kalkan-based NCANode, with &#13;-wrapped base64, pass our policy."""
    path = kalkan_samples / "xml" / name
    leaf = _kalkan_leaf(path)
    policy = VerifyPolicy(
        trusted_certs=(leaf,), time=leaf.not_valid_before_utc + timedelta(days=30)
    )
    result = verify_envelope(path.read_bytes(), policy, source=name)
    assert result.suite is RSA_SHA256
    assert result.key_ref == "keyidentifier"
    root = _root(path.read_bytes())
    body = root.find(qname(SOAP11, "Body"))
    first_text = next(e for e in body.iter() if e.text and e.text.strip())
    first_text.text = "tampered"
    assert _reject(etree.tostring(root), policy).reason is Rejection.DIGEST_MISMATCH


def test_real_ncanode_signature_is_rejected_once_expired(kalkan_samples: Path) -> None:
    path = kalkan_samples / "xml" / "ncanode_wsse_rsa_sha256.xml"
    leaf = _kalkan_leaf(path)
    policy = VerifyPolicy(trusted_certs=(leaf,))
    assert _reject(path.read_bytes(), policy).reason is Rejection.CERTIFICATE_EXPIRED


def test_we_sign_the_ncanode_unsigned_input(
    kalkan_samples: Path, signer: Signer, policy: VerifyPolicy, xmlsec1: str, pki: TestPki
) -> None:
    data = (kalkan_samples / "xml" / "ncanode_wsse_unsigned_input.xml").read_bytes()
    signed = sign_envelope(data, signer)
    verify_envelope(signed, policy)
    assert _xmlsec1_verify(signed, pki.signer.cert_path).returncode == 0


# --------------------------------------------------------------------------- backends


def _values(signed: bytes) -> tuple[str, bytes]:
    import base64

    root = _root(signed)
    digest = root.findtext(f".//{{{DS}}}DigestValue")
    value = base64.b64decode("".join(root.findtext(f".//{{{DS}}}SignatureValue").split()))
    return digest, value


@pytest.mark.parametrize("envelope", [SOAP11_REQUEST, SOAP12_REQUEST], ids=["soap11", "soap12"])
def test_library_and_xmlsec_backends_sign_byte_identically(
    envelope: bytes, signer_identity: Identity
) -> None:
    """RSA PKCS#1 v1.5 is deterministic: two correct implementations must agree exactly."""
    import dataclasses

    from gateway.suites import LIBRARY_BACKEND, XMLSEC_BACKEND

    library = make_signer(
        signer_identity, suite=dataclasses.replace(RSA_SHA256, backend=LIBRARY_BACKEND)
    )
    reference = make_signer(
        signer_identity, suite=dataclasses.replace(RSA_SHA256, backend=XMLSEC_BACKEND)
    )
    ours = sign_envelope(envelope, library)
    theirs = sign_envelope(ours, reference)  # same Body Id: re-signing keeps it
    assert _values(ours) == _values(theirs)
    assert sign_envelope(theirs, library) == ours


def test_both_backends_produce_ecdsa_that_libxmlsec1_accepts(pki: TestPki, xmlsec1: str) -> None:
    """ECDSA is randomised, so the two cannot be compared byte for byte; both must verify."""
    import dataclasses

    from gateway.suites import LIBRARY_BACKEND, XMLSEC_BACKEND

    identity = _identity(pki.signer_ec)
    policy = VerifyPolicy(trusted_certs=(pki.ca.certificate,))
    for backend in (LIBRARY_BACKEND, XMLSEC_BACKEND):
        suite = dataclasses.replace(ECDSA_SHA256, backend=backend)
        signed = sign_envelope(SOAP11_REQUEST, make_signer(identity, suite=suite))
        assert verify_envelope(signed, policy).suite == ECDSA_SHA256
        assert _xmlsec1_verify(signed, pki.signer_ec.cert_path).returncode == 0


def test_nca_long_cyrillic_names_do_not_warn(kalkan_samples: Path) -> None:
    """cryptography counts UTF-8 bytes against the 64-character limit of NCA's names; a user
    of `shep verify` must not see that warning for every message."""
    import warnings

    from gateway.identity import load_certificates_from_path

    path = kalkan_samples / "xml" / "ncanode_wsse_rsa_sha256.xml"
    leaf = _kalkan_leaf(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        policy = VerifyPolicy(
            trusted_certs=load_certificates_from_path(kalkan_samples / "certs"),
            time=leaf.not_valid_before_utc + timedelta(days=30),
        )
        assert verify_envelope(path.read_bytes(), policy).certificate == leaf


# --------------------------------------------------------------------------- GOST 34.10-2015


@pytest.fixture(scope="module")
def gost_policy(pki: TestPki) -> VerifyPolicy:
    return VerifyPolicy(trusted_certs=(pki.gost_ca.certificate,), suites=ALL_SUITES)


@pytest.fixture(scope="module")
def gost_signed(pki: TestPki) -> bytes:
    return sign_envelope(SOAP11_REQUEST, make_signer(_identity(pki.signer_gost)))


@pytest.mark.parametrize(
    ("which", "suite", "size"),
    [("signer_gost", GOST2015_512, 128), ("signer_gost256", GOST2015_256, 64)],
)
def test_gost_keys_sign_with_the_pkigovkz_suite(
    which: str, suite: SignatureSuite, size: int, pki: TestPki, gost_policy: VerifyPolicy
) -> None:
    signer = make_signer(_identity(getattr(pki, which)))
    assert signer.suite is suite
    signed = sign_envelope(SOAP11_REQUEST, signer)
    root = _root(signed)
    method = root.find(f".//{{{DS}}}SignatureMethod")
    digest = root.find(f".//{{{DS}}}DigestMethod")
    assert method is not None
    assert digest is not None
    bits = suite.name.rsplit("-", 1)[1]
    pkigovkz = "urn:ietf:params:xml:ns:pkigovkz:xmlsec:algorithms:"
    assert method.get("Algorithm") == f"{pkigovkz}gostr34102015-gostr34112015-{bits}"
    assert digest.get("Algorithm") == f"{pkigovkz}gostr34112015-{bits}"
    value = "".join((root.findtext(f".//{{{DS}}}SignatureValue") or "").split())
    assert len(base64.b64decode(value)) == size
    assert b"QUJD&#13;\nREVG" in signed  # the signed Body reaches the wire unchanged
    result = verify_envelope(signed, gost_policy)
    assert result.suite is suite
    assert result.message_id == "msg-0001"


@pytest.mark.parametrize("key_ref", ["keyidentifier", "bst", "issuerserial"])
def test_gost_key_reference_forms_round_trip(key_ref: str, pki: TestPki) -> None:
    signer = make_signer(_identity(pki.signer_gost256), key_ref=key_ref)  # type: ignore[arg-type]
    signed = sign_envelope(SOAP11_REQUEST, signer)
    policy = VerifyPolicy(
        trusted_certs=(pki.gost_ca.certificate,),
        intermediates=(pki.signer_gost256.certificate,),
        suites=ALL_SUITES,
    )
    assert verify_envelope(signed, policy).key_ref == key_ref


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attacks_on_gost_signatures_are_rejected(
    name: str, gost_signed: bytes, gost_policy: VerifyPolicy
) -> None:
    mutate, reason = ATTACKS[name]
    if name == "tampered digest":
        # The GOST backend checks SignedInfo before hashing the Body (Streebog is slow), so a
        # changed DigestValue fails as the signature over SignedInfo.
        reason = Rejection.BAD_SIGNATURE
    error = _reject(mutate(gost_signed), gost_policy)
    assert error.reason is reason, str(error)


def _claim(signed: bytes, signature_uri: str, digest_uri: str | None = None) -> bytes:
    root = _root(signed)
    method = root.find(f".//{{{DS}}}SignatureMethod")
    assert method is not None
    old = method.get("Algorithm")
    method.set("Algorithm", signature_uri)
    if digest_uri is not None:
        digest = root.find(f".//{{{DS}}}DigestMethod")
        assert digest is not None
        digest.set("Algorithm", digest_uri)
    assert old != signature_uri
    return etree.tostring(root)


def test_gost_key_confusion_is_refused(
    signed: bytes, gost_signed: bytes, pki: TestPki, gost_policy: VerifyPolicy
) -> None:
    both = VerifyPolicy(
        trusted_certs=(pki.ca.certificate, pki.gost_ca.certificate), suites=ALL_SUITES
    )
    # An RSA certificate under a GOST algorithm, a GOST certificate under RSA,
    confused = [
        _claim(signed, GOST2015_512.signature_uri, GOST2015_512.digest_uri),
        _claim(gost_signed, RSA_SHA256.signature_uri, RSA_SHA256.digest_uri),
        # ...and a 512-bit key under the 256-bit algorithm.
        _claim(gost_signed, GOST2015_256.signature_uri, GOST2015_256.digest_uri),
    ]
    for data in confused:
        assert _reject(data, both).reason is Rejection.ALGORITHM_NOT_ALLOWED
    # GOST signature with a SHA-256 digest method: not a suite's pair.
    mixed = _claim(gost_signed, GOST2015_512.signature_uri + "-x", None)
    assert _reject(mixed, gost_policy).reason is Rejection.ALGORITHM_NOT_ALLOWED


def test_gost_is_opt_in(gost_signed: bytes, pki: TestPki) -> None:
    """The default policy allows only the cheap suites; the refusal says how to allow GOST."""
    assert {RSA_SHA256, ECDSA_SHA256} == DEFAULT_SUITES
    assert (
        ALL_SUITES == DEFAULT_SUITES | GOST_SUITES == DEFAULT_SUITES | {GOST2015_512, GOST2015_256}
    )
    default = VerifyPolicy(trusted_certs=(pki.gost_ca.certificate,))
    error = _reject(gost_signed, default)
    assert error.reason is Rejection.ALGORITHM_NOT_ALLOWED
    assert "suites=ALL_SUITES" in str(error)
    rsa_only = VerifyPolicy(
        trusted_certs=(pki.gost_ca.certificate,), suites=frozenset({RSA_SHA256})
    )
    assert _reject(gost_signed, rsa_only).reason is Rejection.ALGORITHM_NOT_ALLOWED


def test_gost_signature_from_an_untrusted_gost_ca(gost_signed: bytes, pki: TestPki) -> None:
    stranger_ca = make_ca(pki.directory / "gost-other", "Other GOST CA", key_type="gost2015-256")
    issued = pki.issue("gost stranger", key_type="gost2015-256", issuer=stranger_ca)
    signed = sign_envelope(SOAP11_REQUEST, make_signer(_identity(issued)))
    policy = VerifyPolicy(trusted_certs=(pki.gost_ca.certificate,), suites=ALL_SUITES)
    assert _reject(signed, policy).reason is Rejection.UNTRUSTED_CERTIFICATE
    # Same subject name as the trusted CA, different key: names alone do not chain.
    impostor_ca = make_ca(
        pki.directory / "gost-impostor",
        "impostor",
        common_name=pki.gost_ca.certificate.subject.rfc4514_string().split("CN=")[1].split(",")[0],
        key_type="gost2015-512",
    )
    forged = pki.issue("gost forged", key_type="gost2015-512", issuer=impostor_ca)
    signed = sign_envelope(SOAP11_REQUEST, make_signer(_identity(forged)))
    assert _reject(signed, policy).reason is Rejection.UNTRUSTED_CERTIFICATE


def test_gost_2004_signatures_are_refused_with_the_reason(
    signed: bytes, policy: VerifyPolicy
) -> None:
    """The gateway's own (WSS4J, GOST 34.310-2004) signatures: named, not silently unknown."""
    legacy = _claim(
        signed,
        "http://www.w3.org/2001/04/xmldsig-more#gost34310-gost34311",
        "http://www.w3.org/2001/04/xmldsig-more#gost34311",
    )
    error = _reject(legacy, policy)
    assert error.reason is Rejection.ALGORITHM_NOT_ALLOWED
    assert "GOST 34.310-2004" in str(error)
    assert "docs/gost.md" in str(error)


def test_gost_body_is_hashed_only_under_a_valid_signature(
    pki: TestPki, gost_policy: VerifyPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streebog costs seconds per MiB in pure Python: a sender without the signer's key (here:
    a forged SignatureValue over a big Body) must not make the verifier hash the Body."""
    from gateway import gost

    big = SOAP11_REQUEST.replace(b"<p:name>", b"<p:pad>" + b"x" * 200_000 + b"</p:pad><p:name>")
    signed = sign_envelope(big, make_signer(_identity(pki.signer_gost256)))
    hashed: list[int] = []
    real = gost.streebog

    def counting(data: bytes, bits: int = 512) -> bytes:
        hashed.append(len(data))
        return real(data, bits)

    monkeypatch.setattr(gost, "streebog", counting)
    forged = tampered_signature_value(signed)
    assert _reject(forged, gost_policy).reason is Rejection.BAD_SIGNATURE
    assert max(hashed) < 10_000  # SignedInfo and certificates only, never the Body
    hashed.clear()
    assert verify_envelope(signed, gost_policy).suite is GOST2015_256
    assert max(hashed) > 200_000  # the Body, once the signature held

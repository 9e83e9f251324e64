"""GOST 34.10-2015 / Streebog: known answers, real Kalkan signatures, byte layouts, round trips.

The Kalkan-made data (../shared/kalkan-samples, from the public malikzh/NCANode repository,
docs/gost.md) is the strongest evidence here: a CMS and an XML signature made by NCA's own
SDK verify with our layout, and our encoding of the container's key is byte-identical to
NCA's.
"""

from __future__ import annotations

import base64
import copy
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asn1crypto import cms
from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from gostcrypto import gostsignature
from lxml import etree

from gateway import gost, pkcs12
from gateway.certpath import check_certificate
from gateway.errors import IdentityError, Rejection, SignatureError, VerificationError
from gateway.identity import load_certificates_from_path, load_identity_from_path
from gateway.suites import GOST2015_512, signer_key_type
from gateway.testpki import TestPki

DS = "http://www.w3.org/2000/09/xmldsig#"
NCA_GOST_PASSWORD = b"Aa123456"
KALKAN_TIME = datetime(2023, 1, 1, tzinfo=UTC)  # inside the test certificates' validity


# ------------------------------------------------------------------ round trips and layout


@pytest.mark.parametrize("params", [gost.GOST_2015_512, gost.GOST_2015_256])
def test_round_trip(params: gost.GostParams) -> None:
    key = gost.generate_private_key(params)
    public = key.public_key()
    data = b"<soap:Body>payload</soap:Body>"
    signature = key.sign(data)
    assert len(signature) == 2 * params.size
    assert public.verify(data, signature)
    assert not public.verify(data + b" ", signature)
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    assert not public.verify(data, flipped)
    other = gost.generate_private_key(params).public_key()
    assert not other.verify(data, signature)
    # Randomised: two signatures of the same data differ, both verify.
    again = key.sign(data)
    assert again != signature
    assert public.verify(data, again)


def test_wrong_lengths_do_not_verify() -> None:
    key = gost.generate_private_key(gost.GOST_2015_256)
    signature = key.sign(b"x")
    public = key.public_key()
    assert not public.verify(b"x", signature[:-1])
    assert not public.verify(b"x", signature + b"\x00")
    assert not public.verify_digest(b"\x00" * 64, signature)  # a 512-bit digest
    with pytest.raises(SignatureError, match="32-byte digests"):
        key.sign_digest(b"\x00" * 64)
    assert not public.verify(b"x", b"\x00" * 64)  # r = s = 0 is out of range


def test_layout_is_little_endian_r_then_s() -> None:
    """Our r‖s little-endian value, reversed whole, is RFC 4491's s‖r big-endian one, which
    gostcrypto (big-endian throughout, digest read big-endian) checks against the reversed
    digest and the big-endian point."""
    key = gost.generate_private_key(gost.GOST_2015_512)
    digest = gost.streebog(b"layout")
    signature = key.sign_digest(digest)
    size = 64
    r_le, s_le = signature[:size], signature[size:]
    point = key.public_key().point
    library = gost._signer(gost.GOST_2015_512)
    public_be = bytearray(point[:size][::-1] + point[size:][::-1])
    assert library.verify(public_be, bytearray(digest[::-1]), bytearray(r_le[::-1] + s_le[::-1]))
    # The same bytes read the other way round are not a signature.
    assert not library.verify(public_be, bytearray(digest), bytearray(r_le[::-1] + s_le[::-1]))
    assert not library.verify(public_be, bytearray(digest[::-1]), bytearray(r_le + s_le))


def test_faster_inverse_agrees_with_the_library() -> None:
    """gateway.gost replaces gostcrypto's recursive modular inverse with pow(x, -1, n): the
    public keys (scalar multiplications, inverses at every step) must be the same."""
    from gostcrypto import gostsignature

    params = gost.GOST_2015_512
    key = gost.generate_private_key(params)
    curve = gostsignature.CURVES_R_1323565_1_024_2019[params.curve]
    original = gostsignature.new(gostsignature.MODE_512, curve)
    point = original.public_key_generate(bytearray(key.scalar[::-1]))
    ours = key.public_key().point
    assert bytes(point) == ours[:64][::-1] + ours[64:][::-1]


def test_private_key_validation() -> None:
    with pytest.raises(IdentityError, match="not a valid gost2015-512 private key"):
        gost.GostPrivateKey(gost.GOST_2015_512, b"\x00" * 64)
    with pytest.raises(IdentityError, match="not a valid gost2015-256 private key"):
        gost.GostPrivateKey(gost.GOST_2015_256, b"\x01" * 31)
    key = gost.generate_private_key(gost.GOST_2015_256)
    assert key.scalar.hex() not in repr(key)
    assert gost.load_private_key_info(key.private_key_info()) == key


def test_unknown_gost_algorithms_are_named() -> None:
    with pytest.raises(IdentityError, match=r"unsupported GOST key algorithm 1\.2\.398\.3\.10\.9"):
        gost.find_params("1.2.398.3.10.9")
    with pytest.raises(IdentityError, match=r"curve parameters 1\.2\.398\.3\.10\.1\.1\.2\.2\.9"):
        gost.find_params("1.2.398.3.10.1.1.2.2", "1.2.398.3.10.1.1.2.2.9")
    with pytest.raises(IdentityError, match=r"GOST 34\.310-2004"):
        gost.find_params("1.2.398.3.10.1.1.1.1")


# ------------------------------------------------------------ generated certificates


def test_generated_gost_certificates_chain(pki: TestPki) -> None:
    for issued in (pki.signer_gost, pki.signer_gost256):
        cert = issued.certificate
        assert gost.is_gost_certificate(cert)
        assert gost.verify_certificate_signature(cert, pki.gost_ca.certificate)
        assert not gost.verify_certificate_signature(cert, cert)  # not self-signed
        check_certificate(cert, trusted=[pki.gost_ca.certificate], at=pki.now)
        with pytest.raises(VerificationError) as caught:
            check_certificate(cert, trusted=[pki.ca.certificate], at=pki.now)
        assert caught.value.reason == Rejection.UNTRUSTED_CERTIFICATE
    assert gost.verify_certificate_signature(pki.gost_ca.certificate, pki.gost_ca.certificate)
    assert not gost.is_gost_certificate(pki.signer.certificate)


def test_forged_gost_certificate_does_not_chain(pki: TestPki) -> None:
    """A certificate whose tbs was changed after signing (here: the serial) is not issued by
    the CA any more, though every name still matches."""
    der = bytearray(pki.signer_gost.certificate.public_bytes(Encoding.DER))
    serial = pki.signer_gost.certificate.serial_number.to_bytes(20, "big").lstrip(b"\x00")
    at = bytes(der).index(serial)
    der[at] ^= 0x01
    forged = x509.load_der_x509_certificate(bytes(der))
    assert not gost.verify_certificate_signature(forged, pki.gost_ca.certificate)
    with pytest.raises(VerificationError) as caught:
        check_certificate(forged, trusted=[pki.gost_ca.certificate], at=pki.now)
    assert caught.value.reason == Rejection.UNTRUSTED_CERTIFICATE


# ------------------------------------------------------------- real NCA / Kalkan data


_C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
_C14N_COMMENTS = _C14N + "#WithComments"
_EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"


def _b64(element: etree._Element, path: str) -> bytes:
    return base64.b64decode("".join((element.findtext(path) or "").split()))


def _canonical(node: etree._Element | etree._ElementTree, algorithm: str) -> bytes:
    """The three c14n forms Kalkan uses, by lxml (libxml2), as a verifier would run them."""
    if algorithm == _EXC_C14N:
        return etree.tostring(node, method="c14n", exclusive=True)
    assert algorithm in (_C14N, _C14N_COMMENTS), algorithm
    return etree.tostring(node, method="c14n", with_comments=algorithm == _C14N_COMMENTS)


def _check_kalkan_xml(path: Path) -> tuple[gost.GostPublicKey, bytes, bytes]:
    """Core validation of the one GOST signature in a Kalkan-signed XML document, written out
    step by step so the test shows each layout fact; returns (key, SignedInfo c14n, value)."""
    tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    (signature,) = [
        s
        for s in tree.iter(f"{{{DS}}}Signature")
        if "pkigovkz" in (s.find(f".//{{{DS}}}SignatureMethod").get("Algorithm") or "")  # type: ignore[union-attr]
    ]
    signed_info = signature.find(f"{{{DS}}}SignedInfo")
    assert signed_info is not None
    uri = lambda name: signed_info.find(f".//{{{DS}}}{name}").get("Algorithm")  # type: ignore[union-attr]  # noqa: E731
    assert uri("SignatureMethod") == GOST2015_512.signature_uri
    assert uri("DigestMethod") == GOST2015_512.digest_uri
    reference = signed_info.find(f"{{{DS}}}Reference")
    assert reference is not None
    transforms = [t.get("Algorithm") for t in reference.iter(f"{{{DS}}}Transform")]

    # The referenced data: the whole document (URI="") or one element by Id.
    target_uri = reference.get("URI") or ""
    document = copy.deepcopy(tree)
    if _ENVELOPED in transforms:
        (own,) = [
            s
            for s in document.iter(f"{{{DS}}}Signature")
            if s.findtext(f"{{{DS}}}SignatureValue")
            == signature.findtext(f"{{{DS}}}SignatureValue")
        ]
        own.getparent().remove(own)  # type: ignore[union-attr]
    node: etree._Element | etree._ElementTree = document
    if target_uri:
        (node,) = document.xpath("//*[@Id=$id]", id=target_uri.removeprefix("#"))  # type: ignore[misc]
    (c14n,) = [t for t in transforms if t != _ENVELOPED]
    # DigestValue holds the Streebog output as returned, not reversed.
    assert gost.streebog(_canonical(node, c14n)) == _b64(signed_info, f".//{{{DS}}}DigestValue")

    cert = x509.load_der_x509_certificate(_b64(signature, f".//{{{DS}}}X509Certificate"))
    public = gost.certificate_public_key(cert)
    assert public.key_type == "gost2015-512"
    canonical = _canonical(signed_info, uri("CanonicalizationMethod") or "")
    value = _b64(signature, f"{{{DS}}}SignatureValue")
    assert len(value) == 128
    assert public.verify(canonical, value)
    return public, canonical, value


def _project_kalkan(name: str) -> Path:
    return Path(__file__).parent / "data" / "kalkan" / name


@pytest.mark.parametrize(
    "name", ["mitwork-kalkan_xml_gost2015.xml", "ncalayer-rs_test_gost512.xml_xpath.xml"]
)
def test_real_kalkan_xml_signatures_verify(name: str) -> None:
    public, canonical, value = _check_kalkan_xml(_project_kalkan(name))
    # The other byte orders do not verify: the layout is pinned, not guessed.
    assert not public.verify(canonical, value[::-1])
    assert not public.verify(canonical, value[64:] + value[:64])
    assert not public.verify(canonical, value[:64][::-1] + value[64:][::-1])
    assert not public.verify(canonical + b"\n", value)


def test_real_ncanode_xml_signature_verifies(kalkan_samples: Path) -> None:
    """NCANode's two-signer document: the GOST signature, made after the RSA one, covers it."""
    _check_kalkan_xml(kalkan_samples / "xml" / "ncanode_xmldsig_rsa+gost2015_512_two_signers.xml")


def test_kalkan_vector_from_ncalayer_rs() -> None:
    """A complete Kalkan JCE vector: our key encoding, public point, SPKI DER, digest order and
    signature layout all reproduce it byte for byte."""
    fields = dict(
        line.split("=", 1)
        for line in _project_kalkan("ncalayer-rs_test_gost512.vectors").read_text().splitlines()
    )
    big_endian = lambda name: bytes.fromhex(fields[name].rjust(128, "0"))  # noqa: E731
    key = gost.GostPrivateKey(gost.GOST_2015_512, big_endian("d")[::-1])
    public = key.public_key()
    assert public.point == big_endian("qx")[::-1] + big_endian("qy")[::-1]
    assert gost.public_key_info(public) == bytes.fromhex(fields["spki"])
    digest = bytes.fromhex(fields["digest"])
    assert gost.streebog(fields["msg"].encode()) == digest
    assert public.verify_digest(digest, bytes.fromhex(fields["sig"]))
    assert public.verify(fields["msg"].encode(), bytes.fromhex(fields["sig"]))
    assert fields["sigalg_oid"] == gost.GOST_2015_512.signature_oid
    assert public.verify(bytes.fromhex(fields["cert_tbs"]), bytes.fromhex(fields["cert_sig"]))
    # And what we sign with that key, Kalkan's verifier would read the same way.
    ours = key.sign_digest(digest)
    assert public.verify_digest(digest, ours)


# ------------------------------------------------------------------ known-answer tests

M1 = b"012345678901234567890123456789012345678901234567890123456789012"
M2 = "Се ветри, Стрибожи внуци, веютъ с моря стрелами на храбрыя плъкы Игоревы".encode("cp1251")  # noqa: RUF001


@pytest.mark.parametrize(
    ("message", "bits", "rfc_hex"),
    [
        (
            M1,
            512,
            "1b54d01a4af5b9d5cc3d86d68d285462b19abc2475222f35c085122be4ba1ffa"
            "00ad30f8767b3a82384c6574f024c311e2a481332b08ef7f41797891c1646f48",
        ),
        (M1, 256, "9d151eefd8590b89daa6ba6cb74af9275dd051026bb149a452fd84e5e57b5500"),
        (
            M2,
            512,
            "1e88e62226bfca6f9994f1f2d51569e0daf8475a3b0fe61a5300eee46d961376"
            "035fe83549ada2b8620fcd7c496ce5b33f0cb9dddc2b6460143b03dabac9fb28",
        ),
        (M2, 256, "9dd2fe4e90409e5da87f53976d7405b0c0cac628fc669a741d50063c557e8f50"),
    ],
    ids=["M1-512", "M1-256", "M2-512", "M2-256"],
)
def test_streebog_rfc6986(message: bytes, bits: int, rfc_hex: str) -> None:
    """RFC 6986 §10 examples. The RFC prints messages and hashes as big-endian numbers; the
    byte strings here are what implementations (and Kalkan) take and return: reversed."""
    assert len(message) in (63, 72)
    assert gost.streebog(message, bits) == bytes.fromhex(rfc_hex)


_RFC7091 = {
    256: {
        "p": "8000000000000000000000000000000000000000000000000000000000000431",
        "a": "7",
        "b": "5FBFF498AA938CE739B8E022FBAFEF40563F6E6A3472FC2A514C0CE9DAE23B7E",
        "q": "8000000000000000000000000000000150FE8A1892976154C59CFC193ACCF5B3",
        "x": "2",
        "y": "08E2A8A0E65147D4BD6316030E16D19C85C97F0A9CA267122B96ABBCEA7E8FC8",
        "d": "7A929ADE789BB9BE10ED359DD39A72C11B60961F49397EEE1D19CE9891EC3B28",
        "Qx": "7F2B49E270DB6D90D8595BEC458B50C58585BA1D4E9B788F6689DBD8E56FD80B",
        "Qy": "26F1B489D6701DD185C8413A977B3CBBAF64D1C593D26627DFFB101A87FF77DA",
        "e": "2DFBC1B372D89A1188C09C52E0EEC61FCE52032AB1022E8E67ECE6672B043EE5",
        "k": "77105C9B20BCD3122823C8CF6FCC7B956DE33814E95B7FE64FED924594DCEAB3",
        "r": "41AA28D2F1AB148280CD9ED56FEDA41974053554A42767B83AD043FD39DC0493",
        "s": "01456C64BA4642A1653C235A98A60249BCD6D3F746B631DF928014F6C5BF9C40",
    },
    512: {
        "p": "4531ACD1FE0023C7550D267B6B2FEE80922B14B2FFB90F04D4EB7C09B5D2D15D"
        "F1D852741AF4704A0458047E80E4546D35B8336FAC224DD81664BBF528BE6373",
        "a": "7",
        "b": "1CFF0806A31116DA29D8CFA54E57EB748BC5F377E49400FDD788B649ECA1AC43"
        "61834013B2AD7322480A89CA58E0CF74BC9E540C2ADD6897FAD0A3084F302ADC",
        "q": "4531ACD1FE0023C7550D267B6B2FEE80922B14B2FFB90F04D4EB7C09B5D2D15D"
        "A82F2D7ECB1DBAC719905C5EECC423F1D86E25EDBE23C595D644AAF187E6E6DF",
        "x": "24D19CC64572EE30F396BF6EBBFD7A6C5213B3B3D7057CC825F91093A68CD762"
        "FD60611262CD838DC6B60AA7EEE804E28BC849977FAC33B4B530F1B120248A9A",
        "y": "2BB312A43BD2CE6E0D020613C857ACDDCFBF061E91E5F2C3F32447C259F39B2C"
        "83AB156D77F1496BF7EB3351E1EE4E43DC1A18B91B24640B6DBB92CB1ADD371E",
        "d": "0BA6048AADAE241BA40936D47756D7C93091A0E8514669700EE7508E508B1020"
        "72E8123B2200A0563322DAD2827E2714A2636B7BFD18AADFC62967821FA18DD4",
        "Qx": "115DC5BC96760C7B48598D8AB9E740D4C4A85A65BE33C1815B5C320C854621DD"
        "5A515856D13314AF69BC5B924C8B4DDFF75C45415C1D9DD9DD33612CD530EFE1",
        "Qy": "37C7C90CD40B0F5621DC3AC1B751CFA0E2634FA0503B3D52639F5D7FB72AFD61"
        "EA199441D943FFE7F0C70A2759A3CDB84C114E1F9339FDF27F35ECA93677BEEC",
        "e": "3754F3CFACC9E0615C4F4A7C4D8DAB531B09B6F9C170C533A71D147035B0C591"
        "7184EE536593F4414339976C647C5D5A407ADEDB1D560C4FC6777D2972075B8C",
        "k": "0359E7F4B1410FEACC570456C6801496946312120B39D019D455986E364F3658"
        "86748ED7A44B3E794434006011842286212273A6D14CF70EA3AF71BB1AE679F1",
        "r": "2F86FA60A081091A23DD795E1E3C689EE512A3C82EE0DCC2643C78EEA8FCACD3"
        "5492558486B20F1C9EC197C90699850260C93BCBCD9C5C3317E19344E173AE36",
        "s": "1081B394696FFE8E6585E7A9362D26B6325F56778AADBC081C0BFBE933D52FF5"
        "823CE288E8C4F362526080DF7F70CE406A6EEB1F56919CB92A9853BDE73E5B4A",
    },
}


@pytest.mark.parametrize("bits", [256, 512])
def test_signature_rfc7091_examples(bits: int) -> None:
    """GOST R 34.10-2012 (= GOST 34.10-2015) examples of RFC 7091 §7 on their test curves,
    through the same engine (gostcrypto with our inverse) that signs NCA keys: the public key
    and, with the example's k, r and s exactly; then verification through our byte layout."""
    v = {name: int(value, 16) for name, value in _RFC7091[bits].items()}
    size = bits // 8
    curve = {
        "p": v["p"],
        "a": v["a"],
        "b": v["b"],
        "m": v["q"],
        "q": v["q"],
        "x": v["x"],
        "y": v["y"],
    }
    mode = gostsignature.MODE_256 if bits == 256 else gostsignature.MODE_512
    engine = gost._Signer(mode, curve)
    d = v["d"].to_bytes(size, "big")
    assert bytes(engine.public_key_generate(bytearray(d))) == (
        v["Qx"].to_bytes(size, "big") + v["Qy"].to_bytes(size, "big")
    )
    signature = engine.sign(
        bytearray(d),
        bytearray(v["e"].to_bytes(size, "big")),
        bytearray(v["k"].to_bytes(size, "big")),
    )
    assert bytes(signature) == v["r"].to_bytes(size, "big") + v["s"].to_bytes(size, "big")
    # The same example through gateway.gost's little-endian layout: e arrives as the digest
    # bytes read little-endian, the value leaves as r‖s little-endian.
    params = gost.GostParams(
        name=f"rfc7091-{bits}",
        bits=bits,
        curve="test",
        key_oid="",
        param_oid="",
        hash_oid="",
        signature_oid="",
        hash_name=f"streebog{bits}",
    )
    gost._SIGNERS[params.name] = engine
    try:
        public = gost.GostPublicKey(
            params, v["Qx"].to_bytes(size, "little") + v["Qy"].to_bytes(size, "little")
        )
        kalkan_layout = v["r"].to_bytes(size, "little") + v["s"].to_bytes(size, "little")
        assert public.verify_digest(v["e"].to_bytes(size, "little"), kalkan_layout)
        assert not public.verify_digest(v["e"].to_bytes(size, "big"), kalkan_layout)
    finally:
        del gost._SIGNERS[params.name]


@pytest.mark.parametrize(
    "name",
    ["ncanode_cmsservicetest_signed_cms.p7s", "ncanode_cmsservicetest_signed_detached_cms.p7s"],
)
def test_real_kalkan_cms_signature_verifies(kalkan_samples: Path, name: str) -> None:
    """CMS signed by Kalkan over "test123": messageDigest is Streebog-512 as returned, and the
    signature over the DER SET of signed attributes is r‖s little-endian."""
    raw = (kalkan_samples / "cms" / name).read_bytes()
    if not raw.startswith(b"\x30"):
        raw = base64.b64decode(raw)
    signed_data = cms.ContentInfo.load(raw)["content"]
    certificates = [
        x509.load_der_x509_certificate(c.chosen.dump()) for c in signed_data["certificates"]
    ]
    (signer_info,) = [
        s
        for s in signed_data["signer_infos"]
        if s["signature_algorithm"]["algorithm"].dotted == gost.GOST_2015_512.signature_oid
    ]
    assert signer_info["digest_algorithm"]["algorithm"].dotted == gost.GOST_2015_512.hash_oid
    attributes = signer_info["signed_attrs"]
    (message_digest,) = [
        a["values"][0].native for a in attributes if a["type"].native == "message_digest"
    ]
    assert message_digest == gost.streebog(b"test123")
    serial = signer_info["sid"].chosen["serial_number"].native
    (cert,) = [c for c in certificates if c.serial_number == serial]
    public = gost.certificate_public_key(cert)
    signed = b"\x31" + attributes.dump()[1:]  # [0] IMPLICIT → the SET OF that was signed
    assert public.verify(signed, signer_info["signature"].native)
    assert not public.verify(signed, signer_info["signature"].native[::-1])


def test_real_nca_container_key_matches_and_reencodes(kalkan_samples: Path) -> None:
    """The container's key decrypts (RFC 7292 KDF + 3DES), its public point equals the
    certificate's, and our PKCS#8 encoding of it is byte-identical to NCA's."""
    path = kalkan_samples / "keys" / "ncanode_key_individual_valid_2015.p12"
    data = path.read_bytes()
    layout = pkcs12.read_pfx_layout(data)
    assert layout.mac_algorithm == "sha1"
    assert layout.encrypted_parts == ("pkcs12_sha1_rc2_40",)
    (bag,) = layout.key_bags
    assert bag.encryption == "pkcs12_sha1_tripledes_3key"
    plain = pkcs12.decrypt_private_key(bag.data, NCA_GOST_PASSWORD, source=str(path))
    key = gost.load_private_key_info(plain)
    assert key.private_key_info() == plain
    (cert,) = pkcs12.read_certificates(data, NCA_GOST_PASSWORD, source=str(path))
    assert gost.certificate_public_key(cert) == key.public_key()


def test_real_nca_gost_chain(kalkan_samples: Path) -> None:
    """The leaf of the GOST container is issued by NCA's GOST test CA, checked by our code."""
    identity = load_identity_from_path(
        kalkan_samples / "keys" / "ncanode_key_individual_valid_2015.p12",
        password=NCA_GOST_PASSWORD,
    )
    (ca,) = load_certificates_from_path(
        kalkan_samples / "certs" / "ncanode_ca_nca_gost2015_test.cer"
    )
    assert gost.verify_certificate_signature(identity.certificate, ca)
    check_certificate(identity.certificate, trusted=[ca], at=KALKAN_TIME)
    with pytest.raises(VerificationError) as caught:
        check_certificate(identity.certificate, trusted=[ca], at=datetime(2030, 1, 1, tzinfo=UTC))
    assert caught.value.reason == Rejection.CERTIFICATE_EXPIRED


def test_a_signature_made_with_the_real_nca_key_verifies_with_its_certificate(
    kalkan_samples: Path,
) -> None:
    identity = load_identity_from_path(
        kalkan_samples / "keys" / "ncanode_key_ceo_revoked_2015.p12", password=NCA_GOST_PASSWORD
    )
    assert isinstance(identity.private_key, gost.GostPrivateKey)
    data = os.urandom(100)
    signature = identity.private_key.sign(data)
    assert gost.certificate_public_key(identity.certificate).verify(data, signature)


# ------------------------------------------------------------------ hostile key material


@pytest.mark.parametrize("params", [gost.GOST_2015_512, gost.GOST_2015_256])
def test_degenerate_public_keys_are_refused(params: gost.GostParams) -> None:
    """gostcrypto takes a point with a zero coordinate for the base point, so a certificate
    "key" of zeros would accept signatures made with private key 1: points are validated."""
    size = params.size
    base = gost.GostPrivateKey(params, (1).to_bytes(size, "little")).public_key().point
    for point in (
        bytes(2 * size),
        bytes(size) + base[size:],
        base[:size] + bytes(size),
        base[:size] + (int.from_bytes(base[size:], "little") + 1).to_bytes(size, "little"),
        b"\xff" * (2 * size),
    ):
        with pytest.raises(SignatureError, match="not a valid curve point"):
            gost.GostPublicKey(params, point)


def test_256_bit_points_must_lie_in_the_prime_order_subgroup() -> None:
    """The 256-bit paramSetA curve has cofactor 4: most curve points are outside the group of
    order q. Multiplying any curve point by 4 lands inside it."""
    params = gost.GOST_2015_256
    engine = gost._signer(params)
    p, a, b = engine._p, engine._a, engine._b
    assert p % 4 == 3  # square roots are one exponentiation
    outside = inside = 0
    x = int.from_bytes(os.urandom(32), "big") % p
    while outside < 3 or inside < 3:
        x = (x + 1) % p
        rhs = (x**3 + a * x + b) % p
        y = pow(rhs, (p + 1) // 4, p)
        if y == 0 or y * y % p != rhs:
            continue
        point = x.to_bytes(32, "little") + y.to_bytes(32, "little")
        try:
            gost.GostPublicKey(params, point)
        except SignatureError:
            outside += 1
            mx, my = engine._mul_point(4, x, y)
            gost.GostPublicKey(params, mx.to_bytes(32, "little") + my.to_bytes(32, "little"))
        else:
            inside += 1


@pytest.mark.parametrize(
    "parameters",
    [b"\x09\x03\x80\x01\x01", b"\x28\x00", b"\x07\x01A", b"\x30\x03\x02\x01\x01", b""],
    ids=["REAL", "EXTERNAL", "ObjectDescriptor", "SEQUENCE-INTEGER", "absent"],
)
def test_malformed_key_parameters_are_identity_errors(parameters: bytes) -> None:
    key = gost.generate_private_key(gost.GOST_2015_256)
    good = key.private_key_info()
    inner = asn1_core.OctetString(key.scalar).dump()
    algorithm = asn1_core.ObjectIdentifier(gost.GOST_2015_256.key_oid).dump() + parameters
    bad = _der(0x30, b"\x02\x01\x00" + _der(0x30, algorithm) + _der(0x04, inner))
    assert gost.load_private_key_info(good) == key
    with pytest.raises(IdentityError):
        gost.load_private_key_info(bad)


def test_key_parameters_must_name_the_matching_digest() -> None:
    key = gost.generate_private_key(gost.GOST_2015_512)
    mismatched = key.private_key_info().replace(
        asn1_core.ObjectIdentifier(gost.GOST_2015_512.hash_oid).dump(),
        asn1_core.ObjectIdentifier(gost.GOST_2015_256.hash_oid).dump(),
    )
    with pytest.raises(
        IdentityError, match=r"parameters name digest 1\.2\.398\.3\.10\.1\.3\.2, not"
    ):
        gost.load_private_key_info(mismatched)


def test_unloadable_certificate_keys_are_named_not_raised(pki: TestPki) -> None:
    """A certificate whose key no library here loads (an unknown algorithm, same DER length)
    is a key type mismatch for the policy, not a traceback."""
    unknown = pki.signer_gost.certificate.public_bytes(Encoding.DER).replace(
        asn1_core.ObjectIdentifier(gost.GOST_2015_512.key_oid).dump(),
        asn1_core.ObjectIdentifier("1.2.840.113549.1.1.99").dump(),
    )
    cert = x509.load_der_x509_certificate(unknown)
    assert signer_key_type(cert).startswith("unusable")


def _der(tag: int, body: bytes) -> bytes:
    return bytes(
        asn1_core.Asn1Value(tag=tag & 0x1F, contents=body, method=1 if tag & 0x20 else 0).dump()
    )

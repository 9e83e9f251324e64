"""Reading a PKCS#12 container's layout without its password, and failing only as InputError."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms
from asn1crypto import core as asn1_core
from asn1crypto import keys as asn1_keys
from asn1crypto import parser as asn1_parser
from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12 as crypto_pkcs12

from gateway import pkcs12
from gateway.errors import IdentityError, InputError, PasswordRequiredError
from gateway.gost import GostPrivateKey
from gateway.testpki import TestPki


def test_real_nca_container_layout(kalkan_samples: Path) -> None:
    path = next((kalkan_samples / "keys").glob("ncanode2018_RSA256_*.p12"))
    layout = pkcs12.read_pfx_layout(path.read_bytes())
    assert layout.mac_algorithm == "sha1"
    assert layout.mac_iterations == 1024
    assert layout.encrypted_parts == ("pkcs12_sha1_rc2_40",)
    (bag,) = layout.key_bags
    assert bag.encryption == "pkcs12_sha1_tripledes_3key"
    assert path.stem.endswith(bag.friendly_name or "-")
    assert bag.local_key_id is not None
    assert bytes.fromhex(bag.friendly_name or "") == bag.local_key_id
    assert "data" not in repr(bag)  # the (encrypted) key stays out of repr
    assert bag.data.startswith(b"\x30")  # the bag's content, without its [0] wrapper


def test_gost_container_layout_is_readable_without_gost(kalkan_samples: Path) -> None:
    data = (kalkan_samples / "keys" / "ncanode_key_individual_valid_2015.p12").read_bytes()
    layout = pkcs12.read_pfx_layout(data)
    assert layout.aliases == ("8ff06211dc82beb00253ffa000f1de84abef454f",)


def test_modern_container_layout(pki: TestPki) -> None:
    layout = pkcs12.read_pfx_layout(pki.signer_p12.read_bytes())
    assert layout.mac_algorithm == "sha256"
    assert layout.aliases == ("signer",)
    assert layout.encrypted_parts == ("pbes2 (pbkdf2, hmac-sha256, aes256_cbc)",)


def test_unencrypted_key_bag(pki: TestPki) -> None:
    data = crypto_pkcs12.serialize_key_and_certificates(
        b"plain", pki.signer.private_key, pki.signer.certificate, None, serialization.NoEncryption()
    )
    (bag,) = pkcs12.read_pfx_layout(data).key_bags
    assert (bag.friendly_name, bag.encryption) == ("plain", None)
    assert not pkcs12.is_encrypted_pkcs8(bag.data)


def test_looks_like_pfx(pki: TestPki) -> None:
    data = pki.signer_legacy_p12.read_bytes()
    assert pkcs12.looks_like_pfx(data)
    assert pkcs12.looks_like_pfx(data[:40])  # truncated: still recognisably a container
    assert pkcs12.looks_like_pfx(_ber(data))
    assert not pkcs12.looks_like_pfx(pki.signer.key_path.read_bytes())
    assert not pkcs12.looks_like_pfx(pki.sigex_key_der.read_bytes())
    assert not pkcs12.looks_like_pfx(b"")
    assert not pkcs12.looks_like_pfx(b"\x30\x80")


def test_is_encrypted_pkcs8(pki: TestPki) -> None:
    key = pki.signer.private_key
    encrypted = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    assert pkcs12.is_encrypted_pkcs8(encrypted)
    for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
        plain = key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())
        assert not pkcs12.is_encrypted_pkcs8(plain)
    certificate = pki.signer.certificate.public_bytes(serialization.Encoding.DER)
    for other in (certificate, encrypted + b"\x00", encrypted[:-1], b"", b"\x30\x80" * 50):
        assert not pkcs12.is_encrypted_pkcs8(other)


# ------------------------------------------------------------------------------------- BER


def _ber(data: bytes) -> bytes:
    """Re-encode DER the way streaming writers (BouncyCastle's "PKCS12") do: indefinite
    lengths for every constructed element, and every OCTET STRING that wraps an encoding
    split into a constructed string of two segments."""
    _, method, _, header, contents, _ = asn1_parser.parse(data, strict=True)
    if method == 1:
        children, pos = [], 0
        while pos < len(contents):
            size = asn1_parser.peek(contents[pos:])
            children.append(_ber(contents[pos : pos + size]))
            pos += size
        return bytes(header[:1]) + b"\x80" + b"".join(children) + b"\x00\x00"
    if header[:1] == b"\x04" and contents[:1] == b"\x30":
        try:
            inner = _ber(contents)
        except ValueError:
            return data  # encrypted bytes that only start like a SEQUENCE
        half = len(inner) // 2
        segments = [asn1_core.OctetString(part).dump() for part in (inner[:half], inner[half:])]
        return b"\x24\x80" + b"".join(segments) + b"\x00\x00"
    return data


@pytest.mark.parametrize("container", ["signer_p12", "signer_legacy_p12"])
def test_ber_container_reads_like_its_der_original(pki: TestPki, container: str) -> None:
    data = getattr(pki, container).read_bytes()
    ber = _ber(data)
    assert b"\x24\x80" in ber  # segmented OCTET STRINGs, not only indefinite lengths
    der_layout, ber_layout = pkcs12.read_pfx_layout(data), pkcs12.read_pfx_layout(ber)
    assert ber_layout.aliases == der_layout.aliases
    assert ber_layout.encrypted_parts == der_layout.encrypted_parts
    assert ber_layout.mac_algorithm == der_layout.mac_algorithm
    assert ber_layout.mac_iterations == der_layout.mac_iterations
    assert [b.encryption for b in ber_layout.key_bags] == [
        b.encryption for b in der_layout.key_bags
    ]


# ------------------------------------------------------------------------------- structure


def _pfx(bags: list[asn1_pkcs12.SafeBag], version: int = 3) -> bytes:
    """A container without MAC holding ``bags`` in one plain ``data`` part."""
    safe_contents = asn1_pkcs12.SafeContents(bags).dump()
    part = cms.ContentInfo({"content_type": "data", "content": safe_contents})
    auth_safe = asn1_pkcs12.AuthenticatedSafe([part]).dump()
    content = cms.ContentInfo({"content_type": "data", "content": auth_safe})
    return bytes(asn1_pkcs12.Pfx({"version": version, "auth_safe": content}).dump())


def _key_bags(data: bytes) -> list[asn1_pkcs12.SafeBag]:
    parts = asn1_pkcs12.Pfx.load(data).authenticated_safe
    return [
        bag
        for part in parts
        if part["content_type"].native == "data"
        for bag in asn1_pkcs12.SafeContents.load(part["content"].native)
        if bag["bag_id"].native.endswith("key_bag")
    ]


def _nested(bags: list[asn1_pkcs12.SafeBag], levels: int) -> list[asn1_pkcs12.SafeBag]:
    for _ in range(levels):
        bags = [
            asn1_pkcs12.SafeBag(
                {"bag_id": "safe_contents", "bag_value": asn1_pkcs12.SafeContents(bags)}
            )
        ]
    return bags


def test_key_bags_inside_safe_contents_bags(pki: TestPki) -> None:
    bags = _key_bags(pki.signer_p12.read_bytes()) + _key_bags(pki.client_p12.read_bytes())
    layout = pkcs12.read_pfx_layout(_pfx(_nested(bags, 2)))
    assert layout.aliases == ("signer", "client")
    assert layout.mac_algorithm is None
    with pytest.raises(InputError, match="nested too deeply"):
        pkcs12.read_pfx_layout(_pfx(_nested(bags, 6)))


def test_unsupported_versions_and_protection(pki: TestPki) -> None:
    bags = _key_bags(pki.signer_p12.read_bytes())
    with pytest.raises(InputError, match="version 3"):
        pkcs12.read_pfx_layout(_pfx(bags, version=2))
    signed_data = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [],
            "encap_content_info": {"content_type": "data"},
            "signer_infos": [],
        }
    )
    auth_safe = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
    signed = asn1_pkcs12.Pfx({"version": 3, "auth_safe": auth_safe}).dump()
    with pytest.raises(InputError, match="public key"):
        pkcs12.read_pfx_layout(signed)


# ------------------------------------------------------------------------- hostile input

HOSTILE = {
    "empty": b"",
    "truncated-header": b"\x30",
    "length-past-end": b"\x30\x05\x02\x01",
    "huge-length": b"\x30\x84\xff\xff\xff\xff",
    "length-of-length-too-big": b"\x30\x89" + bytes(9),
    "unterminated-indefinite": b"\x30\x80\x02\x01\x03",
    "indefinite-primitive": b"\x04\x80\x00\x00",
    "deep-nesting": b"\x30\x80" * 1000,
    "truncated-tag": b"\x1f\x81",
    "not-a-sequence": b"\x05\x00",
    "pfx-header-only": bytes.fromhex("3080020103308006092a864886f70d010701"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_is_an_input_error(name: str) -> None:
    with pytest.raises(InputError):
        pkcs12.read_pfx_layout(HOSTILE[name])


def test_damaged_containers_are_input_errors(pki: TestPki) -> None:
    data = pki.signer_legacy_p12.read_bytes()
    for size in (5, 40, len(data) // 2):
        with pytest.raises(InputError):
            pkcs12.read_pfx_layout(data[:size])
    with pytest.raises(InputError):
        pkcs12.read_pfx_layout(pki.sigex_key_der.read_bytes())


@pytest.mark.parametrize("container", ["signer_p12", "signer_legacy_p12"])
def test_every_damaged_byte_is_a_layout_or_an_input_error(pki: TestPki, container: str) -> None:
    """asn1crypto's exceptions never get past the module, wherever the damage is."""
    data = getattr(pki, container).read_bytes()
    for position in range(0, len(data), 3):
        flipped = data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1 :]
        for damaged in (flipped, data[:position]):
            with contextlib.suppress(InputError):
                pkcs12.read_pfx_layout(damaged)


# ---------------------------------------------------------------- decryption (GOST path)


def _rsa_pkcs8(pki: TestPki) -> bytes:
    key = pki.signer.private_key
    assert not isinstance(key, GostPrivateKey)
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize("mac_hash", [hashes.SHA1(), hashes.SHA256()])  # noqa: S303 - NCA MACs
def test_kdf_decrypts_what_cryptography_encrypts(
    pki: TestPki, mac_hash: hashes.HashAlgorithm
) -> None:
    """Our RFC 7292 KDF against an independent implementation: cryptography's (OpenSSL's)
    3DES key bag and MAC open with it, and only with the right password."""
    key = pki.signer.private_key
    assert not isinstance(key, GostPrivateKey)
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .key_cert_algorithm(crypto_pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .kdf_rounds(1500)
        .hmac_hash(mac_hash)
        .build(b"p\xc3\xa4ss")  # non-ASCII: B.1's UTF-16BE conversion matters
    )
    data = crypto_pkcs12.serialize_key_and_certificates(
        b"k", key, pki.signer.certificate, [pki.ca.certificate], encryption
    )
    pkcs12.verify_mac(data, "päss".encode(), source="c.p12")
    (bag,) = pkcs12.read_pfx_layout(data).key_bags
    assert bag.encryption == "pkcs12_sha1_tripledes_3key"
    plain = pkcs12.decrypt_private_key(bag.data, "päss".encode(), source="c.p12")
    assert plain == _rsa_pkcs8(pki)
    certificates = pkcs12.read_certificates(data, "päss".encode(), source="c.p12")
    assert set(certificates) == {pki.signer.certificate, pki.ca.certificate}
    with pytest.raises(IdentityError, match="MAC does not match"):
        pkcs12.verify_mac(data, b"pass", source="c.p12")
    with pytest.raises(IdentityError, match="wrong password or damaged key"):
        pkcs12.decrypt_private_key(bag.data, b"pass", source="c.p12")
    with pytest.raises(PasswordRequiredError):
        pkcs12.decrypt_private_key(bag.data, None, source="c.p12")


def test_rc2_40_certificate_parts_open(kalkan_samples: Path) -> None:
    """NCA's RC2-40 certificate bag (RSA container): the same certificates as cryptography's
    own loader returns for the whole container."""
    path = next((kalkan_samples / "keys").glob("ncanode2018_RSA256_*.p12"))
    data = path.read_bytes()
    pkcs12.verify_mac(data, b"Qwerty12", source=str(path))
    expected = crypto_pkcs12.load_pkcs12(data, b"Qwerty12")
    assert expected.cert is not None
    found = pkcs12.read_certificates(data, b"Qwerty12", source=str(path))
    assert found == (expected.cert.certificate,)
    (bag,) = pkcs12.read_pfx_layout(data).key_bags
    plain = pkcs12.decrypt_private_key(bag.data, b"Qwerty12", source=str(path))
    assert expected.key is not None
    assert plain == expected.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_pbes2_pkcs8_decrypts(pki: TestPki) -> None:
    key = pki.signer.private_key
    assert not isinstance(key, GostPrivateKey)
    encrypted = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),  # PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC
    )
    assert pkcs12.decrypt_private_key(encrypted, b"pw", source="k.der") == _rsa_pkcs8(pki)
    with pytest.raises(IdentityError, match="wrong password"):
        pkcs12.decrypt_private_key(encrypted, b"pW", source="k.der")


def test_unsupported_key_encryption_is_named() -> None:
    info = asn1_keys.EncryptedPrivateKeyInfo(
        {
            "encryption_algorithm": {
                "algorithm": "pkcs12_sha1_rc4_128",
                "parameters": {"salt": b"12345678", "iterations": 1},
            },
            "encrypted_data": b"\x00" * 16,
        }
    )
    with pytest.raises(IdentityError) as caught:
        pkcs12.decrypt_private_key(info.dump(), b"pw", source="k.der")
    assert "encrypted with pkcs12_sha1_rc4_128, which shep cannot decrypt" in str(caught.value)
    assert caught.value.file == "k.der"


def test_built_gost_container_opens_in_openssl(pki: TestPki) -> None:
    """build_pfx writes what OpenSSL reads: its MAC and both bags check out there too."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl CLI not installed")
    result = subprocess.run(
        [openssl, "pkcs12", "-info", "-noout", "-in", str(pki.signer_gost_p12), "-passin", "stdin"],
        input=pki.password.encode() + b"\n",
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert b"MAC: sha1" in result.stderr
    assert b"Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC" in result.stderr


def test_mac_problems_are_typed_and_never_skipped(kalkan_samples: Path) -> None:
    data = (kalkan_samples / "keys" / "ncanode_key_individual_valid_2015.p12").read_bytes()
    pkcs12.verify_mac(data, b"Aa123456", source="k.p12")
    pfx = asn1_pkcs12.Pfx.load(data)
    mac = pfx["mac_data"].dump()
    assert data.endswith(mac)
    # macData re-tagged as a SET: unreadable, so an error, not "no MAC".
    retagged = data[: -len(mac)] + b"\x31" + mac[1:]
    with pytest.raises(IdentityError, match="damaged PKCS#12 container"):
        pkcs12.verify_mac(retagged, b"Aa123456", source="k.p12")
    with pytest.raises(IdentityError, match="the password is not UTF-8 text") as caught:
        pkcs12.verify_mac(data, "пароль".encode("cp1251"), source="k.p12")
    assert "\\x" not in str(caught.value)
    (bag,) = pkcs12.read_pfx_layout(data).key_bags
    with pytest.raises(IdentityError, match="the password is not UTF-8 text"):
        pkcs12.decrypt_private_key(bag.data, b"\xe9t\xe9", source="k.p12")
    with pytest.raises(ValueError, match="iteration count"):
        pkcs12.pkcs12_kdf(b"pw", b"salt", 0, purpose=1, length=24)


def test_wrong_password_on_a_multi_key_container_says_so(pki: TestPki) -> None:
    """Several keys, no alias, wrong password: the password is the problem to report first."""
    from gateway.identity import load_identity

    encryption = serialization.BestAvailableEncryption(b"right")
    one = crypto_pkcs12.serialize_key_and_certificates(
        b"one",
        pki.signer.private_key,
        pki.signer.certificate,
        None,
        encryption,  # type: ignore[arg-type]
    )
    two = crypto_pkcs12.serialize_key_and_certificates(
        b"two",
        pki.auth.private_key,
        pki.auth.certificate,
        None,
        encryption,  # type: ignore[arg-type]
    )
    parts = [
        *asn1_pkcs12.Pfx.load(one).authenticated_safe,
        *asn1_pkcs12.Pfx.load(two).authenticated_safe,
    ]
    content = cms.ContentInfo(
        {"content_type": "data", "content": asn1_pkcs12.AuthenticatedSafe(parts).dump()}
    )
    both = asn1_pkcs12.Pfx({"version": "v3", "auth_safe": content}).dump()
    with pytest.raises(IdentityError, match="wrong password"):
        load_identity(both, password=b"wrong")
    with pytest.raises(IdentityError, match="choose one with an alias"):
        load_identity(both, password=b"right")

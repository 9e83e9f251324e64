"""Every key form NCA and SIGEX users have loads, and every failure says what is wrong.

Real material only: the session test PKI, containers written by openssl, Java's keytool and
cryptography, and the real NCA test keys from kalkan-samples (skipped where absent).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms
from asn1crypto import core as asn1_core
from asn1crypto import keys as asn1_keys
from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.hazmat.primitives.serialization import pkcs12 as crypto_pkcs12

from gateway import pkcs12
from gateway.errors import IdentityError, InputError, PasswordRequiredError
from gateway.gost import GostPrivateKey
from gateway.identity import (
    CertificateInfo,
    Identity,
    describe_certificate,
    format_name,
    load_certificates,
    load_certificates_from_path,
    load_identity,
    load_identity_from_path,
)
from gateway.testpki import ORGANIZATION_BIN, SIGNER_IIN, TestPki

NCA_PASSWORD = b"Qwerty12"
NCA_GOST_PASSWORD = b"Aa123456"
NCA_IIN = "123456789011"
WRONG = b"Wr0ng-Passw0rd-X"


def _pem(
    key: object,
    encryption: serialization.KeySerializationEncryption | None = None,
    fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
    encoding: serialization.Encoding = serialization.Encoding.PEM,
) -> bytes:
    return key.private_bytes(  # type: ignore[attr-defined,no-any-return]
        encoding, fmt, encryption or serialization.NoEncryption()
    )


def _der(
    key: object,
    encryption: serialization.KeySerializationEncryption | None = None,
    fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
) -> bytes:
    return _pem(key, encryption, fmt, serialization.Encoding.DER)


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _assert_secret_hidden(
    secret: bytes, exc: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    text = secret.decode()
    assert text not in str(exc)
    assert text not in repr(exc)
    assert text not in caplog.text
    cause = exc.__cause__
    while cause is not None:
        assert text not in str(cause)
        cause = cause.__cause__


# ---------------------------------------------------------------------------- containers


def test_modern_p12(pki: TestPki) -> None:
    identity = load_identity_from_path(pki.signer_p12, password=pki.password.encode())
    assert identity.certificate == pki.signer.certificate
    assert identity.private_key.public_key() == pki.signer.private_key.public_key()
    assert identity.chain == (pki.ca.certificate,)
    assert identity.alias == "signer"
    assert identity.source == str(pki.signer_p12)


def test_nca_style_legacy_p12(pki: TestPki) -> None:
    identity = load_identity_from_path(pki.signer_legacy_p12, password=pki.password.encode())
    ski = pki.signer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert identity.certificate == pki.signer.certificate
    assert identity.chain == ()
    assert identity.alias == ski.value.digest.hex()


def test_client_p12_for_mutual_tls(pki: TestPki) -> None:
    identity = load_identity_from_path(pki.client_p12, password=pki.password.encode())
    assert identity.certificate == pki.client.certificate


def test_p12_with_a_separate_certificate_prefers_the_given_one(pki: TestPki) -> None:
    # A renewed certificate for the same key is given next to the old container.
    identity = load_identity(
        pki.signer_p12.read_bytes(),
        password=pki.password.encode(),
        cert_data=_cert_pem(pki.signer.certificate),
    )
    assert identity.certificate == pki.signer.certificate
    assert identity.chain == (pki.ca.certificate,)


def test_p12_without_a_key_is_a_trust_store(pki: TestPki, tmp_path: Path) -> None:
    store = crypto_pkcs12.serialize_java_truststore(
        [crypto_pkcs12.PKCS12Certificate(pki.ca.certificate, b"ca")],
        serialization.BestAvailableEncryption(b"store-pass"),
    )
    with pytest.raises(IdentityError, match="no private key") as caught:
        load_identity(store, password=b"store-pass", source="store.p12")
    assert caught.value.file == "store.p12"


# ------------------------------------------------------------------------------ PEM / DER


def test_pem_key_with_separate_certificate(pki: TestPki) -> None:
    identity = load_identity_from_path(pki.signer.key_path, cert_path=pki.signer.cert_path)
    assert identity.certificate == pki.signer.certificate
    assert identity.alias is None
    assert identity.source == str(pki.signer.key_path)


@pytest.mark.parametrize("key_first", [True, False])
def test_pem_holding_key_and_certificates(pki: TestPki, key_first: bool) -> None:
    key = pki.signer.key_path.read_bytes()
    certs = _cert_pem(pki.ca.certificate) + _cert_pem(pki.signer.certificate)
    identity = load_identity(key + certs if key_first else certs + key, source="both.pem")
    assert identity.certificate == pki.signer.certificate
    assert identity.chain == (pki.ca.certificate,)


@pytest.mark.parametrize(
    "fmt", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL]
)
def test_encrypted_pem(pki: TestPki, fmt: serialization.PrivateFormat) -> None:
    password = b"pem-secret"
    pem = _pem(pki.signer.private_key, serialization.BestAvailableEncryption(password), fmt)
    marker = b"ENCRYPTED PRIVATE KEY" if fmt == serialization.PrivateFormat.PKCS8 else b"Proc-Type"
    assert marker in pem
    cert = _cert_pem(pki.signer.certificate)
    identity = load_identity(pem, password=password, cert_data=cert)
    assert identity.certificate == pki.signer.certificate
    with pytest.raises(PasswordRequiredError, match="password is needed") as missing:
        load_identity(pem, cert_data=cert, source="enc.pem")
    assert missing.value.file == "enc.pem"
    with pytest.raises(IdentityError, match="wrong password") as wrong:
        load_identity(pem, password=WRONG, cert_data=cert)
    assert not isinstance(wrong.value, PasswordRequiredError)


@pytest.mark.parametrize(
    "fmt", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL]
)
@pytest.mark.parametrize("which", ["signer", "signer_ec"])
def test_unencrypted_pem_and_der(
    pki: TestPki, fmt: serialization.PrivateFormat, which: str
) -> None:
    issued = getattr(pki, which)
    cert = issued.certificate.public_bytes(serialization.Encoding.DER)
    for data in (_pem(issued.private_key, None, fmt), _der(issued.private_key, None, fmt)):
        identity = load_identity(data, cert_data=cert)
        assert identity.certificate == issued.certificate


def test_encrypted_der_pkcs8(pki: TestPki) -> None:
    data = _der(pki.signer.private_key, serialization.BestAvailableEncryption(b"der-secret"))
    cert = _cert_pem(pki.signer.certificate)
    assert load_identity(data, password=b"der-secret", cert_data=cert).certificate
    with pytest.raises(PasswordRequiredError, match="password is needed") as missing:
        load_identity(data, cert_data=cert, source="enc.der")
    assert missing.value.file == "enc.der"
    with pytest.raises(IdentityError, match="wrong password") as wrong:
        load_identity(data, password=WRONG, cert_data=cert)
    assert not isinstance(wrong.value, PasswordRequiredError)


def test_a_password_for_an_unencrypted_key_is_ignored(pki: TestPki) -> None:
    identity = load_identity_from_path(
        pki.sigex_key_pem, password=b"unneeded", cert_path=pki.sigex_cert_txt
    )
    assert identity.certificate == pki.sigex.certificate


# ---------------------------------------------------------------------------------- SIGEX


@pytest.mark.parametrize("key", ["sigex_key_pem", "sigex_key_der"])
def test_sigex_key_with_text_certificate(pki: TestPki, key: str) -> None:
    identity = load_identity_from_path(getattr(pki, key), cert_path=pki.sigex_cert_txt)
    assert identity.certificate == pki.sigex.certificate
    assert identity.private_key.public_key() == pki.sigex.private_key.public_key()


def test_sigex_certificate_text_copied_with_line_breaks(pki: TestPki) -> None:
    text = pki.sigex_cert_txt.read_text().strip()
    wrapped = "\r\n".join(text[i : i + 64] for i in range(0, len(text), 64)) + "\r\n\r\n"
    identity = load_identity(pki.sigex_key_der.read_bytes(), cert_data=wrapped.encode())
    assert identity.certificate == pki.sigex.certificate


# ---------------------------------------------------------------------------------- aliases


def test_alias_selects_the_single_entry(pki: TestPki) -> None:
    identity = load_identity_from_path(
        pki.signer_p12, password=pki.password.encode(), alias="signer"
    )
    assert identity.alias == "signer"


def test_unknown_alias_lists_the_available_ones(pki: TestPki) -> None:
    with pytest.raises(IdentityError, match="no entry with alias 'nope'") as caught:
        load_identity_from_path(pki.signer_p12, password=pki.password.encode(), alias="nope")
    assert "'signer'" in str(caught.value)
    assert caught.value.file == str(pki.signer_p12)


def test_alias_for_a_pem_key_is_an_error(pki: TestPki) -> None:
    with pytest.raises(IdentityError, match="only selects an entry of a PKCS#12"):
        load_identity_from_path(pki.signer.key_path, cert_path=pki.signer.cert_path, alias="x")


def _tlv(tag: int, body: bytes) -> bytes:
    if len(body) < 0x80:
        return bytes([tag, len(body)]) + body
    size = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _p12(parts: list[cms.ContentInfo]) -> bytes:
    """A PFX holding these AuthenticatedSafe parts, without a MAC (macData is optional)."""
    auth_safe = asn1_pkcs12.AuthenticatedSafe(parts).dump()
    content = cms.ContentInfo({"content_type": "data", "content": auth_safe})
    return bytes(asn1_pkcs12.Pfx({"version": "v3", "auth_safe": content}).dump())


def _merge_p12(*containers: bytes) -> bytes:
    """One PFX holding the entries of several."""
    return _p12(
        [part for data in containers for part in asn1_pkcs12.Pfx.load(data).authenticated_safe]
    )


@pytest.fixture(scope="module")
def two_entry_p12(pki: TestPki) -> bytes:
    return _merge_p12(pki.signer_p12.read_bytes(), pki.client_p12.read_bytes())


def test_several_keys_need_an_alias(pki: TestPki, two_entry_p12: bytes) -> None:
    with pytest.raises(IdentityError, match="holds 2 keys") as caught:
        load_identity(two_entry_p12, password=pki.password.encode(), source="keystore.p12")
    assert "'signer', 'client'" in str(caught.value)
    assert caught.value.file == "keystore.p12"


@pytest.mark.parametrize("alias", ["signer", "client"])
def test_alias_picks_the_entry_of_a_keystore(
    pki: TestPki, two_entry_p12: bytes, alias: str
) -> None:
    identity = load_identity(two_entry_p12, password=pki.password.encode(), alias=alias)
    expected = getattr(pki, alias)
    assert identity.alias == alias
    assert identity.certificate == expected.certificate
    assert identity.private_key.public_key() == expected.private_key.public_key()
    # The other entry's certificate is not part of this one's chain.
    assert identity.chain == (pki.ca.certificate,)


def test_keystore_unknown_alias_and_wrong_password(pki: TestPki, two_entry_p12: bytes) -> None:
    with pytest.raises(IdentityError, match="available aliases: 'signer', 'client'"):
        load_identity(two_entry_p12, password=pki.password.encode(), alias="auth")
    with pytest.raises(IdentityError, match="wrong password"):
        load_identity(two_entry_p12, password=WRONG, alias="client")


@pytest.mark.slow  # a JVM start per keytool call: ~4 s
@pytest.mark.skipif(shutil.which("keytool") is None, reason="Java keytool not installed")
def test_java_keystore_with_two_entries(pki: TestPki, tmp_path: Path) -> None:
    store = tmp_path / "keystore.p12"
    env = {"PATH": os.environ.get("PATH", ""), "SHEP_TEST_STORE_PASSWORD": pki.password}
    for source, alias in ((pki.signer_p12, "signer"), (pki.client_p12, "client")):
        subprocess.run(
            [
                "keytool", "-importkeystore", "-noprompt",
                "-srckeystore", str(source), "-srcstoretype", "PKCS12",
                "-srcstorepass:env", "SHEP_TEST_STORE_PASSWORD", "-srcalias", alias,
                "-destkeystore", str(store), "-deststoretype", "PKCS12",
                "-deststorepass:env", "SHEP_TEST_STORE_PASSWORD",
            ],
            check=True, capture_output=True, env=env, timeout=120,
        )  # fmt: skip
    with pytest.raises(IdentityError, match="holds 2 keys"):
        load_identity_from_path(store, password=pki.password.encode())
    identity = load_identity_from_path(store, password=pki.password.encode(), alias="client")
    assert identity.certificate == pki.client.certificate


# ------------------------------------------------------------------------- failures


@pytest.mark.parametrize("container", ["signer_p12", "signer_legacy_p12"])
def test_wrong_password_names_the_file_and_hides_the_password(
    pki: TestPki, container: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    path = getattr(pki, container)
    with pytest.raises(IdentityError, match="wrong password or damaged container") as caught:
        load_identity_from_path(path, password=WRONG)
    assert caught.value.file == str(path)
    _assert_secret_hidden(WRONG, caught.value, caplog)


def test_right_password_never_appears_in_errors(
    pki: TestPki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    password = pki.password.encode()
    with pytest.raises(IdentityError) as caught:
        load_identity_from_path(pki.signer_p12, password=password, alias="nope")
    _assert_secret_hidden(password, caught.value, caplog)


@pytest.mark.parametrize("container", ["signer_p12", "signer_legacy_p12", "client_p12"])
def test_missing_password_for_a_container(pki: TestPki, container: str) -> None:
    path = getattr(pki, container)
    with pytest.raises(PasswordRequiredError, match="password is needed") as caught:
        load_identity_from_path(path)
    assert caught.value.file == str(path)


def test_missing_password_for_a_keystore(pki: TestPki, two_entry_p12: bytes) -> None:
    with pytest.raises(PasswordRequiredError) as caught:
        load_identity(two_entry_p12, alias="client", source="keystore.p12")
    assert caught.value.file == "keystore.p12"


def test_wrong_password_is_not_a_missing_one(pki: TestPki, two_entry_p12: bytes) -> None:
    for data in (pki.signer_p12.read_bytes(), two_entry_p12):
        with pytest.raises(IdentityError) as caught:
            load_identity(data, password=WRONG, alias="signer")
        assert not isinstance(caught.value, PasswordRequiredError)


def _openssl_p12(pki: TestPki, out: Path, *options: str) -> bytes:
    """The signer's key and certificate in a container whose password is empty."""
    subprocess.run(
        [
            "openssl", "pkcs12", "-export", *options,
            "-inkey", str(pki.signer.key_path), "-in", str(pki.signer.cert_path),
            "-name", "empty", "-passout", "pass:", "-out", str(out),
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return out.read_bytes()


def test_containers_with_an_empty_password_open_without_one(pki: TestPki, tmp_path: Path) -> None:
    # Windows and openssl write these when the user just presses Enter at the password prompt.
    containers = {
        "cryptography": crypto_pkcs12.serialize_key_and_certificates(
            b"empty",
            pki.signer.private_key,
            pki.signer.certificate,
            None,
            serialization.NoEncryption(),
        ),
        "openssl": _openssl_p12(pki, tmp_path / "modern.p12"),
        "openssl-legacy": _openssl_p12(pki, tmp_path / "legacy.p12", "-legacy"),
    }
    for name, data in containers.items():
        assert pkcs12.read_pfx_layout(data).mac_algorithm is not None, name
        for password in (None, b""):
            identity = load_identity(data, password=password, source=name)
            assert identity.certificate == pki.signer.certificate
            assert identity.alias == "empty"


def test_key_certificate_mismatch(pki: TestPki) -> None:
    with pytest.raises(IdentityError, match="belongs to the private key") as caught:
        load_identity_from_path(pki.signer.key_path, cert_path=pki.auth.cert_path)
    assert caught.value.file == str(pki.auth.cert_path)
    with pytest.raises(IdentityError, match="does not belong to the certificate") as direct:
        Identity(
            certificate=pki.auth.certificate, private_key=pki.signer.private_key, source="x.pem"
        )
    assert direct.value.file == "x.pem"


def test_pem_with_a_foreign_certificate_only(pki: TestPki) -> None:
    data = pki.signer.key_path.read_bytes() + _cert_pem(pki.auth.certificate)
    with pytest.raises(IdentityError, match="none of the 1 certificates"):
        load_identity(data, source="mixed.pem")


@pytest.mark.parametrize("key", ["sigex_key_pem", "sigex_key_der"])
def test_key_without_certificate_asks_for_one(pki: TestPki, key: str) -> None:
    path = getattr(pki, key)
    with pytest.raises(IdentityError, match="a certificate is needed") as caught:
        load_identity_from_path(path)
    assert "--cert" in str(caught.value)
    assert caught.value.file == str(path)


@pytest.mark.parametrize("which", ["sigex_cert_txt", "cert_path"])
def test_certificate_given_as_the_key(pki: TestPki, which: str) -> None:
    path = getattr(pki, which) if which != "cert_path" else pki.signer.cert_path
    with pytest.raises(IdentityError, match="certificate") as caught:
        load_identity_from_path(path)
    assert "private key" in str(caught.value)


HOSTILE_KEYS = {
    "empty": b"",
    "whitespace": b" \n\t ",
    "text": b"this is not a key\n",
    "random": bytes(range(256)) * 4,
    "truncated-sequence": b"\x30\x82\xff\xff\x02\x01",
    "deep-nesting": b"\x30\x80" * 5000,
    "huge-length": b"\x30\x84\xff\xff\xff\xff",
    "pem-garbage": b"-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n",
    "pem-unterminated": b"-----BEGIN PRIVATE KEY-----\nMIIE\n",
    "pem-two-keys": b"",  # filled from the PKI below
    "ed25519": b"",
    "openssh": (
        b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA==\n-----END OPENSSH PRIVATE KEY-----\n"
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_KEYS))
def test_garbage_is_an_identity_error(pki: TestPki, name: str) -> None:
    data = HOSTILE_KEYS[name]
    if name == "pem-two-keys":
        data = pki.signer.key_path.read_bytes() + pki.auth.key_path.read_bytes()
    elif name == "ed25519":
        data = _pem(ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(IdentityError) as caught:
        load_identity(data, password=b"pw", source=f"{name}.key")
    assert caught.value.file == f"{name}.key"


def test_truncated_containers(pki: TestPki) -> None:
    for path in (pki.signer_p12, pki.signer_legacy_p12):
        data = path.read_bytes()
        for size in (10, 100, len(data) // 2, len(data) - 1):
            with pytest.raises(IdentityError):
                load_identity(data[:size], password=pki.password.encode())


def test_flipped_byte_in_a_container(pki: TestPki) -> None:
    data = bytearray(pki.signer_legacy_p12.read_bytes())
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(IdentityError):
        load_identity(bytes(data), password=pki.password.encode())


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.p12"
    with pytest.raises(InputError, match="cannot read") as caught:
        load_identity_from_path(missing, password=b"x")
    assert caught.value.file == str(missing)
    with pytest.raises(InputError):
        load_identity_from_path(tmp_path)


def test_identity_repr_hides_the_key(pki: TestPki) -> None:
    identity = load_identity_from_path(pki.signer_p12, password=pki.password.encode())
    text = repr(identity)
    assert "private_key" not in text
    assert "signer.p12" in text


def test_identity_rejects_other_key_types(pki: TestPki) -> None:
    with pytest.raises(IdentityError, match="Ed25519PrivateKey"):
        Identity(
            certificate=pki.signer.certificate,
            private_key=ed25519.Ed25519PrivateKey.generate(),  # type: ignore[arg-type]
        )


# -------------------------------------------------------------------- real NCA test keys


def _nca_key(kalkan_samples: Path, pattern: str) -> Path:
    (path,) = (kalkan_samples / "keys").glob(pattern)
    return path


@pytest.mark.parametrize(
    ("pattern", "purpose"),
    [
        ("ncanode2018_RSA256_*.p12", "SIGN"),
        ("ncanode2018_AUTH_RSA256_*.p12", "AUTH"),
        ("ncanode_key_individual_valid_sign_2004.p12", "SIGN"),
    ],
)
def test_real_nca_rsa_containers(kalkan_samples: Path, pattern: str, purpose: str) -> None:
    path = _nca_key(kalkan_samples, pattern)
    identity = load_identity_from_path(path, password=NCA_PASSWORD)
    ski = identity.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert identity.alias == ski.value.digest.hex()
    if "RSA256_" in path.name:
        assert path.stem.endswith(identity.alias)  # NCA names the file after the key id
    at = identity.certificate.not_valid_before_utc + timedelta(days=1)
    info = describe_certificate(identity.certificate, now=at)
    assert info.purpose == purpose
    assert info.iin == NCA_IIN
    assert info.key_algorithm == "RSA"
    assert "individual (1.2.398.3.3.4.1.1)" in info.extended_key_usage
    assert info.warnings == ()


def test_real_nca_wrong_password(kalkan_samples: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    path = _nca_key(kalkan_samples, "ncanode2018_RSA256_*.p12")
    with pytest.raises(IdentityError, match="wrong password or damaged container") as caught:
        load_identity_from_path(path, password=WRONG)
    assert caught.value.file == str(path)
    _assert_secret_hidden(WRONG, caught.value, caplog)


@pytest.mark.parametrize(
    ("name", "organization"),
    [("ncanode_key_individual_valid_2015.p12", False), ("ncanode_key_ceo_revoked_2015.p12", True)],
)
def test_real_gost_containers_load(
    kalkan_samples: Path, name: str, organization: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    path = kalkan_samples / "keys" / name
    identity = load_identity_from_path(path, password=NCA_GOST_PASSWORD)
    assert isinstance(identity.private_key, GostPrivateKey)
    assert identity.private_key.key_type == "gost2015-512"
    assert identity.alias is not None
    assert len(identity.alias) == 40  # the key id in hex
    info = describe_certificate(identity.certificate, now=datetime(2023, 1, 1, tzinfo=UTC))
    assert info.key_algorithm == "GOST 34.10-2015"
    assert info.key_size == 512
    assert info.purpose == "SIGN"
    assert (info.bin is not None) == organization
    assert "GOST" in format_name(identity.certificate.issuer)
    # A wrong password is reported as one (the container's MAC), without the password,
    with pytest.raises(IdentityError, match="wrong password") as wrong:
        load_identity_from_path(path, password=WRONG)
    assert wrong.value.file == str(path)
    _assert_secret_hidden(WRONG, wrong.value, caplog)
    _assert_secret_hidden(NCA_GOST_PASSWORD, wrong.value, caplog)
    # ...and no password as a missing one.
    with pytest.raises(PasswordRequiredError):
        load_identity_from_path(path)


def test_real_gost_ca_certificate_is_described(kalkan_samples: Path) -> None:
    (cert,) = load_certificates_from_path(
        kalkan_samples / "certs" / "ncanode_ca_nca_gost2015_test.cer"
    )
    info = describe_certificate(cert, now=datetime(2023, 1, 1, tzinfo=UTC))
    assert info.key_algorithm == "GOST 34.10-2015"
    assert info.key_size == 512
    assert info.purpose is None
    assert info.common_name == "ҰЛТТЫҚ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ (GOST) TEST 2022"


def test_real_nca_ca_directory_as_a_trust_store(kalkan_samples: Path) -> None:
    certificates = load_certificates_from_path(kalkan_samples / "certs")
    assert len(certificates) == 3


# ------------------------------------------------------------------------ certificates


def test_load_certificates_forms(pki: TestPki) -> None:
    signer, ca = pki.signer.certificate, pki.ca.certificate
    der_bytes = signer.public_bytes(serialization.Encoding.DER)
    bundle = _cert_pem(signer) + b"\n" + _cert_pem(ca)
    assert load_certificates(bundle) == (signer, ca)
    assert load_certificates(der_bytes) == (signer,)
    assert load_certificates(pki.sigex_cert_txt.read_bytes()) == (pki.sigex.certificate,)
    p7 = pkcs7.serialize_certificates([signer, ca], serialization.Encoding.DER)
    assert set(load_certificates(p7)) == {signer, ca}
    p7_pem = pkcs7.serialize_certificates([signer, ca], serialization.Encoding.PEM)
    assert set(load_certificates(p7_pem)) == {signer, ca}


@pytest.mark.parametrize(
    "data",
    [b"", b"   ", b"not a certificate", b"MIIB", b"\x30\x03\x02\x01\x01", b"\xff\xfe"],
)
def test_load_certificates_garbage(data: bytes) -> None:
    with pytest.raises(IdentityError) as caught:
        load_certificates(data, source="bad.cer")
    assert caught.value.file == "bad.cer"


def test_load_certificates_from_pem_with_only_a_key(pki: TestPki) -> None:
    with pytest.raises(IdentityError, match="PRIVATE KEY"):
        load_certificates(pki.signer.key_path.read_bytes())


def test_load_certificates_from_a_p12_says_so(pki: TestPki) -> None:
    with pytest.raises(IdentityError, match="PKCS#12"):
        load_certificates(pki.signer_p12.read_bytes())


def test_trust_store_directory(pki: TestPki, tmp_path: Path) -> None:
    store = tmp_path / "trust"
    store.mkdir()
    (store / "a-ca.pem").write_bytes(_cert_pem(pki.ca.certificate))
    (store / "b-ca-again.CRT").write_bytes(_cert_pem(pki.ca.certificate))
    (store / "c-sigex.txt").write_bytes(pki.sigex_cert_txt.read_bytes())
    (store / "d-signer.der").write_bytes(
        pki.signer.certificate.public_bytes(serialization.Encoding.DER)
    )
    (store / "ignored.key").write_bytes(pki.signer.key_path.read_bytes())
    (store / "subdir.pem").mkdir()
    assert load_certificates_from_path(store) == (
        pki.ca.certificate,
        pki.sigex.certificate,
        pki.signer.certificate,
    )
    (store / "e-broken.cer").write_bytes(b"garbage")
    with pytest.raises(IdentityError) as caught:
        load_certificates_from_path(store)
    assert caught.value.file == str(store / "e-broken.cer")


def test_empty_trust_store_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no certificate files"):
        load_certificates_from_path(tmp_path)


# ---------------------------------------------------------------------------- describe


def test_describe_test_pki_signer(pki: TestPki) -> None:
    info = describe_certificate(pki.signer.certificate, now=pki.now)
    assert info.iin == SIGNER_IIN
    assert info.bin == ORGANIZATION_BIN
    assert info.purpose == "SIGN"
    assert info.key_algorithm == "RSA"
    assert info.key_size == 2048
    assert info.key_usage == ("digitalSignature", "nonRepudiation")
    assert info.extended_key_usage == ("emailProtection", "organization (1.2.398.3.3.4.1.2)")
    assert info.policies == ("legal entity SIGN (1.2.398.3.3.2.1)",)
    assert info.subject.startswith("CN=ЖҰМАБЕКОВ ТЕСТ, SURNAME=ЖҰМАБЕКОВ, SERIALNUMBER=IIN")  # noqa: RUF001
    assert info.issuer.startswith("CN=ҰЛТТЫҚ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ (RSA) TEST")
    assert info.serial_hex == format(pki.signer.certificate.serial_number, "x")
    assert info.days_left == 365
    assert not info.self_signed
    assert info.warnings == ()


@pytest.mark.parametrize(
    ("which", "purpose", "algorithm", "self_signed"),
    [
        ("auth", "AUTH", "RSA", False),
        ("signer_ec", "SIGN", "EC P-256", False),
        ("sigex", "AUTH", "EC P-256", True),
        ("ca", None, "RSA", True),
        ("server", None, "RSA", False),
        ("client", "AUTH", "RSA", False),
    ],
)
def test_describe_purposes(
    pki: TestPki, which: str, purpose: str | None, algorithm: str, self_signed: bool
) -> None:
    info = describe_certificate(getattr(pki, which).certificate, now=pki.now)
    assert info.purpose == purpose
    assert info.key_algorithm == algorithm
    assert info.self_signed is self_signed


def test_describe_expiry_warnings(pki: TestPki) -> None:
    cert = pki.signer.certificate
    end = cert.not_valid_after_utc
    assert describe_certificate(cert, now=end - timedelta(days=10)).warnings == (
        "expires in 10 days",
    )
    assert describe_certificate(cert, now=end - timedelta(days=29, hours=1)).warnings == (
        "expires in 29 days",
    )
    assert describe_certificate(cert, now=end - timedelta(days=31)).warnings == ()
    expired = describe_certificate(cert, now=end + timedelta(seconds=1))
    assert expired.warnings == ("expired",)
    assert expired.days_left < 0
    early = cert.not_valid_before_utc - timedelta(hours=1)
    assert describe_certificate(cert, now=early).warnings == ("not yet valid",)


def test_describe_scenario_certificates(pki: TestPki) -> None:
    expired = pki.issue(
        "describe-expired",
        not_before=pki.now - timedelta(days=30),
        not_after=pki.now - timedelta(days=1),
    )
    assert describe_certificate(expired.certificate, now=pki.now).warnings == ("expired",)


def test_describe_needs_an_aware_time(pki: TestPki) -> None:
    with pytest.raises(InputError, match="timezone-aware"):
        describe_certificate(pki.signer.certificate, now=datetime(2030, 1, 1))


def test_describe_output_forms(pki: TestPki) -> None:
    info = describe_certificate(pki.signer.certificate, now=pki.now)
    assert isinstance(info, CertificateInfo)
    data = info.as_dict()
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    assert data["iin"] == SIGNER_IIN
    assert data["not_after"] == pki.signer.certificate.not_valid_after_utc.isoformat()
    lines = info.lines()
    assert f"IIN: {SIGNER_IIN}" in lines
    assert f"BIN: {ORGANIZATION_BIN}" in lines
    assert "Purpose: SIGN" in lines
    assert "Key: RSA 2048 bits" in lines
    assert all(": " in line for line in lines)
    assert not any(line.startswith("Warnings") for line in lines)
    soon = describe_certificate(
        pki.signer.certificate, now=pki.signer.certificate.not_valid_after_utc - timedelta(days=3)
    )
    assert "Warnings: expires in 3 days" in soon.lines()


def test_describe_real_nca_layout_fields(kalkan_samples: Path) -> None:
    path = _nca_key(kalkan_samples, "ncanode2018_AUTH_RSA256_*.p12")
    identity = load_identity_from_path(path, password=NCA_PASSWORD)
    info = describe_certificate(identity.certificate, now=datetime(2019, 6, 1, tzinfo=UTC))
    assert info.policies == ("individual AUTH (1.2.398.3.3.2.4)",)
    assert info.key_usage == ("digitalSignature", "keyEncipherment")
    assert info.bin is None
    assert info.common_name == "ТЕСТОВ ТЕСТ"  # noqa: RUF001


def test_pfx_layout_exported_for_diagnostics(pki: TestPki) -> None:
    layout = pkcs12.read_pfx_layout(pki.signer_legacy_p12.read_bytes())
    assert layout.key_bags[0].encryption == "pkcs12_sha1_tripledes_3key"


def test_der_certificate_ending_in_a_whitespace_byte(pki: TestPki) -> None:
    # DER is binary: a signature may end in 0x0a or 0x20, which .strip() would eat. Parsing does
    # not check the signature, so patching the last byte makes such a certificate.
    original = pki.signer.certificate.public_bytes(serialization.Encoding.DER)
    for last in (b"\n", b" ", b"\t"):
        patched = original[:-1] + last
        (cert,) = load_certificates(patched)
        assert cert.public_bytes(serialization.Encoding.DER) == patched


def _oid(dotted: str) -> bytes:
    return bytes(asn1_core.ObjectIdentifier(dotted).dump())


def test_gost_pkcs8_key_files_load(pki: TestPki) -> None:
    """The exported form of a GOST key: PKCS#8 DER, PEM, or a plain key bag; no password."""
    key = pki.signer_gost.private_key
    assert isinstance(key, GostPrivateKey)
    der_key = key.private_key_info()
    assert not pkcs12.is_encrypted_pkcs8(der_key)
    pem_key = (
        b"-----BEGIN PRIVATE KEY-----\n"
        + base64.encodebytes(der_key)
        + b"-----END PRIVATE KEY-----\n"
    )
    bag = asn1_pkcs12.SafeBag(
        {
            "bag_id": "key_bag",
            "bag_value": asn1_keys.PrivateKeyInfo.load(der_key),
            "bag_attributes": [{"type": "friendly_name", "values": ["gost"]}],
        }
    )
    safe_contents = asn1_pkcs12.SafeContents([bag]).dump()
    p12 = _p12([cms.ContentInfo({"content_type": "data", "content": safe_contents})])
    cert = _cert_pem(pki.signer_gost.certificate)
    for data in (der_key, pem_key, p12):
        identity = load_identity(data, cert_data=cert, source="gost.key")
        assert identity.private_key == key
        assert identity.certificate == pki.signer_gost.certificate
    # The wrong certificate is still refused, by public key.
    with pytest.raises(IdentityError, match="belongs to the private key"):
        load_identity(der_key, cert_data=_cert_pem(pki.signer_gost256.certificate))
    with pytest.raises(IdentityError, match="belongs to the private key"):
        load_identity(der_key, cert_data=_cert_pem(pki.signer.certificate))


def _pbes2_encrypt(private_key_info: bytes, password: bytes) -> bytes:
    """Encrypted PKCS#8 (PBES2: PBKDF2-HMAC-SHA256 + AES-256-CBC), built here independently."""
    salt, iv, rounds = os.urandom(16), os.urandom(16), 2048
    key = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=rounds).derive(
        password
    )
    padder = sym_padding.PKCS7(128).padder()
    plain = padder.update(private_key_info) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return bytes(
        asn1_keys.EncryptedPrivateKeyInfo(
            {
                "encryption_algorithm": {
                    "algorithm": "pbes2",
                    "parameters": {
                        "key_derivation_func": {
                            "algorithm": "pbkdf2",
                            "parameters": {
                                "salt": asn1_core.OctetString(salt),
                                "iteration_count": rounds,
                                "prf": {"algorithm": "sha256"},
                            },
                        },
                        "encryption_scheme": {"algorithm": "aes256_cbc", "parameters": iv},
                    },
                },
                "encrypted_data": encryptor.update(plain) + encryptor.finalize(),
            }
        ).dump()
    )


def test_encrypted_gost_pkcs8_loads(pki: TestPki, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key = pki.signer_gost256.private_key
    assert isinstance(key, GostPrivateKey)
    encrypted = _pbes2_encrypt(key.private_key_info(), b"s3cret")
    pem = (
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
        + base64.encodebytes(encrypted)
        + b"-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    cert = _cert_pem(pki.signer_gost256.certificate)
    for data in (encrypted, pem):
        identity = load_identity(data, password=b"s3cret", cert_data=cert)
        assert identity.private_key == key
        with pytest.raises(PasswordRequiredError):
            load_identity(data, cert_data=cert)
        with pytest.raises(IdentityError, match="wrong password") as wrong:
            load_identity(data, password=WRONG, cert_data=cert, source="k.pem")
        assert wrong.value.file == "k.pem"
        _assert_secret_hidden(b"s3cret", wrong.value, caplog)


def test_generated_gost_container_loads(pki: TestPki) -> None:
    assert pki.signer_gost_p12.name.startswith("GOST512_")
    identity = load_identity_from_path(pki.signer_gost_p12, password=pki.password.encode())
    assert identity.private_key == pki.signer_gost.private_key
    assert identity.certificate == pki.signer_gost.certificate
    assert pki.signer_gost_p12.name == f"GOST512_{identity.alias}.p12"
    with pytest.raises(IdentityError, match="no entry with alias"):
        load_identity_from_path(
            pki.signer_gost_p12, password=pki.password.encode(), alias="someone-else"
        )


def test_legacy_gost_2004_keys_are_refused_with_the_reason(pki: TestPki) -> None:
    """GOST 34.310-2004 (GOSTKNCA_*): recognised, refused, and told why (docs/gost.md)."""
    params = _tlv(0x30, _oid("1.2.398.3.10.1.1.1.1.1") + _oid("1.2.398.3.10.1.3.1.1.0"))
    algorithm = _tlv(0x30, _oid("1.2.398.3.10.1.1.1.1") + params)
    private = _tlv(0x04, _tlv(0x02, b"\x01" * 32))
    der_key = _tlv(0x30, b"\x02\x01\x00" + algorithm + private)
    with pytest.raises(IdentityError, match=r"GOST 34\.310-2004 keys \(GOSTKNCA_\*\) are not"):
        load_identity(der_key, cert_data=_cert_pem(pki.signer.certificate), source="old.key")


def test_gost_pkcs8_under_an_encryption_cryptography_cannot_undo(pki: TestPki) -> None:
    """Two-key 3DES (PKCS#12 PBE) around a GOST key: cryptography fails, we decrypt."""
    key = pki.signer_gost256.private_key
    assert isinstance(key, GostPrivateKey)
    salt, rounds = os.urandom(8), 100
    secret = pkcs12.pkcs12_kdf(b"pw", salt, rounds, purpose=1, length=16)
    iv = pkcs12.pkcs12_kdf(b"pw", salt, rounds, purpose=2, length=8)
    padder = sym_padding.PKCS7(64).padder()
    plain = padder.update(key.private_key_info()) + padder.finalize()
    encryptor = Cipher(TripleDES(secret + secret[:8]), modes.CBC(iv)).encryptor()
    encrypted = asn1_keys.EncryptedPrivateKeyInfo(
        {
            "encryption_algorithm": {
                "algorithm": "pkcs12_sha1_tripledes_2key",
                "parameters": {"salt": salt, "iterations": rounds},
            },
            "encrypted_data": encryptor.update(plain) + encryptor.finalize(),
        }
    ).dump()
    cert = _cert_pem(pki.signer_gost256.certificate)
    assert load_identity(encrypted, password=b"pw", cert_data=cert).private_key == key
    with pytest.raises(IdentityError, match="wrong password"):
        load_identity(encrypted, password=b"pW", cert_data=cert)


@pytest.mark.parametrize("seed", range(4))
def test_damaged_gost_containers_fail_typed(pki: TestPki, seed: int) -> None:
    """Seeded byte flips and truncations of a GOST512 container: every failure is one of our
    errors (named file, no traceback), never a library exception."""
    import random

    data = pki.signer_gost_p12.read_bytes()
    rng = random.Random(seed)
    for _ in range(40):
        damaged = bytearray(data)
        if rng.random() < 0.2:
            damaged = damaged[: rng.randrange(1, len(data))]
        else:
            for _ in range(rng.randint(1, 3)):
                damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        with pytest.raises(IdentityError) as caught:  # none of these flips still loads
            load_identity(bytes(damaged), password=pki.password.encode(), source="d.p12")
        assert caught.value.file == "d.p12"
        assert pki.password not in str(caught.value)

"""The test PKI must look like NCA's where it matters, and stay fast and safe to generate."""

from __future__ import annotations

import base64
import os
import re
import shutil
import ssl
import stat
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12 as crypto_pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from gateway import pkcs12
from gateway.errors import ConfigError, InputError
from gateway.testpki import (
    CA_COMMON_NAME,
    DEFAULT_PASSWORD,
    ORGANIZATION_BIN,
    SIGNER_IIN,
    IssuedCert,
    TestPki,
    generate_test_pki,
    make_ca,
)

ROLE_ORGANIZATION = ObjectIdentifier("1.2.398.3.3.4.1.2")
# MAC, key bag and certificate part algorithms, as asn1crypto names what openssl reports as
# "MAC: sha1", pbeWithSHA1And3-KeyTripleDES-CBC and pbeWithSHA1And40BitRC2-CBC.
NCA_LEGACY_LAYOUT = (
    "sha1",
    "pkcs12_sha1_tripledes_3key",
    ("pkcs12_sha1_rc2_40",),
)


_T = TypeVar("_T", bound=x509.ExtensionType)


def _ext(cert: x509.Certificate, kind: type[_T]) -> x509.Extension[_T]:
    return cert.extensions.get_extension_for_class(kind)


def _value(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    (attribute,) = name.get_attributes_for_oid(oid)
    assert isinstance(attribute.value, str)
    return attribute.value


def _policies(cert: x509.Certificate) -> set[str]:
    return {p.policy_identifier.dotted_string for p in _ext(cert, x509.CertificatePolicies).value}


def _issued_by(cert: x509.Certificate, issuer: IssuedCert) -> bool:
    try:
        cert.verify_directly_issued_by(issuer.certificate)
    except (ValueError, TypeError):
        return False
    ski = _ext(issuer.certificate, x509.SubjectKeyIdentifier).value.digest
    return _ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == ski


# ------------------------------------------------------------------------------- generation


def test_generation_is_fast_enough_for_session_start(tmp_path: Path) -> None:
    started = time.perf_counter()
    generate_test_pki(tmp_path / "pki")
    # ~0.3 s on a laptop; the budget is generous so a loaded CI runner does not flake.
    assert time.perf_counter() - started < 5


def test_pki_is_not_collected_as_a_test_class() -> None:
    assert TestPki.__test__ is False


def test_validity_follows_now(tmp_path: Path) -> None:
    now = datetime(2030, 5, 17, 12, 0, 0, 123456, tzinfo=UTC)
    pki = generate_test_pki(tmp_path, now=now)
    assert pki.now == now.replace(microsecond=0)
    signer = pki.signer.certificate
    assert signer.not_valid_before_utc == pki.now - timedelta(days=1)
    assert signer.not_valid_after_utc == pki.now + timedelta(days=365)


def test_naive_now_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="timezone-aware"):
        generate_test_pki(tmp_path, now=datetime(2030, 1, 1))


def test_key_files_are_private(pki: TestPki) -> None:
    private = [
        pki.ca.key_path,
        pki.signer.key_path,
        pki.auth.key_path,
        pki.signer_ec.key_path,
        pki.server.key_path,
        pki.client.key_path,
        pki.sigex_key_pem,
        pki.sigex_key_der,
        pki.signer_p12,
        pki.signer_legacy_p12,
        pki.client_p12,
    ]
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert path.is_relative_to(pki.directory)


def test_keys_are_written_unencrypted_pkcs8(pki: TestPki) -> None:
    for issued in (pki.ca, pki.signer, pki.auth, pki.signer_ec, pki.server, pki.client):
        text = issued.key_path.read_bytes()
        assert text.startswith(b"-----BEGIN PRIVATE KEY-----")
        key = serialization.load_pem_private_key(text, None)
        assert key.public_key() == issued.certificate.public_key()
        assert issued.cert_path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")


def test_repr_hides_private_keys(pki: TestPki) -> None:
    assert "private_key" not in repr(pki.signer)
    assert "PRIVATE KEY" not in repr(pki)


# ----------------------------------------------------------------------------- certificates


def test_ca_is_an_nca_like_root(pki: TestPki) -> None:
    ca = pki.ca.certificate
    assert _value(ca.subject, NameOID.COMMON_NAME) == CA_COMMON_NAME
    assert _value(ca.subject, NameOID.COUNTRY_NAME) == "KZ"
    assert ca.issuer == ca.subject
    ca.verify_directly_issued_by(ca)
    basic = _ext(ca, x509.BasicConstraints)
    assert basic.critical
    assert basic.value.ca
    usage = _ext(ca, x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign
    assert not usage.digital_signature
    assert isinstance(pki.ca.private_key, rsa.RSAPrivateKey)
    assert pki.ca.private_key.key_size == 2048


def test_signer_is_an_nca_organization_sign_certificate(pki: TestPki) -> None:
    cert = pki.signer.certificate
    subject = cert.subject
    common_name = _value(subject, NameOID.COMMON_NAME)
    cyrillic_words = r"[\u0400-\u04ff]+ [\u0400-\u04ff]+"
    assert re.fullmatch(cyrillic_words, common_name)
    assert _value(subject, NameOID.SURNAME) == common_name.split()[0]
    assert _value(subject, NameOID.GIVEN_NAME)
    assert _value(subject, NameOID.SERIAL_NUMBER) == f"IIN{SIGNER_IIN}"
    assert re.fullmatch(r"IIN\d{12}", _value(subject, NameOID.SERIAL_NUMBER))
    assert _value(subject, NameOID.COUNTRY_NAME) == "KZ"
    assert _value(subject, NameOID.ORGANIZATION_NAME)
    assert _value(subject, NameOID.ORGANIZATIONAL_UNIT_NAME) == f"BIN{ORGANIZATION_BIN}"
    assert re.fullmatch(r"BIN\d{12}", _value(subject, NameOID.ORGANIZATIONAL_UNIT_NAME))

    usage = _ext(cert, x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert usage.value.content_commitment
    assert not usage.value.key_encipherment
    assert list(_ext(cert, x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.EMAIL_PROTECTION,
        ROLE_ORGANIZATION,
    ]
    assert _policies(cert) == {"1.2.398.3.3.2.1"}
    ski = _ext(cert, x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(pki.signer.private_key.public_key())
    assert _issued_by(cert, pki.ca)
    assert isinstance(pki.signer.private_key, rsa.RSAPrivateKey)
    assert pki.signer.private_key.key_size == 2048
    assert cert.not_valid_before_utc == pki.now - timedelta(days=1)
    assert cert.not_valid_after_utc == pki.now + timedelta(days=365)


def test_auth_is_an_nca_auth_certificate(pki: TestPki) -> None:
    cert = pki.auth.certificate
    usage = _ext(cert, x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.key_encipherment
    assert not usage.content_commitment
    assert ExtendedKeyUsageOID.CLIENT_AUTH in _ext(cert, x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION not in _ext(cert, x509.ExtendedKeyUsage).value
    assert _policies(cert) == {"1.2.398.3.3.2.2"}
    assert isinstance(pki.auth.private_key, rsa.RSAPrivateKey)
    assert _issued_by(cert, pki.ca)
    assert pki.auth.private_key.public_key() != pki.signer.private_key.public_key()


def test_signer_ec_is_p256_from_the_ca(pki: TestPki) -> None:
    key = pki.signer_ec.private_key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)
    assert _issued_by(pki.signer_ec.certificate, pki.ca)
    eku = _ext(pki.signer_ec.certificate, x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku


def test_sigex_files_are_what_sigex_hands_out(pki: TestPki) -> None:
    cert = pki.sigex.certificate
    assert re.fullmatch(r"Self signed #\d+", _value(cert.subject, NameOID.COMMON_NAME))
    assert cert.issuer == cert.subject
    cert.verify_directly_issued_by(cert)
    assert isinstance(pki.sigex.private_key, ec.EllipticCurvePrivateKey)
    assert isinstance(pki.sigex.private_key.curve, ec.SECP256R1)

    text = pki.sigex_cert_txt.read_text()
    assert "-----" not in text
    assert base64.b64decode(text, validate=False) == cert.public_bytes(serialization.Encoding.DER)
    assert pki.sigex_cert_txt.name == "certificate.txt"
    assert pki.sigex_key_pem.name == "privateKey.pem"
    assert pki.sigex_key_der.name == "privateKey.der"
    pem_key = serialization.load_pem_private_key(pki.sigex_key_pem.read_bytes(), None)
    der_key = serialization.load_der_private_key(pki.sigex_key_der.read_bytes(), None)
    assert pki.sigex_key_pem.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert pem_key.public_key() == der_key.public_key() == cert.public_key()


def test_server_and_client_certificates(pki: TestPki) -> None:
    server = pki.server.certificate
    san = _ext(server, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "emulator"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert list(_ext(server, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert _issued_by(server, pki.ca)
    client = pki.client.certificate
    assert list(_ext(client, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert _issued_by(client, pki.ca)


@pytest.mark.parametrize("hostname", ["127.0.0.1", "localhost"])
def test_tls_material_completes_a_mutual_tls_handshake(pki: TestPki, hostname: str) -> None:
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(pki.server.cert_path, pki.server.key_path)
    server_ctx.load_verify_locations(pki.ca.cert_path)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(pki.ca.cert_path)
    client_ctx.load_cert_chain(pki.client.cert_path, pki.client.key_path)

    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=hostname)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, end in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            break
    assert all(done.values())
    peer = server.getpeercert(binary_form=True)
    assert peer == pki.client.certificate.public_bytes(serialization.Encoding.DER)


# --------------------------------------------------------------------------------- PKCS#12


def test_modern_p12_holds_signer_and_ca(pki: TestPki) -> None:
    data = pki.signer_p12.read_bytes()
    bundle = crypto_pkcs12.load_pkcs12(data, pki.password.encode())
    assert bundle.cert is not None
    assert bundle.cert.friendly_name == b"signer"
    assert bundle.cert.certificate == pki.signer.certificate
    assert [c.certificate for c in bundle.additional_certs] == [pki.ca.certificate]
    layout = pkcs12.read_pfx_layout(data)
    assert layout.mac_algorithm == "sha256"
    assert layout.aliases == ("signer",)
    assert layout.key_bags[0].encryption == "pbes2 (pbkdf2, hmac-sha256, aes256_cbc)"
    with pytest.raises(ValueError, match="password"):
        crypto_pkcs12.load_pkcs12(data, b"not-the-password")


def test_client_p12(pki: TestPki) -> None:
    bundle = crypto_pkcs12.load_pkcs12(pki.client_p12.read_bytes(), pki.password.encode())
    assert bundle.cert is not None
    assert bundle.cert.friendly_name == b"client"
    assert bundle.cert.certificate == pki.client.certificate


def test_legacy_p12_has_the_nca_layout(pki: TestPki) -> None:
    data = pki.signer_legacy_p12.read_bytes()
    layout = pkcs12.read_pfx_layout(data)
    assert (
        layout.mac_algorithm,
        layout.key_bags[0].encryption,
        layout.encrypted_parts,
    ) == NCA_LEGACY_LAYOUT
    assert layout.mac_iterations == 1024
    ski = _ext(pki.signer.certificate, x509.SubjectKeyIdentifier).value.digest.hex()
    assert layout.aliases == (ski,)
    assert pki.signer_legacy_p12.name == f"RSA256_{ski}.p12"
    bundle = crypto_pkcs12.load_pkcs12(data, pki.password.encode())
    assert bundle.cert is not None
    assert bundle.cert.certificate == pki.signer.certificate
    assert bundle.additional_certs == []  # NCA containers hold the user certificate only


def test_legacy_p12_algorithms_as_openssl_reports_them(pki: TestPki) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "SHEP_TEST_P12_PASSWORD": pki.password}
    result = subprocess.run(
        [
            "openssl",
            "pkcs12",
            "-info",
            "-noout",
            "-legacy",
            "-in",
            str(pki.signer_legacy_p12),
            "-passin",
            "env:SHEP_TEST_P12_PASSWORD",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = result.stdout + result.stderr
    assert "MAC: sha1, Iteration 1024" in report
    assert "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC" in report
    assert "PKCS7 Encrypted data: pbeWithSHA1And40BitRC2-CBC" in report


def test_legacy_p12_matches_real_nca_containers(pki: TestPki, kalkan_samples: Path) -> None:
    real = pkcs12.read_pfx_layout(
        next((kalkan_samples / "keys").glob("ncanode2018_RSA256_*.p12")).read_bytes()
    )
    ours = pkcs12.read_pfx_layout(pki.signer_legacy_p12.read_bytes())
    for layout in (real, ours):
        assert (
            layout.mac_algorithm,
            layout.key_bags[0].encryption,
            layout.encrypted_parts,
        ) == NCA_LEGACY_LAYOUT
    assert ours.mac_iterations == real.mac_iterations


def test_missing_openssl_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="openssl"):
        generate_test_pki(tmp_path / "pki")


def test_openssl_never_sees_the_password_on_its_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in openssl records what it was given (argv, environment, stdin) and fails.
    record = tmp_path / "record"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "openssl"
    env_tool, cat_tool = shutil.which("env"), shutil.which("cat")
    assert env_tool
    assert cat_tool
    fake.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > "{record}.argv"\n'
        f'{env_tool} > "{record}.env"\n'
        f'{cat_tool} > "{record}.stdin"\n'
        'echo "fake openssl: refusing" >&2\n'
        "exit 1\n"
    )
    fake.chmod(0o700)
    monkeypatch.setenv("PATH", str(bin_dir))
    secret = "Very-Secret-Passw0rd"
    with pytest.raises(ConfigError, match="fake openssl: refusing") as caught:
        generate_test_pki(tmp_path / "pki", password=secret)
    assert secret not in str(caught.value)
    argv = Path(f"{record}.argv").read_text()
    assert "-passout" in argv
    assert "stdin" in argv
    assert secret not in argv
    assert secret not in Path(f"{record}.env").read_text()
    assert Path(f"{record}.stdin").read_text().strip() == secret


# ------------------------------------------------------------------------------- scenarios


def test_issue_expired_and_not_yet_valid(pki: TestPki) -> None:
    expired = pki.issue(
        "expired-signer",
        not_before=pki.now - timedelta(days=400),
        not_after=pki.now - timedelta(days=1),
    )
    assert expired.certificate.not_valid_after_utc < pki.now
    assert expired.cert_path == pki.directory / "expired-signer.pem"
    assert expired.key_path == pki.directory / "expired-signer.key.pem"
    future = pki.issue("future-signer", not_before=pki.now + timedelta(days=2))
    assert future.certificate.not_valid_before_utc > pki.now
    assert _issued_by(future.certificate, pki.ca)
    assert _value(future.certificate.subject, NameOID.COMMON_NAME) == "future-signer"
    assert _value(future.certificate.subject, NameOID.SERIAL_NUMBER) == f"IIN{SIGNER_IIN}"


def test_issue_from_another_ca(pki: TestPki) -> None:
    other = make_ca(pki.directory / "other", "Untrusted Test CA")
    assert _value(other.certificate.subject, NameOID.COMMON_NAME) == "Untrusted Test CA"
    assert other.cert_path == pki.directory / "other" / "Untrusted-Test-CA.pem"
    stranger = pki.issue("stranger", issuer=other)
    assert _issued_by(stranger.certificate, other)
    assert not _issued_by(stranger.certificate, pki.ca)


@pytest.mark.parametrize(
    ("usage", "eku"),
    [
        ("sign", ExtendedKeyUsageOID.EMAIL_PROTECTION),
        ("auth", ExtendedKeyUsageOID.CLIENT_AUTH),
        ("tls-server", ExtendedKeyUsageOID.SERVER_AUTH),
        ("tls-client", ExtendedKeyUsageOID.CLIENT_AUTH),
    ],
)
def test_issue_usages(pki: TestPki, usage: str, eku: x509.ObjectIdentifier) -> None:
    issued = pki.issue(f"usage-{usage}", usage=usage, key_type="ec")  # type: ignore[arg-type]
    assert isinstance(issued.private_key, ec.EllipticCurvePrivateKey)
    assert eku in _ext(issued.certificate, x509.ExtendedKeyUsage).value


def test_issue_keeps_files_inside_the_directory(pki: TestPki) -> None:
    issued = pki.issue("../../escape attempt")
    assert issued.cert_path.parent == pki.directory
    assert issued.cert_path.name == "escape-attempt.pem"


def test_issue_rejects_bad_input(pki: TestPki, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not_after"):
        pki.issue("backwards", not_before=pki.now, not_after=pki.now - timedelta(days=1))
    with pytest.raises(InputError, match="timezone-aware"):
        pki.issue("naive", not_after=datetime(2031, 1, 1))
    with pytest.raises(InputError, match="common name"):
        make_ca(tmp_path, "Ж" * 40)


def test_default_password() -> None:
    assert DEFAULT_PASSWORD == "test-password"

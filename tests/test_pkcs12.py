"""Reading a PKCS#12 container's layout without its password."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import pkcs12
from gateway.errors import InputError
from gateway.testpki import TestPki


def test_real_nca_container_layout(kalkan_samples: Path) -> None:
    path = next((kalkan_samples / "keys").glob("ncanode2018_RSA256_*.p12"))
    layout = pkcs12.read_pfx_layout(path.read_bytes())
    assert layout.mac_algorithm == "sha1"
    assert layout.mac_iterations == 1024
    assert layout.encrypted_parts == ("pbeWithSHA1And40BitRC2-CBC",)
    (bag,) = layout.key_bags
    assert bag.encryption == "pbeWithSHA1And3-KeyTripleDES-CBC"
    assert path.stem.endswith(bag.friendly_name or "-")
    assert bag.local_key_id is not None
    assert bytes.fromhex(bag.friendly_name or "") == bag.local_key_id
    assert "data" not in repr(bag)  # the (encrypted) key stays out of repr


def test_gost_container_layout_is_readable_without_gost(kalkan_samples: Path) -> None:
    data = (kalkan_samples / "keys" / "ncanode_key_individual_valid_2015.p12").read_bytes()
    layout = pkcs12.read_pfx_layout(data)
    assert layout.aliases == ("8ff06211dc82beb00253ffa000f1de84abef454f",)


def test_modern_container_layout(pki: TestPki) -> None:
    layout = pkcs12.read_pfx_layout(pki.signer_p12.read_bytes())
    assert layout.mac_algorithm == "sha256"
    assert layout.aliases == ("signer",)
    assert layout.encrypted_parts == ("PBES2 (PBKDF2, hmacWithSHA256, aes-256-cbc)",)


def test_looks_like_pfx(pki: TestPki) -> None:
    data = pki.signer_legacy_p12.read_bytes()
    assert pkcs12.looks_like_pfx(data)
    assert pkcs12.looks_like_pfx(data[:40])  # truncated: still recognisably a container
    assert not pkcs12.looks_like_pfx(pki.signer.key_path.read_bytes())
    assert not pkcs12.looks_like_pfx(pki.sigex_key_der.read_bytes())
    assert not pkcs12.looks_like_pfx(b"")
    assert not pkcs12.looks_like_pfx(b"\x30\x80")


def test_damaged_containers_are_input_errors(pki: TestPki) -> None:
    data = pki.signer_legacy_p12.read_bytes()
    for size in (5, 40, len(data) // 2):
        with pytest.raises(InputError):
            pkcs12.read_pfx_layout(data[:size])
    with pytest.raises(InputError):
        pkcs12.read_pfx_layout(pki.sigex_key_der.read_bytes())

"""Shared fixtures: a clean environment, the test PKI, and the read-only reference data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.testpki import TestPki, generate_test_pki

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

_LEAKY_VARIABLES = (
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Strip CA-bundle and proxy variables so no test depends on this machine's settings."""
    for name in _LEAKY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("SHEP_"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only reference data beside the checkout; tests that need it skip elsewhere."""
    if not (SHARED / "protocol.md").is_file():
        pytest.skip(f"reference data not found at {SHARED} (only CI and dev machines have it)")
    return SHARED


@pytest.fixture(scope="session")
def kalkan_samples(shared_dir: Path) -> Path:
    path = shared_dir / "kalkan-samples"
    if not (path / "keys").is_dir():
        pytest.skip(f"Kalkan samples not found at {path}")
    return path


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """A throw-away test PKI generated once per test session (see gateway.testpki)."""
    return generate_test_pki(tmp_path_factory.mktemp("pki"))

"""Configuration: one TOML file of named profiles, overridden by ``SHEP_*`` variables.

::

    default_profile = "test"

    [profiles.test]
    endpoint = "https://gateway.example:8443/bip-sync-wss-gost/"
    ca_bundle = "nca-tls-ca.pem"
    sender_id = "my-system"
    sender_password_env = "SHEP_SENDER_PASSWORD"
    signing_key = "keys/RSA256_xxx.p12"
    signing_password_env = "SHEP_SIGNING_PASSWORD"
    tls_key = "keys/sigex/privateKey.pem"
    tls_cert = "keys/sigex/certificate.txt"

Every key can be set or overridden by ``SHEP_<KEY>`` (``SHEP_ENDPOINT``, ``SHEP_SIGNING_KEY``
...); the environment wins. ``SHEP_PROFILE`` picks the profile. Secrets are never values in
the file or the environment variable list above: only the *name* of a variable
(``*_password_env``) or a file (``*_password_file``) that holds them. Relative paths are
relative to the config file. This module takes the environment as an argument; only the CLI
reads ``os.environ``.
"""

from __future__ import annotations

import tomllib
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.client import GatewayClient
from gateway.errors import ConfigError, GatewayError, InputError
from gateway.identity import (
    Identity,
    describe_certificate,
    load_certificates_from_path,
    load_identity_from_path,
)
from gateway.secretref import SecretRef
from gateway.transport import RetryPolicy, Transport, TransportConfig
from gateway.wssec import ALL_SUITES, KeyRef, VerifyPolicy, make_signer

__all__ = [
    "CheckResult",
    "Profile",
    "SecretRef",
    "check_profile",
    "load_profile",
    "open_client",
]

ENV_PREFIX = "SHEP_"
_SECRET_KEYS = ("sender_password", "signing_password", "tls_password")


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """One named gateway environment (``local``, ``test``, ``prod``): where and as whom."""

    name: str
    source: str
    endpoint: str
    async_endpoint: str | None = None
    ca_bundle: Path | None = None
    sender_id: str
    sender_password: SecretRef = SecretRef()
    signing_key: Path
    signing_cert: Path | None = None
    signing_alias: str | None = None
    signing_password: SecretRef = SecretRef()
    key_ref: KeyRef = "keyidentifier"
    tls_key: Path | None = None
    tls_cert: Path | None = None
    tls_alias: str | None = None
    tls_password: SecretRef = SecretRef()
    proxy: str | None = field(default=None, repr=False)
    """May carry the proxy's user and password: kept out of the repr."""
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 3
    resend_after_send: bool = True
    response_trust: Path | None = None
    require_signed_response: bool = False
    insecure_skip_tls_verify: bool = False
    max_response_bytes: int = 16 * 1024 * 1024

    def signing_identity(self, environ: Mapping[str, str]) -> Identity:
        """The key that makes the transport signature."""
        return load_identity_from_path(
            self.signing_key,
            password=self.signing_password.resolve(environ, "signing_password"),
            cert_path=self.signing_cert,
            alias=self.signing_alias,
        )

    def tls_identity(self, environ: Mapping[str, str]) -> Identity | None:
        """The mutual-TLS client key, if one is configured."""
        if self.tls_key is None:
            return None
        return load_identity_from_path(
            self.tls_key,
            password=self.tls_password.resolve(environ, "tls_password"),
            cert_path=self.tls_cert,
            alias=self.tls_alias,
        )


_PATH_KEYS = {
    "ca_bundle",
    "signing_key",
    "signing_cert",
    "tls_key",
    "tls_cert",
    "response_trust",
}
_REQUIRED = ("endpoint", "sender_id", "signing_key")


def _field_types() -> dict[str, str]:
    return {f.name: str(f.type) for f in fields(Profile)}


def load_profile(
    path: Path | None, *, profile: str | None = None, environ: Mapping[str, str]
) -> Profile:
    """Read ``path`` (optional), pick the profile, apply ``SHEP_*`` overrides, check types."""
    document: dict[str, Any] = {}
    base = Path.cwd()
    source = "environment"
    if path is not None:
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"cannot read config: {exc.strerror}", file=str(path)) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}", file=str(path)) from exc
        base = path.resolve().parent
        source = str(path)
    name = environ.get(f"{ENV_PREFIX}PROFILE") or profile or document.get("default_profile")
    profiles = document.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError("[profiles] must be a table of named profiles", file=source)
    if name is None:
        name = next(iter(profiles), "default")
    values: dict[str, Any] = {}
    if profiles:
        if name not in profiles:
            known = ", ".join(sorted(profiles)) or "none"
            raise ConfigError(f"no profile {name!r} (profiles: {known})", file=source)
        values = dict(profiles[name])
    values.update(_from_environ(environ))
    return _build(str(name), values, base, source)


def _from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    # SHEP_SENDER_PASSWORD & co. are not settings: they are where secrets are often kept,
    # and a profile names such a variable with sender_password_env.
    names = {f.name for f in fields(Profile)} - {"name", "source", *_SECRET_KEYS}
    names |= {f"{s}_env" for s in _SECRET_KEYS} | {f"{s}_file" for s in _SECRET_KEYS}
    return {
        key: environ[f"{ENV_PREFIX}{key.upper()}"]
        for key in names
        if f"{ENV_PREFIX}{key.upper()}" in environ
    }


def _build(name: str, values: dict[str, Any], base: Path, source: str) -> Profile:
    for secret in _SECRET_KEYS:
        if secret in values:
            raise ConfigError(
                f"{secret} must not be written in the configuration; "
                f"use {secret}_env (a variable's name) or {secret}_file",
                file=source,
                field=secret,
            )
    kwargs: dict[str, Any] = {"name": name, "source": source}
    for secret in _SECRET_KEYS:
        env = values.pop(f"{secret}_env", None)
        file = values.pop(f"{secret}_file", None)
        if env and file:
            raise ConfigError(
                f"give either {secret}_env or {secret}_file", file=source, field=secret
            )
        kwargs[secret] = SecretRef(
            env=str(env) if env else None, file=_path(file, base) if file else None
        )
    types = _field_types()
    for key, raw in values.items():
        if key not in types or key in {"name", "source"}:
            raise ConfigError(f"unknown setting {key!r}", file=source, field=key)
        kwargs[key] = _convert(key, raw, types[key], base, source)
    missing = [key for key in _REQUIRED if not kwargs.get(key)]
    if missing:
        raise ConfigError(
            f"profile {name!r} lacks {', '.join(missing)} "
            f"(set them in the file or as {', '.join(ENV_PREFIX + m.upper() for m in missing)})",
            file=source,
        )
    if not str(kwargs["endpoint"]).startswith("https://"):
        raise ConfigError("endpoint must be an https:// URL", file=source, field="endpoint")
    for key in ("endpoint", "async_endpoint"):
        if kwargs.get(key) and "@" in urllib.parse.urlsplit(str(kwargs[key])).netloc:
            raise ConfigError(f"{key} must not carry a user or password", file=source, field=key)
    if kwargs.get("key_ref", "keyidentifier") not in ("keyidentifier", "bst", "issuerserial"):
        raise ConfigError("key_ref must be keyidentifier, bst or issuerserial", field="key_ref")
    return Profile(**kwargs)


def _path(value: object, base: Path) -> Path:
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else base / path


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _convert(key: str, raw: object, kind: str, base: Path, source: str) -> object:
    """Values from TOML keep their type; those from the environment arrive as text."""
    converters: dict[str, Callable[[Any], object]] = {"int": int, "float": float, "bool": _bool}
    if key in _PATH_KEYS:
        return _path(raw, base)
    convert = next((f for name, f in converters.items() if kind.startswith(name)), str)
    try:
        return convert(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{raw!r} is not a valid {kind}", file=source, field=key) from None


def _bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text not in _TRUE | _FALSE:
        raise ValueError(text)
    return text in _TRUE


# --------------------------------------------------------------------------- assembling


def open_client(
    profile: Profile, environ: Mapping[str, str], *, pool_size: int | None = None
) -> GatewayClient:
    """Load keys and trust for ``profile`` and return a ready client (close it when done).
    ``pool_size``: connections kept open, at least the number of concurrent senders."""
    signing = profile.signing_identity(environ)
    tls = profile.tls_identity(environ)
    transport = Transport(
        TransportConfig(
            ca_bundle=profile.ca_bundle,
            client_identity=tls,
            proxy=profile.proxy,
            connect_timeout=profile.connect_timeout,
            read_timeout=profile.read_timeout,
            max_response_bytes=profile.max_response_bytes,
            pool_size=max(pool_size or 0, 8),
            retry=RetryPolicy(
                attempts=profile.retries + 1, resend_after_send=profile.resend_after_send
            ),
            insecure_skip_tls_verify=profile.insecure_skip_tls_verify,
        )
    )
    response_policy = None
    if profile.response_trust is not None:
        response_policy = VerifyPolicy(
            trusted_certs=load_certificates_from_path(profile.response_trust), suites=ALL_SUITES
        )
    password = profile.sender_password.resolve(environ, "sender_password")
    return GatewayClient(
        transport=transport,
        signer=make_signer(signing, key_ref=profile.key_ref),
        endpoint=profile.endpoint,
        async_endpoint=profile.async_endpoint,
        sender_id=profile.sender_id,
        sender_password=password.decode("utf-8") if password is not None else None,
        response_policy=response_policy,
        require_signed_response=profile.require_signed_response,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    """One line of ``shep config check``: what was checked, and what is wrong if anything."""

    what: str
    ok: bool
    detail: str = field(default="")


def check_profile(
    profile: Profile, environ: Mapping[str, str], *, now: datetime | None = None
) -> list[CheckResult]:
    """Try everything the profile needs, without sending anything; report each finding."""
    moment = now or datetime.now(UTC)
    results: list[CheckResult] = [
        CheckResult(what="profile", ok=True, detail=f"{profile.name} from {profile.source}")
    ]

    def attempt(what: str, action: Callable[[], str]) -> None:
        try:
            results.append(CheckResult(what=what, ok=True, detail=action()))
        except GatewayError as exc:
            results.append(CheckResult(what=what, ok=False, detail=str(exc)))

    def key_detail(identity: Identity | None) -> str:
        assert identity is not None  # noqa: S101  (only called when a key is configured)
        info = describe_certificate(identity.certificate, now=moment)
        warn = f" — {'; '.join(info.warnings)}" if info.warnings else ""
        return f"{info.common_name or info.subject} ({info.key_algorithm}){warn}"

    attempt("endpoint", lambda: profile.endpoint)
    if profile.ca_bundle is not None:
        bundle = profile.ca_bundle
        attempt(
            "ca_bundle",
            lambda: f"{len(load_certificates_from_path(bundle))} certificate(s) in {bundle}",
        )
    else:
        results.append(
            CheckResult(what="ca_bundle", ok=True, detail="system trust store (not set)")
        )
    attempt("signing key", lambda: key_detail(profile.signing_identity(environ)))
    if profile.tls_key is not None:
        attempt("tls client key", lambda: key_detail(profile.tls_identity(environ)))
    else:
        results.append(
            CheckResult(
                what="tls client key",
                ok=False,
                detail="not set (tls_key): the external gateway requires mutual TLS",
            )
        )
    attempt(
        "sender",
        lambda: (
            profile.sender_id
            + (
                " with password"
                if profile.sender_password.resolve(environ, "sender_password") is not None
                else " (no password)"
            )
        ),
    )
    if profile.response_trust is not None:
        trust = profile.response_trust
        attempt(
            "response_trust",
            lambda: f"{len(load_certificates_from_path(trust))} certificate(s)",
        )
    if profile.insecure_skip_tls_verify:
        results.append(
            CheckResult(what="tls verification", ok=False, detail="OFF (insecure_skip_tls_verify)")
        )
    return results

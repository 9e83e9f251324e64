"""HTTPS to the gateway: mutual TLS, explicit trust, timeouts, size limit, safe retries.

Every TLS setting is ours: ``requests`` is given one ``ssl.SSLContext`` that carries the CA
bundle for the gateway's certificate and our client certificate, the session ignores the
environment (``trust_env = False``, so ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` and proxy
variables change nothing), and every call passes its timeout, proxies and verification.

The client key goes to OpenSSL encrypted with a one-time password, through an in-memory file
where the platform has one: it never touches disk unencrypted.

Retries follow a :class:`RetryPolicy` evaluated by urllib3's ``Retry`` (backoff with jitter,
``Retry-After``). A SOAP call is a POST, so only what is safe is retried: connection failures
(the request never left) and 429/503 (the gateway did not take it); a failure after the
request was sent is resent only with ``resend_after_send``, which is safe when every resend
carries the same messageId (the gateway and the services see a duplicate, not a new message).
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import secrets
import ssl
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.util.retry import RequestHistory, Retry

from gateway.errors import (
    ConfigError,
    ConnectError,
    HttpStatusError,
    ResponseTooLargeError,
    TlsError,
    TransportError,
    TransportTimeoutError,
)
from gateway.gost import GostPrivateKey
from gateway.identity import Identity

__all__ = ["RetryPolicy", "Transport", "TransportConfig", "TransportResponse"]

log = logging.getLogger(__name__)

DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Which failures are retried, how often and how long to wait between tries."""

    attempts: int = 3
    """Tries in total, the first included (1 = never retry)."""
    backoff: float = 0.5
    """Exponential backoff factor: waits of backoff * 2**n seconds, plus jitter."""
    backoff_max: float = 10.0
    jitter: float = 0.25
    """Random extra wait up to this many seconds, so many senders do not retry in step."""
    retry_statuses: frozenset[int] = frozenset({429, 503})
    """HTTP statuses meaning "not taken, try later". A SOAP fault (500) is an answer, not this."""
    resend_after_send: bool = False
    """Also resend after a read timeout or a dropped answer. Safe only because the resend is
    byte-identical, same messageId; a service that is not idempotent by messageId may act twice."""

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigError("retry attempts must be at least 1")
        if self.backoff < 0 or self.backoff_max < 0 or self.jitter < 0:
            raise ConfigError("retry backoff values must not be negative")

    def backoff_delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failures, by urllib3's formula
        (backoff * 2**failures, capped, plus jitter): for retries scheduled in a journal."""
        history = tuple(
            RequestHistory("POST", None, None, None, None) for _ in range(max(failures, 0) + 1)
        )
        retry = Retry(
            total=None,
            backoff_factor=self.backoff,
            backoff_max=self.backoff_max,
            backoff_jitter=self.jitter,
            history=history,
        )
        return retry.get_backoff_time()

    def start(self) -> Retry:
        """A fresh urllib3 ``Retry`` for one message; each failure yields a new copy."""
        retries = self.attempts - 1
        return Retry(
            total=retries,
            connect=retries,
            read=retries if self.resend_after_send else 0,
            status=retries,
            other=0,
            redirect=0,
            allowed_methods=frozenset({"POST"}),
            status_forcelist=self.retry_statuses,
            backoff_factor=self.backoff,
            backoff_max=self.backoff_max,
            backoff_jitter=self.jitter,
            respect_retry_after_header=True,
            raise_on_status=False,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportConfig:
    """Where and how to reach the gateway. Build once, share one :class:`Transport`."""

    ca_bundle: Path | None
    """CA certificates for the gateway's TLS certificate (NCA-issued). None uses the system
    trust store; the gateway's certificate normally needs the NCA bundle here."""
    client_identity: Identity | None = field(default=None, repr=False)
    """Client certificate and key for mutual TLS (any form the identity loader reads)."""
    proxy: str | None = field(default=None, repr=False)
    """An explicit proxy URL; environment proxy variables are ignored. Not in the repr: it
    may carry the proxy's user and password."""
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    pool_size: int = 8
    retry: RetryPolicy = RetryPolicy()
    insecure_skip_tls_verify: bool = False
    """Accept any server certificate. Only for tests against a throw-away server: it lets
    anyone on the path read and change every message. Logged loudly when used."""

    def __post_init__(self) -> None:
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ConfigError("timeouts must be positive")
        if self.max_response_bytes <= 0 or self.pool_size < 1:
            raise ConfigError("response limit and pool size must be positive")
        if self.ca_bundle is not None and not self.ca_bundle.exists():
            raise ConfigError(
                f"CA bundle {self.ca_bundle} does not exist", file=str(self.ca_bundle)
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportResponse:
    """What came back: status, headers and the body, read in full within the size limit."""

    url: str
    status: int
    headers: Mapping[str, str]
    content: bytes = field(repr=False)
    attempts: int
    elapsed: float


class Transport:
    """A pooled, keep-alive HTTPS client for SOAP POSTs to the gateway. Thread-safe for
    concurrent ``post`` calls (one requests Session, a connection pool of ``pool_size``)."""

    def __init__(self, config: TransportConfig) -> None:
        self._config = config
        context = _ssl_context(config)
        self._session = requests.Session()
        self._session.trust_env = False  # no CA bundle or proxy from the environment
        adapter = _FixedTlsAdapter(context, config)
        self._session.mount("https://", adapter)
        self._session.mount("http://", _RefusingAdapter())
        self._proxies = {"https": config.proxy} if config.proxy else {}
        self._answered: set[str] = set()  # hosts that have answered us at least once

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    def post(
        self,
        url: str,
        body: bytes,
        *,
        message_id: str | None = None,
        soap_action: str = "",
        content_type: str = "text/xml; charset=utf-8",
    ) -> TransportResponse:
        """POST ``body`` to ``url``; retry per policy; return the answer or raise a
        :class:`TransportError`. A 500 with a body is returned (it is how SOAP faults come)."""
        if not url.startswith("https://"):
            raise ConfigError(f"endpoint {url} is not https://", field="endpoint")
        if "@" in urllib.parse.urlsplit(url).netloc:
            # It would be sent as Basic auth and echoed in every error and log line.
            raise ConfigError("endpoint URL must not carry a user or password", field="endpoint")
        headers = {"Content-Type": content_type, "SOAPAction": f'"{soap_action}"'}
        retry = self._config.retry.start()
        started = time.perf_counter()
        attempts = 0
        while True:
            attempts += 1
            try:
                response = self._session.post(
                    url,
                    data=body,
                    headers=headers,
                    timeout=(self._config.connect_timeout, self._config.read_timeout),
                    verify=True,  # the adapter's SSLContext decides; never the environment
                    proxies=self._proxies,
                    allow_redirects=False,
                    stream=True,
                )
            except requests.exceptions.RequestException as exc:
                retry = self._next_try(
                    retry, failure=exc, url=url, message_id=message_id, attempts=attempts
                )
                continue
            with contextlib.closing(response):
                if retry.is_retry("POST", response.status_code, "Retry-After" in response.headers):
                    error = HttpStatusError(
                        f"HTTP {response.status_code} {response.reason}",
                        status=response.status_code,
                        url=url,
                        message_id=message_id,
                    )
                    retry = self._next_try(
                        retry,
                        failure=error,
                        url=url,
                        message_id=message_id,
                        attempts=attempts,
                        response=response,
                    )
                    continue
                try:
                    content = self._read_limited(response, url, message_id)
                except requests.exceptions.RequestException as exc:
                    retry = self._next_try(
                        retry, failure=exc, url=url, message_id=message_id, attempts=attempts
                    )
                    continue
                self._answered.add(_host(url))
                return TransportResponse(
                    url=url,
                    status=response.status_code,
                    headers=dict(response.headers),
                    content=content,
                    attempts=attempts,
                    elapsed=time.perf_counter() - started,
                )

    def _read_limited(self, response: requests.Response, url: str, message_id: str | None) -> bytes:
        limit = self._config.max_response_bytes
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise ResponseTooLargeError(
                f"answer of {declared} bytes exceeds the limit of {limit}",
                url=url,
                message_id=message_id,
            )
        chunks: list[bytes] = []
        total = 0
        for chunk in response.iter_content(chunk_size=64 * 1024):
            total += len(chunk)
            if total > limit:
                raise ResponseTooLargeError(
                    f"answer exceeds the limit of {limit} bytes", url=url, message_id=message_id
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _next_try(
        self,
        retry: Retry,
        *,
        failure: Exception,
        url: str,
        message_id: str | None,
        attempts: int,
        response: requests.Response | None = None,
    ) -> Retry:
        """Count the failure against the policy: sleep and return the next ``Retry``, or raise
        the failure as our error when it may not (or can no longer) be retried."""
        ours = failure if isinstance(failure, TransportError) else _translate(failure, url)
        if _closed_without_answer(failure) and _host(url) not in self._answered:
            # A TLS 1.3 server that refuses our certificate may just close the connection
            # after the handshake, with no alert; from a server that never answered us, that
            # is the likely reason.
            ours = TlsError(
                "the server closed the connection without answering, right after the TLS "
                "handshake: it most likely refused the client certificate",
                url=url,
            )
        ours.message_id = ours.message_id or message_id
        cause = None if ours is failure else failure
        kind = _retry_kind(failure)
        if kind is None:
            raise ours from cause
        try:
            if response is not None:
                retry = retry.increment("POST", url, response=response.raw)
            else:
                retry = retry.increment("POST", url, error=kind)
        except MaxRetryError:
            if attempts > 1:
                ours.message = f"{ours.message} (after {attempts} attempts)"
            raise ours from cause
        log.warning(
            "retrying message %s to %s after attempt %d: %s",
            message_id or "-",
            url,
            attempts,
            ours.message,
        )
        if response is not None:
            retry.sleep(response.raw)
        else:
            retry.sleep()
        return retry


def _retry_kind(failure: Exception) -> Exception | None:  # noqa: PLR0911  (a branch a family)
    """The urllib3 error that tells ``Retry`` what kind of failure this was (None: never)."""
    if isinstance(failure, HttpStatusError):
        return failure
    if isinstance(failure, requests.exceptions.SSLError):
        return None  # a certificate problem does not fix itself
    if isinstance(failure, requests.exceptions.ConnectTimeout | requests.exceptions.ProxyError):
        return ConnectTimeoutError("connect failed")
    if isinstance(failure, requests.exceptions.ReadTimeout):
        return ReadTimeoutError(None, "", "read timed out")  # type: ignore[arg-type]
    if isinstance(failure, requests.exceptions.ChunkedEncodingError):
        return ProtocolError("answer broken off")
    if isinstance(failure, requests.exceptions.ConnectionError):
        reason = _root_cause(failure)
        if isinstance(reason, NewConnectionError | ConnectTimeoutError):
            return ConnectTimeoutError("connect failed")
        return ProtocolError("connection dropped")
    return None


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc


def _closed_without_answer(failure: Exception) -> bool:
    if not isinstance(failure, requests.exceptions.ConnectionError):
        return False
    cause = _root_cause(failure)
    return isinstance(cause, ProtocolError) and any(
        isinstance(arg, http.client.RemoteDisconnected) for arg in cause.args
    )


def _root_cause(exc: BaseException) -> BaseException | None:
    seen = exc.args[0] if exc.args else None
    if isinstance(seen, MaxRetryError):
        return seen.reason
    return seen if isinstance(seen, BaseException) else None


def _translate(exc: Exception, url: str) -> TransportError:  # noqa: PLR0911  (a branch a family)
    """requests/urllib3 exceptions become ours, without their (possibly long) repr chains."""
    if isinstance(exc, requests.exceptions.SSLError):
        return TlsError(f"TLS handshake failed: {_short(exc)}", url=url)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return TransportTimeoutError("connect timed out", url=url)
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return TransportTimeoutError("no answer within the read timeout", url=url)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return TransportError("the answer was broken off", url=url)
    if isinstance(exc, requests.exceptions.ConnectionError):
        cause = _root_cause(exc)
        if isinstance(cause, NewConnectionError | ConnectTimeoutError):
            return ConnectError(f"cannot connect: {_short(cause)}", url=url)
        if isinstance(cause, ssl.SSLError) or "SSL" in type(cause).__name__:
            return TlsError(f"TLS failed: {_short(exc)}", url=url)
        return TransportError(f"connection dropped: {_short(exc)}", url=url)
    return TransportError(f"request failed: {_short(exc)}", url=url)


def _short(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, requests.exceptions.RequestException):
        cause = _root_cause(exc)
        if cause is not None:
            text = str(cause)
    return text.split("\n")[0][:300]


class _FixedTlsAdapter(HTTPAdapter):
    """Uses our SSLContext for every connection, whatever ``verify``/``cert`` say."""

    def __init__(self, context: ssl.SSLContext, config: TransportConfig) -> None:
        self._context = context
        self._cert_reqs = "CERT_NONE" if config.insecure_skip_tls_verify else "CERT_REQUIRED"
        super().__init__(pool_connections=1, pool_maxsize=config.pool_size, max_retries=0)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> Any:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        kwargs: dict[str, Any] = dict(pool_kwargs)
        for key in ("ca_certs", "ca_cert_dir", "cert_file", "key_file", "key_password"):
            kwargs.pop(key, None)
        kwargs["ssl_context"] = self._context
        kwargs["cert_reqs"] = self._cert_reqs
        return host_params, kwargs


class _RefusingAdapter(HTTPAdapter):
    """Plain http:// is never used: the gateway is HTTPS only."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        raise ConfigError(f"refusing plain HTTP to {request.url}")


def _ssl_context(config: TransportConfig) -> ssl.SSLContext:
    if config.insecure_skip_tls_verify:
        log.warning(
            "INSECURE: TLS server certificate verification is OFF (insecure_skip_tls_verify); "
            "anyone on the network path can read and change the messages"
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        try:
            context = ssl.create_default_context(
                ssl.Purpose.SERVER_AUTH,
                cafile=str(config.ca_bundle) if config.ca_bundle else None,
            )
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"cannot load the CA bundle: {exc}", file=str(config.ca_bundle)
            ) from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # create_default_context honours SSLKEYLOGFILE: session keys written to a file would let
    # anyone reading it decrypt the traffic (sender passwords included).
    context.keylog_filename = None  # type: ignore[assignment]
    if config.client_identity is not None:
        _load_client_identity(context, config.client_identity)
    return context


def _load_client_identity(context: ssl.SSLContext, identity: Identity) -> None:
    """Give OpenSSL the client key encrypted with a one-time password, via memory if we can."""
    if isinstance(identity.private_key, GostPrivateKey):
        raise ConfigError(
            "a GOST key cannot be a TLS client key (OpenSSL has no GOST TLS): use the RSA AUTH"
            " key or the SIGEX key for TLS, and the GOST key for signing",
            file=identity.source,
        )
    one_time = secrets.token_hex(32).encode("ascii")
    key_pem = identity.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(one_time),
    )
    chain = (identity.certificate, *identity.chain)
    cert_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    try:
        with _private_file(key_pem) as key_path, _private_file(cert_pem) as cert_path:
            context.load_cert_chain(cert_path, key_path, password=one_time)
    except (ssl.SSLError, OSError) as exc:
        raise TlsError(f"cannot use the client certificate of {identity.source}: {exc}") from exc


@contextlib.contextmanager
def _private_file(data: bytes) -> Iterator[str]:
    """A path OpenSSL can read ``data`` from: an anonymous memory file on Linux, else a
    0600 temp file removed at once. Callers only pass already-encrypted key material."""
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None and Path("/proc/self/fd").is_dir():
        fd = memfd_create("shep-tls", getattr(os, "MFD_CLOEXEC", 0))
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    handle = tempfile.NamedTemporaryFile(delete=False)  # noqa: SIM115  (removed below)
    try:
        os.chmod(handle.name, 0o600)
        handle.write(data)
        handle.close()
        yield handle.name
    finally:
        handle.close()
        Path(handle.name).unlink(missing_ok=True)

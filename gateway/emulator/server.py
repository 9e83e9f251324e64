"""Run the gateway emulator: a real HTTPS server on 127.0.0.1 with mutual TLS.

uvicorn serves the raw ASGI app of :mod:`gateway.emulator.app` over h11 on an asyncio loop.
TLS is uvicorn's (the standard ``ssl`` module): a client without a certificate issued by
``client_ca`` is refused during the handshake, before any HTTP is spoken. The listening socket
is bound before uvicorn starts, so port 0 works and the URL is known up front.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Final

import uvicorn
from cryptography import x509
from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway.emulator.app import (
    ASYNC_PATH,
    CHANNEL_PATHS,
    SYNC_PATH,
    ConnectionRegistry,
    EmulatorApp,
    GatewayLogic,
    normalize_path,
)
from gateway.emulator.faults import FaultPlan
from gateway.emulator.handlers import Handler, echo_handler, echo_xsd_handler
from gateway.errors import ConfigError
from gateway.testpki import TestPki
from gateway.wssec import DEFAULT_MAX_ENVELOPE_BYTES, Signer

__all__ = [
    "EmulatorConfig",
    "RunningEmulator",
    "default_services",
    "emulator_config_from_pki",
    "serve_emulator",
    "start_emulator",
]

_START_TIMEOUT_S: Final = 15.0
_STOP_TIMEOUT_S: Final = 15.0
_CIPHERS: Final = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM"

log = logging.getLogger("gateway.emulator")


def default_services() -> dict[str, Handler]:
    """``echo`` (any payload back) and ``echo-xsd`` (checks an ``EchoRequest``, then echoes)."""
    return {"echo": echo_handler, "echo-xsd": echo_xsd_handler()}


@dataclass(frozen=True, slots=True, kw_only=True)
class EmulatorConfig:
    """Everything the emulator needs; variants by ``dataclasses.replace``."""

    server_cert: Path
    """The server's TLS certificate (PEM; may include the chain)."""
    server_key: Path = field(repr=False)
    """Its private key (unencrypted PEM)."""
    client_ca: Path
    """CA file (PEM): clients must present a certificate issued by one of these, or the TLS
    handshake fails. Loosening it means accepting connections from anyone who can reach the port."""
    trusted_certs: tuple[x509.Certificate, ...]
    """Trust anchors for the requests' transport signatures (the VerifyPolicy)."""
    senders: Mapping[str, str | None] = field(repr=False)
    """senderId -> password; ``None`` means that sender needs no password."""
    services: Mapping[str, Handler] = field(default_factory=default_services)
    """serviceId -> handler."""
    response_signer: Signer | None = None
    """Sign normal responses with this (faults stay unsigned, as the gateway's do)."""
    faults: FaultPlan = field(default_factory=FaultPlan)
    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free port; read it back from :attr:`RunningEmulator.url`."""
    max_body_bytes: int = DEFAULT_MAX_ENVELOPE_BYTES
    """Larger request bodies get HTTP 413 (and the connection is closed)."""
    unsigned_paths: frozenset[str] = frozenset()
    """Channel paths that skip signature checks. The real ``/bip-sync/`` is the gateway's
    internal unsigned endpoint; by default the emulator wants a signature everywhere."""
    contracts_dir: Path | None = None
    """Where the v10 contracts live (default: the ones shipped with this checkout)."""
    workers: int = 4
    """Threads for the CPU-bound part (parsing, signatures, handlers)."""

    def __post_init__(self) -> None:
        for name in ("server_cert", "server_key", "client_ca"):
            if not isinstance(getattr(self, name), Path):
                raise ConfigError("expected a pathlib.Path", field=name)
        certs = self.trusted_certs
        if not isinstance(certs, tuple) or not certs:
            raise ConfigError(
                "give at least one trusted certificate (a tuple)", field="trusted_certs"
            )
        if not all(isinstance(cert, x509.Certificate) for cert in certs):
            raise ConfigError("expected x509.Certificate objects", field="trusted_certs")
        object.__setattr__(self, "senders", MappingProxyType(_checked_senders(self.senders)))
        object.__setattr__(self, "services", MappingProxyType(_checked_services(self.services)))
        if not isinstance(self.faults, FaultPlan):
            raise ConfigError("expected a FaultPlan", field="faults")
        if not isinstance(self.host, str) or not self.host:
            raise ConfigError("expected a host name or address", field="host")
        _check_int(self.port, "port", low=0, high=65535)
        _check_int(self.max_body_bytes, "max_body_bytes", low=1)
        _check_int(self.workers, "workers", low=1)
        unsigned = frozenset(normalize_path(path) for path in self.unsigned_paths)
        unknown = sorted(unsigned - set(CHANNEL_PATHS))
        if unknown:
            raise ConfigError(
                f"not channel paths: {', '.join(unknown)} (known: {', '.join(CHANNEL_PATHS)})",
                field="unsigned_paths",
            )
        object.__setattr__(self, "unsigned_paths", unsigned)


def _checked_senders(senders: Mapping[str, str | None]) -> dict[str, str | None]:
    checked = dict(senders)
    for sender_id, password in checked.items():
        if not isinstance(sender_id, str) or not sender_id:
            raise ConfigError("sender ids must be non-empty strings", field="senders")
        if password is not None and not isinstance(password, str):
            # Names the sender, never the value.
            raise ConfigError(
                f"the password of {sender_id!r} must be a string or None", field="senders"
            )
    return checked


def _checked_services(services: Mapping[str, Handler]) -> dict[str, Handler]:
    checked = dict(services)
    for service_id, handler in checked.items():
        if not isinstance(service_id, str) or not service_id:
            raise ConfigError("service ids must be non-empty strings", field="services")
        if not callable(handler):
            raise ConfigError(f"the handler of {service_id!r} is not callable", field="services")
    return checked


def _check_int(value: object, name: str, *, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"expected an integer, got {type(value).__name__}", field=name)
    if value < low or (high is not None and value > high):
        limit = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"must be {limit}, got {value}", field=name)


def emulator_config_from_pki(pki: TestPki, **overrides: Any) -> EmulatorConfig:
    """A ready configuration on the test PKI: its TLS server key, its CA for client
    certificates, trust in the CA and in the SIGEX self-signed key for signatures, senders
    ``demo-system`` (no password) and ``test-sender`` (password ``test-sender-password``),
    and the default services. ``overrides`` replace any field."""
    config = EmulatorConfig(
        server_cert=pki.server.cert_path,
        server_key=pki.server.key_path,
        client_ca=pki.ca.cert_path,
        trusted_certs=(pki.ca.certificate, pki.gost_ca.certificate, pki.sigex.certificate),
        senders={"demo-system": None, "test-sender": "test-sender-password"},
    )
    try:
        return dataclasses.replace(config, **overrides)
    except TypeError as exc:
        raise ConfigError(f"unknown emulator setting: {exc}") from exc


class RunningEmulator:
    """An emulator serving in a background thread; a context manager that stops it."""

    def __init__(
        self,
        *,
        url: str,
        server: uvicorn.Server,
        thread: threading.Thread,
        listener: socket.socket,
        logic: GatewayLogic,
        connections: ConnectionRegistry,
        executor: ThreadPoolExecutor,
    ) -> None:
        self.url = url
        """``https://127.0.0.1:PORT`` (no trailing slash)."""
        self.sync_url = url + SYNC_PATH
        self.async_url = url + ASYNC_PATH
        self._server = server
        self._thread = thread
        self._listener = listener
        self._logic = logic
        self._connections = connections
        self._executor = executor
        self._stopped = False

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def accepted_message_ids(self) -> list[str]:
        """messageIds that passed the signature and credential checks, in order received.

        Duplicates are kept (a resent message counts twice). For AsyncChannel sendMessage
        without a messageId, the id the emulator assigned.
        """
        return self._logic.accepted_message_ids()

    def tcp_nodelay_flags(self) -> list[bool]:
        """TCP_NODELAY as read back from each accepted connection's socket (diagnostics)."""
        return self._connections.nodelay_flags()

    def stop(self) -> None:
        """Stop serving: close idle keep-alive connections, finish running requests, join."""
        if self._stopped:
            return
        self._stopped = True
        self._server.should_exit = True
        self._thread.join(_STOP_TIMEOUT_S)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(_STOP_TIMEOUT_S)
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._listener.close()

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        return f"<RunningEmulator {self.url} {state}>"


def start_emulator(config: EmulatorConfig) -> RunningEmulator:
    """Start serving in a background thread; returns once connections are accepted.

    Raises :class:`ConfigError` for unusable TLS files, contracts or a port in use.
    """
    parts = _prepare(config)
    server, listener, logic, connections, executor, url = parts
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name=f"shep-emulator {url}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(_STOP_TIMEOUT_S)
            executor.shutdown(wait=False, cancel_futures=True)
            listener.close()
            raise ConfigError(f"the emulator did not start on {url} (see the log)")
        time.sleep(0.005)
    log.info("emulator listening on %s", url)
    return RunningEmulator(
        url=url,
        server=server,
        thread=thread,
        listener=listener,
        logic=logic,
        connections=connections,
        executor=executor,
    )


def serve_emulator(config: EmulatorConfig, *, ready: Callable[[str], None] | None = None) -> None:
    """Serve in the calling thread until Ctrl-C (SIGINT) or SIGTERM, then stop cleanly.

    ``ready`` is called with the base URL once the socket listens (the CLI prints it).
    """
    server, listener, _logic, _connections, executor, url = _prepare(config)
    try:
        if ready is not None:
            ready(url)
        log.info("emulator listening on %s", url)
        # uvicorn traps SIGINT/SIGTERM in the main thread, shuts down, then re-raises the
        # signal: the KeyboardInterrupt that follows is the expected way out.
        server.run(sockets=[listener])
    except KeyboardInterrupt:
        log.info("emulator stopped")
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        listener.close()


# --------------------------------------------------------------------------- internals


def _prepare(
    config: EmulatorConfig,
) -> tuple[
    uvicorn.Server, socket.socket, GatewayLogic, ConnectionRegistry, ThreadPoolExecutor, str
]:
    if not isinstance(config, EmulatorConfig):
        raise ConfigError(f"expected an EmulatorConfig, got {type(config).__name__}")
    logic = GatewayLogic(config)
    connections = ConnectionRegistry()
    listener = _listen(config.host, config.port)
    executor = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="shep-emulator")
    app = EmulatorApp(
        logic,
        plan=config.faults,
        max_body_bytes=config.max_body_bytes,
        unsigned_paths=config.unsigned_paths,
        connections=connections,
        executor=executor,
    )
    uv_config = uvicorn.Config(
        app,
        loop="asyncio",
        http=_protocol_class(connections),
        ws="none",
        lifespan="off",
        interface="asgi3",
        log_config=None,  # never reconfigure the host application's logging
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=5,
        ssl_certfile=str(config.server_cert),
        ssl_keyfile=str(config.server_key),
        ssl_ca_certs=str(config.client_ca),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
        ssl_ciphers=_CIPHERS,
    )
    try:
        uv_config.load()
    except (OSError, ssl.SSLError, ValueError) as exc:
        executor.shutdown(wait=False)
        listener.close()
        raise ConfigError(
            f"cannot load the TLS files ({config.server_cert.name}, {config.server_key.name}, "
            f"{config.client_ca.name}): {exc}",
            file=str(config.server_cert),
        ) from exc
    host, port = listener.getsockname()[:2]
    shown = f"[{host}]" if ":" in str(host) else str(host)
    return (
        uvicorn.Server(uv_config),
        listener,
        logic,
        connections,
        executor,
        f"https://{shown}:{port}",
    )


def _listen(host: str, port: int) -> socket.socket:
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        family = socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(128)
    except OSError as exc:
        listener.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return listener


def _protocol_class(connections: ConnectionRegistry) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol, telling ``connections`` about each connection."""

    class EmulatorProtocol(H11Protocol):
        def connection_made(  # type: ignore[override]  # uvicorn narrows the transport type
            self, transport: asyncio.Transport
        ) -> None:
            super().connection_made(transport)
            connections.opened(self.client, transport)

        def connection_lost(self, exc: Exception | None) -> None:
            connections.closed(self.client)
            super().connection_lost(exc)

        def shutdown(self) -> None:
            # Server stopping: an idle keep-alive connection is cut at once. A TLS close
            # would wait for the client's close_notify, and an idle pooled client never
            # sends one, which held stop() up for the whole graceful-shutdown timeout.
            idle = self.cycle is None or self.cycle.response_complete
            super().shutdown()
            if idle:
                self.transport.abort()

    return EmulatorProtocol

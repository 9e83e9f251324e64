"""The emulator's ASGI application and the gateway behaviour behind it.

Two layers: :class:`GatewayLogic` turns one request body into one reply (parse, verify the
transport signature, check the sender, route to a service, build the response or fault); it is
plain synchronous code that runs in a worker thread, because signature checks are CPU-bound and
must not stall the event loop. :class:`EmulatorApp` is a small raw ASGI app (no framework: it
needs byte-level control of the response to cut connections and trickle bodies) that does the
HTTP part: routes, methods, Content-Type, size limits and the fault plan.

Nothing here logs a body or a password: log lines carry ids, codes and reasons only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hmac
import logging
import re
import socket
import threading
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal, NoReturn, TypeVar

from lxml import etree

from gateway.contracts import Contract, async_channel, sync_channel
from gateway.emulator.faults import ErrorCode, FaultInjector, FaultPlan, HandlerError, Outcome
from gateway.envelope import (
    AsyncMessage,
    MessageType,
    Payload,
    ReceiveStatus,
    ResendMessage,
    build_async_send_response,
    build_delivery_notification_response,
    build_fault,
    build_get_messages_response,
    build_sync_response,
    data_element,
    find_body_element,
    format_message_date,
    format_session_id,
    parse_async_send_request,
    parse_delivery_notification,
    parse_get_messages_request,
    parse_sync_request,
    serialize,
    soap_version,
)
from gateway.errors import (
    EnvelopeError,
    HostileXmlError,
    SignatureError,
    VerificationError,
    XmlError,
)
from gateway.wssec import ALL_SUITES, Signer, VerifyPolicy, sign_envelope, verify_envelope
from gateway.xmlparse import parse_xml

if TYPE_CHECKING:
    from gateway.emulator.handlers import Handler, RequestInfo
    from gateway.emulator.server import EmulatorConfig

__all__ = [
    "ASYNC_PATH",
    "CHANNEL_PATHS",
    "EMULATOR_SENDER_ID",
    "SYNC_PATH",
    "ConnectionRegistry",
    "EmulatorApp",
    "GatewayLogic",
    "Reply",
    "normalize_path",
]

Channel = Literal["sync", "async"]
_T = TypeVar("_T")

SYNC_PATH: Final = "/bip-sync-wss-gost/"
ASYNC_PATH: Final = "/bip-async/"
CHANNEL_PATHS: Final[dict[str, Channel]] = {
    "/bip-sync-wss-gost/": "sync",
    "/shep/bip-sync-wss-gost/": "sync",
    "/bip-sync/": "sync",
    "/bip-async/": "async",
}
"""The real gateway's paths (protocol.md §1); each is also served without the final slash."""

EMULATOR_SENDER_ID: Final = "shep-emulator"
"""``senderId`` of the AsyncChannel responses the emulator queues for getMessages."""

SOAP_CONTENT_TYPE: Final = "text/xml; charset=utf-8"
_TEXT_CONTENT_TYPE: Final = "text/plain; charset=utf-8"
_SLOW_PIECES: Final = 8
_DRAIN_FACTOR: Final = 4
_MAX_CODE: Final = 64
_MAX_MESSAGE: Final = 2000
_NOT_XML_CHAR: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MAX_LOGGED_FIELD: Final = 80

log = logging.getLogger("gateway.emulator")


def normalize_path(path: str) -> str:
    """``/bip-async`` and ``/bip-async/`` are the same endpoint."""
    return path.rstrip("/") + "/"


# --------------------------------------------------------------------------- gateway logic


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """One HTTP answer: status, body and the headers that matter."""

    status: int
    body: bytes
    content_type: str = SOAP_CONTENT_TYPE
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class _Pending:
    """A queued AsyncChannel response, waiting for getMessages and a delivery notification."""

    message: AsyncMessage
    requester: str


class GatewayLogic:
    """What the gateway does with a request body; thread-safe, one instance per emulator."""

    def __init__(self, config: EmulatorConfig) -> None:
        self._config = config
        self._sync = sync_channel(config.contracts_dir)
        self._async = async_channel(config.contracts_dir)
        self._policy = VerifyPolicy(
            trusted_certs=config.trusted_certs, max_bytes=config.max_body_bytes, suites=ALL_SUITES
        )
        self._lock = threading.Lock()
        self._accepted: list[str] = []
        self._pending: list[_Pending] = []
        self._correlations: set[tuple[str, str]] = set()

    # ---- observation

    def accepted_message_ids(self) -> list[str]:
        with self._lock:
            return list(self._accepted)

    def _accept(self, message_id: str) -> None:
        with self._lock:
            self._accepted.append(message_id)

    # ---- entry points

    def process(self, channel: Channel, body: bytes, *, signed: bool) -> Reply:
        """Answer one SOAP request: a response (HTTP 200) or an ErrorInfo fault (HTTP 500)."""
        contract = self._contract(channel)
        operation = self._default_operation(channel)
        session_id = format_session_id(uuid.uuid4())
        try:
            root = self._parse(body)
            operation = self._operation(root, contract)
            if signed:
                self._verify(root)
            return self._dispatch(operation, root, session_id)
        except HandlerError as refusal:
            log.info("%s refused: %s %s", operation, refusal.code, _short(refusal.data or ""))
            return self._fault(contract, operation, refusal, session_id)
        except Exception as exc:  # noqa: BLE001 - any bug must still answer like a gateway
            # No traceback: exception texts may quote the payload.
            log.error("%s failed: internal error (%s)", operation, type(exc).__name__)  # noqa: TRY400
            internal = HandlerError(
                ErrorCode.INTERNAL_ERROR,
                f"internal error ({type(exc).__name__})",
                fault_code="Server",
            )
            return self._fault(contract, operation, internal, session_id)

    def injected_error(self, channel: Channel) -> Reply:
        """The fault plan's HTTP 500: a Server fault, sent before the message is looked at."""
        contract = self._contract(channel)
        refusal = HandlerError(
            ErrorCode.INTERNAL_ERROR,
            "internal error (injected by the emulator's fault plan)",
            data="injected",
            fault_code="Server",
        )
        operation = self._default_operation(channel)
        return self._fault(contract, operation, refusal, format_session_id(uuid.uuid4()))

    # ---- steps

    def _contract(self, channel: Channel) -> Contract:
        return self._sync if channel == "sync" else self._async

    @staticmethod
    def _default_operation(channel: Channel) -> str:
        return "SendMessage" if channel == "sync" else "sendMessage"

    def _parse(self, body: bytes) -> etree._Element:
        try:
            return parse_xml(
                body, source="request", max_bytes=self._config.max_body_bytes
            ).getroot()
        except HostileXmlError as exc:
            raise HandlerError(
                ErrorCode.MALFORMED_ENVELOPE, f"refused: {exc}", data="hostile-xml"
            ) from exc
        except XmlError as exc:
            raise HandlerError(
                ErrorCode.MALFORMED_ENVELOPE, str(exc), data="malformed-xml"
            ) from exc

    @staticmethod
    def _operation(root: etree._Element, contract: Contract) -> str:
        try:
            if soap_version(root) != "1.1":
                raise HandlerError(
                    ErrorCode.MALFORMED_ENVELOPE,
                    "SOAP 1.2 envelope: the gateway speaks SOAP 1.1 only",
                    data="soap-version",
                )
            message = find_body_element(root)
        except EnvelopeError as exc:
            raise HandlerError(
                ErrorCode.MALFORMED_ENVELOPE, str(exc), data="malformed-envelope"
            ) from exc
        for operation in contract.operations:
            if contract.input_element(operation) == message.tag:
                return operation
        raise HandlerError(
            ErrorCode.MALFORMED_ENVELOPE,
            f"the Body holds {message.tag}, which is no request of {contract.name}",
            data="unknown-operation",
        )

    def _verify(self, root: etree._Element) -> None:
        try:
            verify_envelope(root, self._policy, source="request")
        except VerificationError as exc:
            raise HandlerError(
                ErrorCode.SIGNATURE_INVALID,
                f"transport signature rejected ({exc.reason}): {exc.message}",
                data=str(exc.reason),
            ) from exc
        except SignatureError as exc:
            raise HandlerError(
                ErrorCode.SIGNATURE_INVALID, f"transport signature rejected: {exc.message}"
            ) from exc

    def _dispatch(self, operation: str, root: etree._Element, session_id: str) -> Reply:
        if operation == "SendMessage":
            return self._sync_send(root, session_id)
        if operation == "sendMessage":
            return self._async_send(root, session_id)
        if operation == "getMessages":
            return self._get_messages(root, session_id)
        if operation == "sendDeliveryNotification":
            return self._delivery_notification(root, session_id)
        raise HandlerError(
            ErrorCode.UNSUPPORTED_OPERATION,
            f"the emulator does not implement {operation}",
            data=operation,
        )

    def _required_sender(self, sender_id: str | None, password: str | None) -> str:
        if sender_id is None:
            raise HandlerError(
                ErrorCode.BAD_CREDENTIALS, "a sender is required to read or confirm messages"
            )
        self._authenticate(sender_id, password)
        return sender_id

    def _authenticate(self, sender_id: str, password: str | None) -> None:
        senders = self._config.senders
        known = sender_id in senders
        expected = senders.get(sender_id)
        if known and expected is None:
            return
        given = (password or "").encode("utf-8")
        wanted = (expected or "").encode("utf-8")
        # Compare even for unknown senders, so timing does not tell which ids exist.
        matches = hmac.compare_digest(given, wanted)
        if not (known and matches and password is not None):
            raise HandlerError(
                ErrorCode.BAD_CREDENTIALS,
                f"sender {_short(sender_id)!r} is not registered or its password is wrong",
                data=_short(sender_id),
            )

    def _handler(self, service_id: str) -> Handler:
        handler = self._config.services.get(service_id)
        if handler is None:
            raise HandlerError(
                ErrorCode.UNKNOWN_SERVICE,
                f"no service {_short(service_id)!r} is registered on this gateway",
                data=_short(service_id),
            )
        return handler

    @staticmethod
    def _call(handler: Handler, request: RequestInfo) -> Payload:
        try:
            return handler(request)
        except HandlerError:
            raise
        except Exception as exc:
            # A broken handler is the service's fault. No traceback: its text may quote data.
            log.error("service handler raised %s", type(exc).__name__)  # noqa: TRY400
            raise HandlerError(
                ErrorCode.INTERNAL_ERROR,
                f"the service failed ({type(exc).__name__})",
                fault_code="Server",
            ) from exc

    @staticmethod
    def _parsed(parse: Callable[[], _T]) -> _T:
        try:
            return parse()
        except EnvelopeError as exc:
            raise HandlerError(
                ErrorCode.MALFORMED_ENVELOPE,
                str(exc),
                data=exc.field or "malformed-envelope",
            ) from exc

    def _finish(self, envelope: etree._Element) -> Reply:
        signer: Signer | None = self._config.response_signer
        if signer is None:
            return Reply(status=200, body=serialize(envelope))
        return Reply(status=200, body=sign_envelope(envelope, signer, source="emulator response"))

    # ---- SyncChannel

    def _sync_send(self, root: etree._Element, session_id: str) -> Reply:
        request = self._parsed(lambda: parse_sync_request(root, self._sync))
        self._authenticate(request.sender_id, request.password)
        self._accept(request.message_id)
        payload = self._call(self._handler(request.service_id), request)
        log.info(
            "SendMessage %s from %s to %s: SCSS001",
            _short(request.message_id),
            _short(request.sender_id),
            _short(request.service_id),
        )
        try:
            envelope = build_sync_response(
                self._sync,
                message_id=request.message_id,
                correlation_id=request.correlation_id,
                data=payload,
                session_id=request.session_id or session_id,
            )
        except EnvelopeError as exc:
            raise HandlerError(
                ErrorCode.INTERNAL_ERROR,
                f"the service's answer does not fit the contract: {exc}",
                fault_code="Server",
            ) from exc
        return self._finish(envelope)

    # ---- AsyncChannel

    def _async_send(self, root: etree._Element, session_id: str) -> Reply:
        message = self._parsed(lambda: parse_async_send_request(root, self._async))
        self._authenticate(message.sender_id, message.password)
        message_id = message.message_id or str(uuid.uuid4())
        correlation_id = message.correlation_id or message_id
        self._accept(message_id)
        accepted = dataclasses.replace(
            message, message_id=message_id, correlation_id=correlation_id
        )
        payload = self._call(self._handler(message.service_id), accepted)
        try:
            data = data_element(payload)
        except EnvelopeError as exc:
            raise HandlerError(
                ErrorCode.INTERNAL_ERROR,
                f"the service's answer does not fit the contract: {exc}",
                fault_code="Server",
            ) from exc
        answer = AsyncMessage(
            message_id=str(uuid.uuid4()),
            correlation_id=correlation_id,
            service_id=message.service_id,
            message_type=MessageType.RESPONSE,
            message_date=format_message_date(datetime.now(UTC)),
            sender_id=EMULATOR_SENDER_ID,
            session_id=session_id,
            data=data,
        )
        with self._lock:
            self._pending.append(_Pending(message=answer, requester=message.sender_id))
            self._correlations.add((message.service_id, correlation_id))
        log.info(
            "sendMessage %s (correlation %s) from %s to %s: queued a response",
            _short(message_id),
            _short(correlation_id),
            _short(message.sender_id),
            _short(message.service_id),
        )
        envelope = build_async_send_response(
            self._async,
            message_id=message_id,
            correlation_id=correlation_id,
            session_id=message.session_id or session_id,
        )
        return self._finish(envelope)

    def _get_messages(self, root: etree._Element, session_id: str) -> Reply:
        request = self._parsed(lambda: parse_get_messages_request(root, self._async))
        # The contract makes sender optional, but without one anybody holding a trusted
        # signing key could pull (and confirm away) another sender's messages.
        sender_id = self._required_sender(request.sender_id, request.password)
        with self._lock:
            if (
                request.correlation_id is not None
                and (request.service_id, request.correlation_id) not in self._correlations
            ):
                raise HandlerError(
                    ErrorCode.UNKNOWN_MESSAGE,
                    f"no messages were ever sent to {_short(request.service_id)!r} "
                    f"with correlationId {_short(request.correlation_id)!r}",
                    data=_short(request.correlation_id),
                )
            selected = [
                item.message
                for item in self._pending
                if item.message.service_id == request.service_id
                and request.correlation_id in (None, item.message.correlation_id)
                and request.message_id in (None, item.message.message_id)
                and item.requester == sender_id
            ]
            if request.amount:
                selected = selected[: request.amount]
            # Built under the lock: the queued data elements are shared between threads.
            envelope = build_get_messages_response(
                self._async, messages=selected, session_id=session_id
            )
        log.info("getMessages for %s: %d message(s)", _short(request.service_id), len(selected))
        return self._finish(envelope)

    def _delivery_notification(self, root: etree._Element, session_id: str) -> Reply:
        notice = self._parsed(lambda: parse_delivery_notification(root, self._async))
        sender_id = self._required_sender(notice.sender_id, notice.password)
        with self._lock:
            found = [
                item
                for item in self._pending
                if item.message.message_id == notice.message_id
                and item.message.service_id == notice.service_id
                and item.requester == sender_id
            ]
            if not found:
                raise HandlerError(
                    ErrorCode.UNKNOWN_MESSAGE,
                    f"no message {_short(notice.message_id)!r} of service "
                    f"{_short(notice.service_id)!r} is waiting for delivery",
                    data=_short(notice.message_id),
                )
            keep = (
                notice.receive_status is ReceiveStatus.NOT_ACCEPTED
                and notice.resend_message is ResendMessage.RESEND
            )
            if not keep:
                self._pending = [item for item in self._pending if item not in found]
        log.info(
            "sendDeliveryNotification for %s: %s%s",
            _short(notice.message_id),
            notice.receive_status,
            " (kept for resending)" if keep else "",
        )
        envelope = build_delivery_notification_response(self._async, session_id=session_id)
        return self._finish(envelope)

    # ---- faults

    @staticmethod
    def _fault(contract: Contract, operation: str, refusal: HandlerError, session_id: str) -> Reply:
        """An unsigned ErrorInfo fault with HTTP 500, as SOAP 1.1 requires.

        Texts are made XML-safe and bounded first (they may quote broken input); a handler's
        unusable code or message falls back to INTERNAL_ERROR rather than failing the reply.
        """
        try:
            envelope = build_fault(
                contract,
                operation=operation,
                error_code=_xml_safe(refusal.code, _MAX_CODE),
                error_message=_xml_safe(refusal.message, _MAX_MESSAGE),
                fault_code=refusal.fault_code,
                error_data=None if refusal.data is None else _xml_safe(refusal.data, _MAX_MESSAGE),
                session_id=session_id,
            )
        except EnvelopeError:
            log.warning("%s: unusable fault from a handler; sent INTERNAL_ERROR", operation)
            envelope = build_fault(
                contract,
                operation=operation,
                error_code=ErrorCode.INTERNAL_ERROR,
                error_message="the service answered with an unusable fault",
                session_id=session_id,
            )
        return Reply(status=500, body=serialize(envelope))


def _xml_safe(text: str, limit: int) -> str:
    cleaned = _NOT_XML_CHAR.sub("?", str(text))
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def _short(value: str) -> str:
    """A field for a log line or message: bounded, one line."""
    flat = " ".join(value.split())
    if len(flat) > _MAX_LOGGED_FIELD:
        return flat[: _MAX_LOGGED_FIELD - 1] + "…"
    return flat


# --------------------------------------------------------------------------- connections


class ConnectionRegistry:
    """The emulator's open connections, by client address, for TCP_NODELAY and for drops.

    Fed by the uvicorn protocol subclass in ``server.py``; read from other threads only
    through the locked snapshots.
    """

    def __init__(self) -> None:
        self._transports: dict[tuple[str, int], asyncio.BaseTransport] = {}
        self._nodelay: list[bool] = []
        self._lock = threading.Lock()

    def opened(self, client: tuple[str, int] | None, transport: asyncio.BaseTransport) -> None:
        # asyncio already sets TCP_NODELAY on TCP transports (since 3.6); setting it here as
        # well keeps a loopback keep-alive client from waiting ~40 ms per response (Nagle +
        # delayed ACK) whatever the event loop does.
        sock = transport.get_extra_info("socket")
        nodelay = False
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            nodelay = bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        with self._lock:
            self._nodelay.append(nodelay)
            if client is not None:
                self._transports[client] = transport

    def closed(self, client: tuple[str, int] | None) -> None:
        if client is not None:
            with self._lock:
                self._transports.pop(client, None)

    def abort(self, client: object) -> bool:
        """Cut the client's connection at once (no TLS close_notify); False if unknown."""
        with self._lock:
            transport = self._transports.get(client) if isinstance(client, tuple) else None
        if transport is None or not isinstance(transport, asyncio.WriteTransport):
            return False
        transport.abort()
        return True

    def nodelay_flags(self) -> list[bool]:
        with self._lock:
            return list(self._nodelay)


# --------------------------------------------------------------------------- ASGI


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _Disconnected(Exception):  # noqa: N818 - internal control flow
    """The client went away while we read its request."""


class EmulatorApp:
    """The raw ASGI app: HTTP rules and fault injection around :class:`GatewayLogic`."""

    def __init__(
        self,
        logic: GatewayLogic,
        *,
        plan: FaultPlan,
        max_body_bytes: int,
        unsigned_paths: frozenset[str],
        connections: ConnectionRegistry,
        executor: Executor,
    ) -> None:
        self._logic = logic
        self._plan = plan
        self._injector = FaultInjector(plan)
        self._max_body_bytes = max_body_bytes
        self._unsigned = frozenset(normalize_path(path) for path in unsigned_paths)
        self._connections = connections
        self._executor = executor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = normalize_path(str(scope.get("path", "")))
        channel = CHANNEL_PATHS.get(path)
        if channel is None:
            known = ", ".join(CHANNEL_PATHS)
            await _send_reply(send, _plain(404, f"no endpoint here; the emulator serves {known}"))
            return
        if scope.get("method") != "POST":
            reply = _plain(405, "SOAP endpoints accept POST only")
            await _send_reply(send, dataclasses.replace(reply, headers=(("allow", "POST"),)))
            return
        content_type = _header(scope, b"content-type")
        if content_type.split(";")[0].strip().lower() != "text/xml":
            shown = _short(content_type) or "none"
            text = f"Content-Type must be text/xml (SOAP 1.1), got {shown}"
            await _send_reply(send, _plain(415, text))
            return
        try:
            body, complete = await self._read_body(scope, receive)
        except _Disconnected:
            return
        if body is None:
            reply = _plain(413, f"request body over {self._max_body_bytes} bytes")
            if not complete:  # the rest of the body is still on the wire: hang up after this
                reply = dataclasses.replace(reply, headers=(("connection", "close"),))
            await _send_reply(send, reply)
            return
        await self._answer(scope, receive, send, channel=channel, body=body, path=path)

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        channel: Channel,
        body: bytes,
        path: str,
    ) -> None:
        outcome = self._injector.draw()
        if self._plan.latency > 0:
            await asyncio.sleep(self._plan.latency)
        loop = asyncio.get_running_loop()
        if outcome is Outcome.UNAVAILABLE:
            reply = Reply(
                status=503,
                body=b"Service Unavailable (injected by the emulator's fault plan)\n",
                content_type=_TEXT_CONTENT_TYPE,
                headers=(("retry-after", str(self._plan.retry_after)),),
            )
        elif outcome is Outcome.ERROR:
            reply = await loop.run_in_executor(self._executor, self._logic.injected_error, channel)
        else:
            work = functools.partial(
                self._logic.process, channel, body, signed=path not in self._unsigned
            )
            reply = await loop.run_in_executor(self._executor, work)
        if outcome is Outcome.DROP:
            await self._drop(scope, receive, send, reply)
        elif self._plan.slow_body > 0:
            await self._trickle(send, reply)
        else:
            await _send_reply(send, reply)

    async def _read_body(self, scope: Scope, receive: Receive) -> tuple[bytes | None, bool]:
        """The body (``None`` when over the limit), and whether it was read to its end.

        An oversized body is still read and discarded up to a few times the limit, so the
        client finishes sending and then reads the 413, rather than failing mid-upload on a
        connection the server has closed.
        """
        drain_limit = _DRAIN_FACTOR * self._max_body_bytes
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > drain_limit:
            return None, False
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            if size > drain_limit:
                return None, False
            if size <= self._max_body_bytes:
                chunks.append(chunk)
            if not message.get("more_body", False):
                return (b"".join(chunks) if size <= self._max_body_bytes else None), True

    async def _trickle(self, send: Send, reply: Reply) -> None:
        """Send the body in pieces spread over ``slow_body`` seconds (chunked encoding)."""
        await send(_start(reply, content_length=None))
        size = max(1, -(-len(reply.body) // _SLOW_PIECES))
        pieces = [reply.body[i : i + size] for i in range(0, len(reply.body), size)] or [b""]
        pause = self._plan.slow_body / len(pieces)
        for piece in pieces:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            await asyncio.sleep(pause)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _drop(self, scope: Scope, receive: Receive, send: Send, reply: Reply) -> None:
        """Status line, headers and half the body, then abort the connection."""
        await send(_start(reply, content_length=len(reply.body)))
        half = reply.body[: len(reply.body) // 2]
        await send({"type": "http.response.body", "body": half, "more_body": True})
        if not self._connections.abort(scope.get("client")):
            _unreachable_drop()
        # Wait for the server to notice the disconnect, so it does not complain that the
        # response was left incomplete.
        while (await receive())["type"] != "http.disconnect":
            pass


def _unreachable_drop() -> NoReturn:
    # The registry knows every live connection; if it does not, let uvicorn close it.
    raise ConnectionAbortedError("connection to drop not found")


def _plain(status: int, text: str) -> Reply:
    return Reply(status=status, body=(text + "\n").encode(), content_type=_TEXT_CONTENT_TYPE)


def _start(reply: Reply, *, content_length: int | None) -> Message:
    headers = [(b"content-type", reply.content_type.encode("latin-1"))]
    headers += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in reply.headers]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode("ascii")))
    return {"type": "http.response.start", "status": reply.status, "headers": headers}


async def _send_reply(send: Send, reply: Reply) -> None:
    await send(_start(reply, content_length=len(reply.body)))
    await send({"type": "http.response.body", "body": reply.body, "more_body": False})


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if bytes(key).lower() == name:
            return bytes(value).decode("latin-1")
    return ""

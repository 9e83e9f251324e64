"""``GatewayClient``: build, sign, send, and read the gateway's answer — faults first.

The order of checks on an answer matters (zeep issue #1197): a SOAP fault is reported as the
fault even when it is unsigned, because the gateway does not sign faults; only a normal
answer is held to the response-signature policy. Every failure is one of our typed errors,
carrying the message id and, for faults, the gateway's own code and message.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from cryptography import x509
from lxml import etree

from gateway.contracts import Contract, async_channel, sync_channel
from gateway.envelope import (
    AsyncMessage,
    AsyncSendResponse,
    DeliveryNotificationResponse,
    Fault,
    MessageType,
    Payload,
    ReceiveStatus,
    build_async_request,
    build_delivery_notification,
    build_get_messages_request,
    build_sync_request,
    find_fault,
    parse_async_send_response,
    parse_delivery_notification_response,
    parse_get_messages_response,
    parse_sync_response,
    soap_version,
)
from gateway.errors import (
    ConfigError,
    EnvelopeError,
    GatewayFaultError,
    HttpStatusError,
    SignatureError,
    TransportTimeoutError,
    VerificationError,
    XmlError,
)
from gateway.transport import Transport, TransportResponse
from gateway.wssec import Signer, VerifyPolicy, sign_envelope, verify_envelope
from gateway.xmlparse import parse_xml

__all__ = ["GatewayClient", "GatewayResponse"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")

SUCCESS = "SCSS001"


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayResponse:
    """A SyncChannel answer. ``ok`` means the gateway processed it (status SCSS001); the
    service's own result lives inside ``data``."""

    message_id: str
    correlation_id: str | None
    status_code: str
    status_message: str
    response_date: str
    session_id: str | None
    data: etree._Element | None = field(repr=False)
    signed_by: x509.Certificate | None = field(repr=False)
    attempts: int
    elapsed: float

    @property
    def ok(self) -> bool:
        return self.status_code == SUCCESS

    @property
    def data_text(self) -> str | None:
        """The data as text: an ``xs:string`` payload, or the XML of a typed one."""
        if self.data is None:
            return None
        if len(self.data) == 0:
            return self.data.text
        return etree.tostring(self.data, encoding="unicode", with_tail=False)


class GatewayClient:
    """Talks to one gateway environment as one sender with one signing key.

    Thread-safe: the transport pools connections, the signer is immutable, and nothing is
    stored per call. Close it (or use ``with``) to release the connection pool.
    """

    def __init__(
        self,
        *,
        transport: Transport,
        signer: Signer,
        endpoint: str,
        sender_id: str,
        sender_password: str | None,
        async_endpoint: str | None = None,
        contract: Contract | None = None,
        async_contract: Contract | None = None,
        response_policy: VerifyPolicy | None = None,
        require_signed_response: bool = False,
    ) -> None:
        if require_signed_response and response_policy is None:
            raise SignatureError("require_signed_response needs a response_policy to verify with")
        self._transport = transport
        self._signer = signer
        self._endpoint = endpoint
        self._async_endpoint = async_endpoint
        self._sender_id = sender_id
        self._sender_password = sender_password
        self._contract = contract or sync_channel()
        self._async_contract = async_contract
        self._policy = response_policy
        self._require_signed = require_signed_response

    @property
    def signer(self) -> Signer:
        """The prepared key and suite every request is signed with."""
        return self._signer

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GatewayClient(endpoint={self._endpoint!r}, sender_id={self._sender_id!r})"

    def close(self) -> None:
        self._transport.close()

    def send(
        self,
        service_id: str,
        data: Payload,
        *,
        message_id: str | None = None,
        correlation_id: str | None = None,
        route_id: str | None = None,
        properties: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    ) -> GatewayResponse:
        """Send one SyncChannel message and return the gateway's answer.

        Raises :class:`GatewayFaultError` for a SOAP fault, a :class:`TransportError` when the
        exchange fails, :class:`VerificationError` when a signed answer fails the policy.
        """
        message_id = message_id or str(uuid.uuid4())
        envelope = build_sync_request(
            self._contract,
            service_id=service_id,
            sender_id=self._sender_id,
            password=self._sender_password,
            data=data,
            message_id=message_id,
            correlation_id=correlation_id,
            route_id=route_id,
            properties=properties,
        )
        answer, root, signed_by = self._exchange(self._endpoint, envelope, message_id)
        parsed = self._parse(parse_sync_response, root, self._contract, message_id)
        return GatewayResponse(
            message_id=parsed.message_id,
            correlation_id=parsed.correlation_id,
            status_code=parsed.status_code,
            status_message=parsed.status_message,
            response_date=parsed.response_date,
            session_id=parsed.session_id,
            data=parsed.data,
            signed_by=signed_by,
            attempts=answer.attempts,
            elapsed=answer.elapsed,
        )

    # ----------------------------------------------------------------- AsyncChannel

    def send_async(
        self,
        service_id: str,
        data: Payload,
        *,
        message_id: str | None = None,
        correlation_id: str | None = None,
        message_type: MessageType | str = MessageType.REQUEST,
        properties: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    ) -> AsyncSendResponse:
        """Queue a message on the AsyncChannel; keep the answer's ``correlation_id`` to
        :meth:`poll` for the reply. A messageId is generated so a resend is recognisable."""
        message_id = message_id or str(uuid.uuid4())
        contract = self._async()
        envelope = build_async_request(
            contract,
            service_id=service_id,
            sender_id=self._sender_id,
            password=self._sender_password,
            data=data,
            message_type=message_type,
            message_id=message_id,
            correlation_id=correlation_id,
            properties=properties,
        )
        _, root, _ = self._exchange(self._async_url(), envelope, message_id)
        return self._parse(parse_async_send_response, root, contract, message_id)

    def get_messages(
        self, service_id: str, *, correlation_id: str | None = None, amount: int | None = None
    ) -> tuple[AsyncMessage, ...]:
        """Pull the messages waiting for this sender (optionally of one correlation chain)."""
        contract = self._async()
        envelope = build_get_messages_request(
            contract,
            service_id=service_id,
            correlation_id=correlation_id,
            sender_id=self._sender_id,
            password=self._sender_password,
            amount=amount,
        )
        _, root, _ = self._exchange(self._async_url(), envelope, correlation_id)
        return self._parse(parse_get_messages_response, root, contract, correlation_id).messages

    def poll(
        self,
        service_id: str,
        correlation_id: str,
        *,
        timeout: float = 60.0,
        interval: float = 1.0,
    ) -> tuple[AsyncMessage, ...]:
        """Call :meth:`get_messages` until the reply to ``correlation_id`` arrives."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.get_messages(service_id, correlation_id=correlation_id)
            if messages:
                return messages
            if time.monotonic() + interval > deadline:
                raise TransportTimeoutError(
                    f"no reply within {timeout:g} s",
                    url=self._async_url(),
                    message_id=correlation_id,
                )
            time.sleep(interval)

    def confirm(
        self, message: AsyncMessage, *, accepted: bool = True
    ) -> DeliveryNotificationResponse:
        """Tell the gateway a pulled message was received (or refused), so it stops offering it."""
        if message.message_id is None:
            raise EnvelopeError("cannot confirm a message without a messageId", field="messageId")
        contract = self._async()
        envelope = build_delivery_notification(
            contract,
            message_id=message.message_id,
            service_id=message.service_id,
            receive_status=ReceiveStatus.ACCEPTED if accepted else ReceiveStatus.NOT_ACCEPTED,
            sender_id=self._sender_id,
            password=self._sender_password,
        )
        _, root, _ = self._exchange(self._async_url(), envelope, message.message_id)
        return self._parse(parse_delivery_notification_response, root, contract, message.message_id)

    def _async(self) -> Contract:
        if self._async_contract is None:
            self._async_contract = async_channel()
        return self._async_contract

    def _async_url(self) -> str:
        if self._async_endpoint is None:
            raise ConfigError("no async_endpoint is configured for the AsyncChannel")
        return self._async_endpoint

    # ----------------------------------------------------------------- one exchange

    def _exchange(
        self, url: str, envelope: etree._Element, message_id: str | None
    ) -> tuple[TransportResponse, etree._Element, x509.Certificate | None]:
        """Sign, post, and read the answer: a fault first, then the answer's signature."""
        wire = sign_envelope(envelope, self._signer, source=f"message {message_id}")
        answer = self._transport.post(url, wire, message_id=message_id)
        root = self._read_answer(answer, message_id)
        return answer, root, self._check_response_signature(answer, root, message_id)

    @staticmethod
    def _parse(
        parser: Callable[[etree._Element, Contract], _T],
        root: etree._Element,
        contract: Contract,
        message_id: str | None,
    ) -> _T:
        try:
            return parser(root, contract)
        except EnvelopeError as exc:
            exc.message_id = exc.message_id or message_id
            raise

    def _read_answer(self, answer: TransportResponse, message_id: str | None) -> etree._Element:
        """Parse the answer and raise a fault as a fault, before anything else looks at it."""
        source = f"answer from {answer.url}"
        try:
            root = parse_xml(answer.content, source=source).getroot()
        except XmlError as exc:
            if answer.status >= 400:
                raise HttpStatusError(
                    f"HTTP {answer.status} without a SOAP answer",
                    status=answer.status,
                    url=answer.url,
                    message_id=message_id,
                ) from exc
            exc.message_id = message_id
            raise
        try:
            soap_version(root)
        except EnvelopeError as exc:
            raise HttpStatusError(
                f"HTTP {answer.status}: the answer is not a SOAP envelope",
                status=answer.status,
                url=answer.url,
                message_id=message_id,
            ) from exc
        fault = find_fault(root)
        if fault is not None:
            raise _fault_error(fault, message_id)
        if answer.status != 200:
            raise HttpStatusError(
                f"HTTP {answer.status} with a SOAP answer that is not a fault",
                status=answer.status,
                url=answer.url,
                message_id=message_id,
            )
        return root

    def _check_response_signature(
        self, answer: TransportResponse, root: etree._Element, message_id: str | None
    ) -> x509.Certificate | None:
        if self._policy is None:
            return None
        signed = root.find(".//{http://www.w3.org/2000/09/xmldsig#}Signature") is not None
        if not signed and not self._require_signed:
            return None
        try:
            result = verify_envelope(root, self._policy, source=f"answer from {answer.url}")
        except VerificationError as exc:
            exc.message_id = exc.message_id or message_id
            raise
        return result.certificate


def _fault_error(fault: Fault, message_id: str | None) -> GatewayFaultError:
    message = fault.error_message or fault.fault_string or "the gateway returned a fault"
    return GatewayFaultError(
        message,
        error_code=fault.error_code,
        fault_code=fault.fault_code,
        error_data=fault.error_data,
        message_id=message_id,
    )

"""The emulator's error codes, the error a service handler raises, and seeded fault injection.

The real gateway's error codes are not public (protocol.md: **U**), so the emulator defines its
own in :class:`ErrorCode`, the one place they live. A client must not hard-code them as if they
were the gateway's: they only tell tests *which* check refused a message.
"""

from __future__ import annotations

import enum
import math
import random
import threading
from dataclasses import dataclass
from typing import Any, Literal

from gateway.errors import ConfigError, GatewayError

__all__ = ["ErrorCode", "FaultPlan", "HandlerError", "Outcome"]


class ErrorCode(enum.StrEnum):
    """``errorCode`` values of the emulator's SOAP faults (all sent with HTTP 500)."""

    MALFORMED_ENVELOPE = "EMSG001"
    """Not well-formed, hostile (DOCTYPE/entities), not SOAP 1.1, or not schema-valid."""
    UNKNOWN_MESSAGE = "EMSG002"
    """AsyncChannel: no such correlationId/messageId waiting (getMessages, delivery notices)."""
    SIGNATURE_INVALID = "ESIGN001"
    """The transport signature is missing or rejected; ``errorData`` is the rejection reason
    (``no-signature``, ``digest-mismatch``, ``untrusted-certificate``, ...)."""
    BAD_CREDENTIALS = "EAUTH001"
    """Unknown senderId or wrong password (one code for both, as a gateway should)."""
    UNKNOWN_SERVICE = "ESRV001"
    """No handler is registered for the serviceId; ``errorData`` is the serviceId."""
    UNSUPPORTED_OPERATION = "EOPR001"
    """A contract operation the emulator does not implement (getMessageStatus)."""
    PAYLOAD_INVALID = "EDATA001"
    """The service refused the payload (``xsd_handler``); ``errorData`` is ``line L, column C``."""
    INTERNAL_ERROR = "EINT001"
    """A handler crashed, or an injected HTTP 500 (:attr:`FaultPlan.error_rate`)."""


class HandlerError(GatewayError):
    """Raised by a service handler to answer with a SOAP fault instead of a response.

    ``code`` becomes ``errorCode`` (use :class:`ErrorCode` or a service-specific code),
    ``message`` ``errorMessage`` and ``faultstring``, ``data`` ``errorData``. Never put
    passwords or whole payloads in them: they go back to the client and into the log.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        data: str | None = None,
        fault_code: Literal["Client", "Server"] = "Client",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.data = data
        self.fault_code: Literal["Client", "Server"] = fault_code

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_handler_error, (self.code, self.message, self.data, self.fault_code))

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def _rebuild_handler_error(
    code: str, message: str, data: str | None, fault_code: Literal["Client", "Server"]
) -> HandlerError:
    return HandlerError(code, message, data=data, fault_code=fault_code)


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultPlan:
    """Seeded, reproducible fault injection for the emulator.

    One draw from ``random.Random(seed)`` per SOAP request (a POST to a channel path with an
    acceptable Content-Type and size), in arrival order; so sequential clients see the same
    sequence on every run. The draw picks at most one of: 503, 500, drop (the rates add up to
    at most 1).
    """

    seed: int = 0
    latency: float = 0.0
    """Seconds added before every SOAP response (injected ones too)."""
    error_rate: float = 0.0
    """Probability of an HTTP 500 SOAP fault (``INTERNAL_ERROR``) *before* the message is
    processed: it is not accepted, so resending it is safe."""
    unavailable_rate: float = 0.0
    """Probability of an HTTP 503 (plain text, ``Retry-After``) before processing."""
    drop_rate: float = 0.0
    """Probability that the connection is cut mid-response *after* the message was processed
    and accepted: the status line, headers and half the body go out, then the TCP connection
    is aborted. The message counts in ``accepted_message_ids`` although the client never got
    the answer: the case a retrying client must handle by messageId."""
    slow_body: float = 0.0
    """Seconds over which a (chunked) response body is trickled out."""
    retry_after: int = 1
    """The ``Retry-After`` seconds sent with an injected 503."""

    def __post_init__(self) -> None:
        for name in ("error_rate", "unavailable_rate", "drop_rate"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ConfigError(
                    f"must be a probability between 0 and 1, got {value!r}", field=name
                )
        if self.error_rate + self.unavailable_rate + self.drop_rate > 1.0 + 1e-9:
            raise ConfigError(
                "error_rate + unavailable_rate + drop_rate must not exceed 1", field="faults"
            )
        for name in ("latency", "slow_body"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ConfigError(
                    f"must be a non-negative number of seconds, got {value!r}", field=name
                )
        if isinstance(self.retry_after, bool) or not isinstance(self.retry_after, int):
            raise ConfigError("must be whole seconds", field="retry_after")
        if self.retry_after < 0:
            raise ConfigError("must not be negative", field="retry_after")


class Outcome(enum.Enum):
    """What the fault plan decided for one request."""

    NORMAL = "normal"
    UNAVAILABLE = "unavailable"
    ERROR = "error"
    DROP = "drop"


class FaultInjector:
    """Draws one :class:`Outcome` per request from the plan's seeded generator."""

    def __init__(self, plan: FaultPlan) -> None:
        self._plan = plan
        # Reproducibility is the point; nothing here is security-sensitive.
        self._random = random.Random(plan.seed)  # noqa: S311
        self._lock = threading.Lock()

    def draw(self) -> Outcome:
        with self._lock:
            value = self._random.random()
        plan = self._plan
        bound = plan.unavailable_rate
        if value < bound:
            return Outcome.UNAVAILABLE
        bound += plan.error_rate
        if value < bound:
            return Outcome.ERROR
        bound += plan.drop_rate
        if value < bound:
            return Outcome.DROP
        return Outcome.NORMAL

"""The one error tree of shep-gateway.

Every exception that leaves a ``gateway`` module is a :class:`GatewayError`; exceptions of
lxml, xmlsec, zeep, cryptography and requests are translated at the edge of the layer that
calls them (``raise ... from exc``).

::

    GatewayError                  base; .file .line .field .message_id say where
    ├── ConfigError               bad option, profile or setting
    ├── InputError                a file or value we cannot use as given
    │   └── XmlError              malformed or too large XML
    │       └── HostileXmlError   XML with a DOCTYPE or entity declarations (XXE, bombs)
    ├── IdentityError             key/certificate cannot be loaded (wrong password, no key, ...)
    │   └── PasswordRequiredError the key is encrypted and no password was given
    ├── ContractError             WSDL/XSD cannot be loaded or does not resolve
    ├── EnvelopeError             a message does not fit the channel's contract
    ├── SignatureError            a transport signature cannot be made
    │   └── VerificationError     a signature is rejected by policy; .reason says which check
    ├── TransportError            the HTTPS exchange failed; .url says where
    │   ├── TlsError              handshake or certificate problem (either side)
    │   ├── ConnectError          could not connect (refused, DNS, proxy)
    │   ├── TransportTimeoutError  connect or read timeout, after the allowed retries
    │   ├── HttpStatusError       an HTTP status that carries no SOAP answer; .status
    │   └── ResponseTooLargeError  the answer exceeded the configured limit
    └── GatewayFaultError         the gateway answered with a SOAP fault; .error_code

Messages never contain passwords, private keys or raw message bodies. ``exit_code`` is what
the CLI returns for the error: 2 for usage and input errors, 1 for a rejected signature, a
failed exchange or a gateway fault.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

__all__ = [
    "ConfigError",
    "ConnectError",
    "ContractError",
    "EnvelopeError",
    "GatewayError",
    "GatewayFaultError",
    "HostileXmlError",
    "HttpStatusError",
    "IdentityError",
    "InputError",
    "PasswordRequiredError",
    "Rejection",
    "ResponseTooLargeError",
    "SignatureError",
    "TlsError",
    "TransportError",
    "TransportTimeoutError",
    "VerificationError",
    "XmlError",
]


class GatewayError(Exception):
    """Base of every error shep-gateway raises.

    The context fields say *where* the problem is; ``str()`` puts them in front of the
    message (``file:line: field: message [message id X]``) so one line tells the user what to fix.
    """

    exit_code: ClassVar[int] = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        message_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        self.message_id = message_id

    def _context(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "field": self.field,
            "message_id": self.message_id,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only context would be lost by Exception's default pickling, and batch
        # workers send errors across processes.
        return (_rebuild, (type(self), self.message, self._context()))

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file if self.line is None else f"{self.file}:{self.line}"
            where += ": "
        if self.field is not None:
            where += f"{self.field}: "
        tail = f" [message id {self.message_id}]" if self.message_id else ""
        return f"{where}{self.message}{tail}"


def _rebuild(cls: type[GatewayError], message: str, context: dict[str, Any]) -> GatewayError:
    return cls(message, **context)


class ConfigError(GatewayError):
    """An option, profile or setting is missing or wrong."""


class InputError(GatewayError):
    """A file or value given to us cannot be used as it is."""


class XmlError(InputError):
    """XML that is malformed, too large, or hostile (DOCTYPE, entity declarations)."""


class HostileXmlError(XmlError):
    """XML carrying a DOCTYPE: refused before anything reads it (XXE, entity bombs)."""


class IdentityError(GatewayError):
    """A key or certificate cannot be loaded: wrong password, no key in file, bad format."""


class PasswordRequiredError(IdentityError):
    """The key is encrypted and no password was given (the CLI may prompt for one)."""


class ContractError(GatewayError):
    """A WSDL/XSD contract cannot be parsed or resolved offline."""


class EnvelopeError(GatewayError):
    """A SOAP message does not fit the channel's contract (missing or malformed field)."""


class SignatureError(GatewayError):
    """A transport signature cannot be made (key unusable for the suite, envelope unfit)."""


class Rejection(enum.StrEnum):
    """Why a signed envelope was rejected; the CLI prints the value."""

    MALFORMED_XML = "malformed-xml"
    HOSTILE_XML = "hostile-xml"
    TOO_LARGE = "too-large"
    MALFORMED_ENVELOPE = "malformed-envelope"
    NO_SIGNATURE = "no-signature"
    MULTIPLE_SIGNATURES = "multiple-signatures"
    MALFORMED_SIGNATURE = "malformed-signature"
    SIGNATURE_WRAPPING = "signature-wrapping"
    DUPLICATE_ID = "duplicate-id"
    ALGORITHM_NOT_ALLOWED = "algorithm-not-allowed"
    KEY_REF_NOT_ALLOWED = "key-ref-not-allowed"
    MISSING_TOKEN = "missing-token"  # noqa: S105  (a reason code, not a password)
    UNTRUSTED_CERTIFICATE = "untrusted-certificate"
    CERTIFICATE_EXPIRED = "certificate-expired"
    CERTIFICATE_NOT_YET_VALID = "certificate-not-yet-valid"
    DIGEST_MISMATCH = "digest-mismatch"
    BAD_SIGNATURE = "bad-signature"


class VerificationError(SignatureError):
    """A signed envelope was rejected by the verification policy.

    ``reason`` names the check that failed, so callers can tell signature wrapping from an
    expired certificate without parsing the message.
    """

    exit_code: ClassVar[int] = 1

    def __init__(
        self,
        message: str,
        *,
        reason: Rejection,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        message_id: str | None = None,
    ) -> None:
        super().__init__(message, file=file, line=line, field=field, message_id=message_id)
        self.reason = reason

    def _context(self) -> dict[str, Any]:
        return {**super()._context(), "reason": self.reason}

    def __str__(self) -> str:
        return f"rejected ({self.reason}): {super().__str__()}"


class TransportError(GatewayError):
    """The HTTPS exchange with the gateway failed; ``url`` says which endpoint."""

    exit_code: ClassVar[int] = 1

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        message_id: str | None = None,
    ) -> None:
        super().__init__(message, file=file, line=line, field=field, message_id=message_id)
        self.url = url

    def _context(self) -> dict[str, Any]:
        return {**super()._context(), "url": self.url}

    def __str__(self) -> str:
        where = f"{self.url}: " if self.url else ""
        return f"{where}{super().__str__()}"


class TlsError(TransportError):
    """TLS handshake failed: untrusted server certificate, client certificate refused, ..."""


class ConnectError(TransportError):
    """No connection could be made (refused, unreachable, DNS, proxy)."""


class TransportTimeoutError(TransportError):
    """Connect or read timeout, after the retries the policy allows."""


class HttpStatusError(TransportError):
    """The gateway answered with an HTTP status that carries no SOAP message."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        url: str | None = None,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        message_id: str | None = None,
    ) -> None:
        super().__init__(message, url=url, file=file, line=line, field=field, message_id=message_id)
        self.status = status

    def _context(self) -> dict[str, Any]:
        return {**super()._context(), "status": self.status}


class ResponseTooLargeError(TransportError):
    """The answer exceeded the configured size limit; it was not read further."""


class GatewayFaultError(GatewayError):
    """The gateway answered with a SOAP fault (ErrorInfo); its code and message are kept."""

    exit_code: ClassVar[int] = 1

    def __init__(
        self,
        message: str,
        *,
        error_code: str | None,
        fault_code: str | None = None,
        error_data: str | None = None,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        message_id: str | None = None,
    ) -> None:
        super().__init__(message, file=file, line=line, field=field, message_id=message_id)
        self.error_code = error_code
        self.fault_code = fault_code
        self.error_data = error_data

    def _context(self) -> dict[str, Any]:
        return {
            **super()._context(),
            "error_code": self.error_code,
            "fault_code": self.fault_code,
            "error_data": self.error_data,
        }

    def __str__(self) -> str:
        code = f"gateway fault {self.error_code or self.fault_code or '(no code)'}: "
        return code + super().__str__()

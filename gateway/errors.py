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
    └── SignatureError            a transport signature cannot be made
        └── VerificationError     a signature is rejected by policy; .reason says which check

Messages never contain passwords, private keys or raw message bodies. ``exit_code`` is what
the CLI returns for the error: 2 for usage and input errors, 1 for a rejected signature.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

__all__ = [
    "ConfigError",
    "ContractError",
    "EnvelopeError",
    "GatewayError",
    "HostileXmlError",
    "IdentityError",
    "InputError",
    "PasswordRequiredError",
    "Rejection",
    "SignatureError",
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

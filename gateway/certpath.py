"""Does a signer certificate chain to a trusted one, and is every link valid at a given time?

Path building is deliberately small: issuer by subject name, signature checked with
``cryptography``'s ``verify_directly_issued_by`` (:mod:`gateway.gost` for GOST issuers, which
cryptography cannot load), issuers must be CAs, every certificate must be
inside its validity at the time of check. A pinned leaf (a trusted certificate that is the
signer itself, e.g. a SIGEX self-signed key) is accepted as is. Revocation (CRL/OCSP) is not
checked here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from gateway import gost
from gateway.errors import Rejection, VerificationError
from gateway.identity import format_name, quiet_name_length_warnings

__all__ = ["check_certificate", "describe"]


def check_certificate(
    certificate: x509.Certificate,
    *,
    trusted: Iterable[x509.Certificate],
    intermediates: Iterable[x509.Certificate] = (),
    at: datetime,
    max_depth: int = 4,
    require_digital_signature: bool = True,
) -> None:
    """Raise :class:`VerificationError` unless ``certificate`` chains to ``trusted`` at ``at``."""
    # Comparing names parses them; NCA's long Cyrillic names are valid but make cryptography
    # warn (see identity.quiet_name_length_warnings).
    with quiet_name_length_warnings():
        try:
            _check_certificate(
                certificate,
                trusted=tuple(trusted),
                intermediates=tuple(intermediates),
                at=at,
                max_depth=max_depth,
                require_digital_signature=require_digital_signature,
            )
        except ValueError as exc:
            # cryptography parses names and extensions lazily: a malformed one fails here.
            raise VerificationError(
                f"malformed certificate in the chain of serial {certificate.serial_number:x}:"
                f" {exc}",
                reason=Rejection.UNTRUSTED_CERTIFICATE,
            ) from exc


def _check_certificate(
    certificate: x509.Certificate,
    *,
    trusted: tuple[x509.Certificate, ...],
    intermediates: tuple[x509.Certificate, ...],
    at: datetime,
    max_depth: int,
    require_digital_signature: bool,
) -> None:
    anchors = tuple(trusted)
    anchor_ders = {c.public_bytes(serialization.Encoding.DER) for c in anchors}
    candidates = (*anchors, *intermediates)

    if require_digital_signature:
        try:
            usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            usage = None
        if usage is not None and not usage.digital_signature:
            raise VerificationError(
                f"certificate {describe(certificate)} is not for digital signatures (keyUsage)",
                reason=Rejection.UNTRUSTED_CERTIFICATE,
            )

    current = certificate
    for cas_below in range(max_depth + 1):
        _check_validity(current, at)
        if current.public_bytes(serialization.Encoding.DER) in anchor_ders:
            return
        issuer = _find_issuer(current, candidates, cas_below)
        if issuer is None:
            raise VerificationError(
                f"certificate {describe(certificate)} does not chain to a trusted certificate",
                reason=Rejection.UNTRUSTED_CERTIFICATE,
            )
        current = issuer
    raise VerificationError(
        f"certificate chain of {describe(certificate)} is longer than {max_depth}",
        reason=Rejection.UNTRUSTED_CERTIFICATE,
    )


def describe(cert: x509.Certificate) -> str:
    """Subject and serial, enough to find the certificate, for messages."""
    return f"'{format_name(cert.subject)}' (serial {cert.serial_number:x})"


def _find_issuer(
    cert: x509.Certificate, candidates: Iterable[x509.Certificate], cas_below: int
) -> x509.Certificate | None:
    """An issuer of ``cert`` that may issue here: a CA allowed to sign certificates, whose
    pathLenConstraint admits the ``cas_below`` CA certificates between it and the leaf."""
    for candidate in candidates:
        if candidate.subject != cert.issuer or candidate == cert:
            continue
        if not _may_issue(candidate, cas_below):
            continue
        if _issued_by(cert, candidate):
            return candidate
    return None


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if gost.is_gost_certificate(issuer):
        return gost.verify_certificate_signature(cert, issuer)
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _may_issue(cert: x509.Certificate, cas_below: int) -> bool:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    if not constraints.ca:
        return False
    if constraints.path_length is not None and cas_below > constraints.path_length:
        return False
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return usage.key_cert_sign


def _check_validity(cert: x509.Certificate, at: datetime) -> None:
    if at < cert.not_valid_before_utc:
        raise VerificationError(
            f"certificate {describe(cert)} is valid only from "
            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S}Z",
            reason=Rejection.CERTIFICATE_NOT_YET_VALID,
        )
    if at > cert.not_valid_after_utc:
        raise VerificationError(
            f"certificate {describe(cert)} expired {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S}Z",
            reason=Rejection.CERTIFICATE_EXPIRED,
        )

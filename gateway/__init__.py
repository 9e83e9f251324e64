"""shep-gateway: talk to Kazakhstan's e-Government gateway (ShEP) through its external gateway.

Build a channel request from the published v10 contracts, sign it with the gateway's
WS-Security transport signature using an NCA (RSA or GOST 34.10-2015) or SIGEX key, send it
over HTTPS with mutual TLS (``GatewayClient``), and verify signed envelopes by an explicit policy::

    from gateway import (VerifyPolicy, build_sync_request, load_identity_from_path,
                         make_signer, sign_envelope, sync_channel, verify_envelope)

    signer = make_signer(load_identity_from_path(Path("RSA256_....p12"), password=b"..."))
    envelope = build_sync_request(sync_channel(), service_id="...", sender_id="...",
                                  password=None, data=payload_element)
    wire_bytes = sign_envelope(envelope, signer)

Only the names in ``__all__`` are a promise; everything else may change.
"""

from gateway.client import GatewayClient, GatewayResponse
from gateway.config import Profile, load_profile, open_client
from gateway.contracts import Contract, async_channel, load_contract, sync_channel
from gateway.envelope import TypedPayload, build_async_request, build_sync_request
from gateway.errors import (
    ConfigError,
    ConnectError,
    ContractError,
    EnvelopeError,
    GatewayError,
    GatewayFaultError,
    HostileXmlError,
    HttpStatusError,
    IdentityError,
    InputError,
    PasswordRequiredError,
    Rejection,
    ResponseTooLargeError,
    SignatureError,
    TlsError,
    TransportError,
    TransportTimeoutError,
    VerificationError,
    XmlError,
)
from gateway.gost import GostPrivateKey
from gateway.identity import (
    Identity,
    describe_certificate,
    load_certificates,
    load_certificates_from_path,
    load_identity,
    load_identity_from_path,
)
from gateway.suites import (
    ECDSA_SHA256,
    GOST2015_256,
    GOST2015_512,
    RSA_SHA256,
    SignatureSuite,
    register_suite,
)
from gateway.transport import RetryPolicy, Transport, TransportConfig
from gateway.wssec import (
    ALL_SUITES,
    DEFAULT_SUITES,
    GOST_SUITES,
    Signer,
    VerifiedEnvelope,
    VerifyPolicy,
    make_signer,
    sign_envelope,
    verify_envelope,
)

__all__ = [
    "ALL_SUITES",
    "DEFAULT_SUITES",
    "ECDSA_SHA256",
    "GOST2015_256",
    "GOST2015_512",
    "GOST_SUITES",
    "RSA_SHA256",
    "ConfigError",
    "ConnectError",
    "Contract",
    "ContractError",
    "EnvelopeError",
    "GatewayClient",
    "GatewayError",
    "GatewayFaultError",
    "GatewayResponse",
    "GostPrivateKey",
    "HostileXmlError",
    "HttpStatusError",
    "Identity",
    "IdentityError",
    "InputError",
    "PasswordRequiredError",
    "Profile",
    "Rejection",
    "ResponseTooLargeError",
    "RetryPolicy",
    "SignatureError",
    "SignatureSuite",
    "Signer",
    "TlsError",
    "Transport",
    "TransportConfig",
    "TransportError",
    "TransportTimeoutError",
    "TypedPayload",
    "VerificationError",
    "VerifiedEnvelope",
    "VerifyPolicy",
    "XmlError",
    "async_channel",
    "build_async_request",
    "build_sync_request",
    "describe_certificate",
    "load_certificates",
    "load_certificates_from_path",
    "load_contract",
    "load_identity",
    "load_identity_from_path",
    "load_profile",
    "make_signer",
    "open_client",
    "register_suite",
    "sign_envelope",
    "sync_channel",
    "verify_envelope",
]

"""A local ShEP gateway emulator: HTTPS with client certificates, SyncChannel and AsyncChannel.

For tests and demos of integrated systems without a VPN to the real gateway::

    from gateway.emulator import emulator_config_from_pki, start_emulator

    with start_emulator(emulator_config_from_pki(pki)) as emulator:
        ...  # POST signed envelopes to emulator.sync_url with a client certificate

It checks what the gateway checks (transport signature by policy, sender and password,
serviceId) and answers the way it does: ``SCSS001`` responses, or unsigned ErrorInfo SOAP
faults with HTTP 500. Its error codes are its own (:class:`ErrorCode`); the real gateway's are
not public. :class:`FaultPlan` injects 503s, 500s, dropped connections, latency and slow bodies,
reproducibly from a seed.
"""

from gateway.emulator.app import ASYNC_PATH, CHANNEL_PATHS, EMULATOR_SENDER_ID, SYNC_PATH
from gateway.emulator.faults import ErrorCode, FaultPlan, HandlerError
from gateway.emulator.handlers import (
    ECHO_NAMESPACE,
    Handler,
    RequestInfo,
    echo_handler,
    echo_xsd_handler,
    xsd_handler,
)
from gateway.emulator.server import (
    EmulatorConfig,
    RunningEmulator,
    default_services,
    emulator_config_from_pki,
    serve_emulator,
    start_emulator,
)

__all__ = [
    "ASYNC_PATH",
    "CHANNEL_PATHS",
    "ECHO_NAMESPACE",
    "EMULATOR_SENDER_ID",
    "SYNC_PATH",
    "EmulatorConfig",
    "ErrorCode",
    "FaultPlan",
    "Handler",
    "HandlerError",
    "RequestInfo",
    "RunningEmulator",
    "default_services",
    "echo_handler",
    "echo_xsd_handler",
    "emulator_config_from_pki",
    "serve_emulator",
    "start_emulator",
    "xsd_handler",
]

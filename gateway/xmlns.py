"""XML namespace URIs used across the gateway's messages.

Only namespaces that are the same in every published edition of the v10 contracts live here;
type namespaces differ between editions and are read from the loaded contract instead.
"""

from __future__ import annotations

from typing import Final

SOAP11: Final = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12: Final = "http://www.w3.org/2003/05/soap-envelope"
SOAP_ENVELOPE_NAMESPACES: Final = frozenset({SOAP11, SOAP12})

WSSE: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DS: Final = "http://www.w3.org/2000/09/xmldsig#"
XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
XSD: Final = "http://www.w3.org/2001/XMLSchema"
XML: Final = "http://www.w3.org/XML/1998/namespace"

WSS_BASE64: Final = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
WSS_X509V3: Final = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
)

SYNC_TYPES: Final = "http://bip.bee.kz/SyncChannel/v10/Types"
SYNC_INTERFACES: Final = "http://bip.bee.kz/SyncChannel/v10/Interfaces"
ASYNC_TYPES: Final = "http://bip.bee.kz/AsyncChannel/v10/Types"
ASYNC_INTERFACES: Final = "http://bip.bee.kz/AsyncChannel/v10/Interfaces"


def qname(namespace: str, local: str) -> str:
    """Clark notation ``{ns}local``, the form lxml uses for tags and attributes."""
    return f"{{{namespace}}}{local}"

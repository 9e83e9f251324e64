"""The one place that turns untrusted bytes into an lxml tree.

Every XML input (envelopes, payloads, responses, contracts) goes through :func:`parse_xml`:
DTDs, entity expansion and network access are off, and any DOCTYPE is refused outright, so
XXE and entity-expansion bombs never reach the signature code. Never call
``etree.fromstring`` bare.
"""

from __future__ import annotations

import re

from lxml import etree

from gateway.errors import HostileXmlError, XmlError

__all__ = ["DEFAULT_MAX_BYTES", "hardened_parser", "has_doctype", "parse_xml"]

_DOCTYPE_REFUSED = "DOCTYPE is not allowed (entities and DTDs are refused)"

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
"""Inputs above this are refused before parsing (a SOAP message is rarely over a few MB)."""


# A DOCTYPE can only stand in the prolog: after an optional BOM, XML declaration, comments,
# processing instructions and whitespace. Matching it there refuses it before libxml2 sees it.
_PROLOG_DOCTYPE = re.compile(
    rb"\A(?:\xef\xbb\xbf)?"
    rb"(?:\s|<\?(?:[^?]|\?(?!>))*\?>|<!--(?:[^-]|-(?!->))*-->)*"  # each piece matches one way
    rb"<!DOCTYPE"
)


def hardened_parser(*, huge_tree: bool = False) -> etree.XMLParser:
    """Build a parser with entities, DTD loading and network access disabled.

    Whitespace and comments are kept: a signed Body must reach the wire byte-for-byte.
    ``huge_tree`` lifts libxml2's depth/text-size guards; only for inputs already size-checked.
    """
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        remove_blank_text=False,
        remove_comments=False,
        remove_pis=False,
        huge_tree=huge_tree,
        collect_ids=False,
    )


def parse_xml(
    data: bytes,
    *,
    source: str = "<input>",
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    huge_tree: bool = False,
) -> etree._ElementTree:
    """Parse ``data`` safely; raise :class:`XmlError` naming ``source`` and the line.

    A document with any DOCTYPE is rejected even if it declares nothing: no message on the
    gateway has a reason to carry one, and refusing it closes XXE and billion-laughs at once.
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise XmlError(f"document is {len(data)} bytes, over the limit of {max_bytes}", file=source)
    if not data or data.isspace():
        raise XmlError("document is empty", file=source)
    if _PROLOG_DOCTYPE.match(data):
        raise HostileXmlError(_DOCTYPE_REFUSED, file=source, line=1)
    try:
        root = etree.fromstring(data, parser=hardened_parser(huge_tree=huge_tree))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        raise XmlError(f"not well-formed XML: {exc.msg}", file=source, line=line) from exc
    tree = root.getroottree()
    if has_doctype(tree):
        raise HostileXmlError(_DOCTYPE_REFUSED, file=source, line=1)
    return tree


def has_doctype(tree: etree._ElementTree) -> bool:
    """Whether a parsed tree came with any DOCTYPE (for trees parsed elsewhere)."""
    docinfo = tree.docinfo
    # lxml-stubs lack `doctype` and mistype the DTD attributes (they can be None).
    return any(getattr(docinfo, name, None) for name in ("doctype", "internalDTD", "externalDTD"))

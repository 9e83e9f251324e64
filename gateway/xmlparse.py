"""The one place that turns untrusted bytes into an lxml tree.

Every XML input (envelopes, payloads, responses, contracts) goes through :func:`parse_xml`:
DTDs, entity expansion and network access are off, and any DOCTYPE is refused outright, so
XXE and entity-expansion bombs never reach the signature code. Never call
``etree.fromstring`` bare.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from lxml import etree

from gateway.errors import HostileXmlError, InputError, XmlError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "PROLOG_SCAN_BYTES",
    "hardened_parser",
    "hardened_pull_parser",
    "has_doctype",
    "parse_xml",
    "parse_xml_file",
    "refuse_doctype",
    "syntax_error_column",
]

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


PROLOG_SCAN_BYTES = 1024 * 1024
"""How much of a file's start :func:`parse_xml_file` scans for a DOCTYPE before parsing. A
DOCTYPE behind a longer prolog is still refused, once the parser has seen it."""


def _hardened_options(huge_tree: bool) -> dict[str, Any]:
    return {
        "resolve_entities": False,
        "load_dtd": False,
        "dtd_validation": False,
        "no_network": True,
        "remove_blank_text": False,
        "remove_comments": False,
        "remove_pis": False,
        "huge_tree": huge_tree,
        "collect_ids": False,
    }


class _ExternalRefused(etree.Resolver):
    """Serves an empty document for every external DTD or entity while ``armed``.

    The DOCTYPE prolog check works on bytes, so a document in UTF-16 or UTF-7 slips past it;
    libxml2 would then open what its internal subset names (``<!ENTITY % x SYSTEM
    "file:///dev/zero"> %x;`` hangs the parser) before the tree is refused. Disarmed after
    the parse, so a schema parsed here can still import its neighbours.
    """

    def __init__(self) -> None:
        super().__init__()
        self.armed = True

    def resolve(  # type: ignore[override]  # lxml-stubs omit the context argument
        self, system_url: str, public_id: str, context: object
    ) -> Any:
        return self.resolve_string(b"", context, base_url=None) if self.armed else None


def _guarded(parser: etree.XMLParser) -> _ExternalRefused:
    guard = _ExternalRefused()
    parser.resolvers.add(guard)
    return guard


def hardened_parser(*, huge_tree: bool = False) -> etree.XMLParser:
    """Build a parser with entities, DTD loading and network access disabled.

    Whitespace and comments are kept: a signed Body must reach the wire byte-for-byte.
    ``huge_tree`` lifts libxml2's depth/text-size guards; only for inputs already size-checked.
    """
    return etree.XMLParser(**_hardened_options(huge_tree))


def hardened_pull_parser(
    *,
    events: tuple[Literal["start", "end"], ...] = ("end",),
    schema: etree.XMLSchema | None = None,
    huge_tree: bool = False,
) -> etree.XMLPullParser:
    """The hardened parser in push form: ``feed()`` bytes, ``read_events()`` as elements end.

    For documents too large to hold as one tree: the caller clears what it has read. With a
    ``schema``, libxml2 validates while it parses (its errors land in ``error_log`` without
    line numbers). It does not refuse a DOCTYPE by itself: call :func:`refuse_doctype` on the
    first bytes, and :func:`has_doctype` on the first element's tree.
    """
    parser = etree.XMLPullParser(events=events, schema=schema, **_hardened_options(huge_tree))
    _guarded(parser)
    return parser


def refuse_doctype(head: bytes, *, source: str = "<input>") -> None:
    """Raise :class:`HostileXmlError` if the prolog at the start of ``head`` has a DOCTYPE."""
    if _PROLOG_DOCTYPE.match(head):
        raise HostileXmlError(_DOCTYPE_REFUSED, file=source, line=1)


def syntax_error_column(exc: BaseException) -> int | None:
    """The 1-based column of an lxml syntax error, also through an :class:`XmlError` it caused.

    :class:`XmlError` keeps the line only; the column is in its ``__cause__``.
    """
    cause = exc if isinstance(exc, etree.XMLSyntaxError) else exc.__cause__
    position = getattr(cause, "position", None)
    if isinstance(position, tuple) and len(position) == 2 and isinstance(position[1], int):
        return position[1] if position[1] > 0 else None
    return None


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
    refuse_doctype(data, source=source)
    parser = hardened_parser(huge_tree=huge_tree)
    guard = _guarded(parser)
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        raise XmlError(f"not well-formed XML: {exc.msg}", file=source, line=line) from exc
    finally:
        guard.armed = False
    tree = root.getroottree()
    if has_doctype(tree):
        raise HostileXmlError(_DOCTYPE_REFUSED, file=source, line=1)
    return tree


def parse_xml_file(
    path: Path,
    *,
    source: str | None = None,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    huge_tree: bool = False,
) -> etree._ElementTree:
    """Parse the file at ``path`` like :func:`parse_xml`, without reading it into bytes first.

    libxml2 reads the open file in chunks, so a large document costs its tree and nothing more.
    Size is checked before parsing and the prolog is scanned for a DOCTYPE as in
    :func:`parse_xml`. An unreadable file is an :class:`InputError`; errors name ``source``
    (default: the path).
    """
    name = str(path) if source is None else source
    try:
        with Path(path).open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if max_bytes is not None and size > max_bytes:
                raise XmlError(
                    f"document is {size} bytes, over the limit of {max_bytes}", file=name
                )
            head = handle.read(PROLOG_SCAN_BYTES)
            if not head.strip() and len(head) == size:
                raise XmlError("document is empty", file=name)
            refuse_doctype(head, source=name)
            handle.seek(0)
            parser = hardened_parser(huge_tree=huge_tree)
            guard = _guarded(parser)
            try:
                tree = etree.parse(handle, parser=parser)
            except etree.XMLSyntaxError as exc:
                line = exc.lineno if exc.lineno else None
                raise XmlError(f"not well-formed XML: {exc.msg}", file=name, line=line) from exc
            finally:
                guard.armed = False
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=name) from exc
    if has_doctype(tree):
        raise HostileXmlError(_DOCTYPE_REFUSED, file=name, line=1)
    return tree


def has_doctype(tree: etree._ElementTree) -> bool:
    """Whether a parsed tree came with any DOCTYPE (for trees parsed elsewhere)."""
    docinfo = tree.docinfo
    # lxml-stubs lack `doctype` and mistype the DTD attributes (they can be None).
    return any(getattr(docinfo, name, None) for name in ("doctype", "internalDTD", "externalDTD"))

"""The hardened parser: hostile XML never reaches the rest of the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import HostileXmlError, XmlError
from gateway.xmlparse import parse_xml

HOSTILE = Path(__file__).parent / "data" / "hostile"


@pytest.mark.parametrize("path", sorted(HOSTILE.glob("*.xml")), ids=lambda p: p.name)
def test_hostile_and_malformed_files_are_refused(path: Path) -> None:
    with pytest.raises(XmlError) as info:
        parse_xml(path.read_bytes(), source=path.name)
    assert info.value.file == path.name
    hostile = path.name.split("_")[0] in {"xxe", "billion", "external", "parameter"}
    assert isinstance(info.value, HostileXmlError) is hostile


def test_xxe_does_not_read_local_files() -> None:
    with pytest.raises(HostileXmlError) as info:
        parse_xml((HOSTILE / "xxe_file.xml").read_bytes())
    assert "root:" not in str(info.value)


def test_size_limit_is_checked_before_parsing() -> None:
    with pytest.raises(XmlError, match="over the limit of 10"):
        parse_xml(b"<a>" + b"x" * 100 + b"</a>", max_bytes=10)


def test_syntax_error_names_source_and_line() -> None:
    with pytest.raises(XmlError) as info:
        parse_xml(b"<a>\n<b>\n</a>", source="in.xml")
    assert info.value.file == "in.xml"
    assert info.value.line is not None
    assert str(info.value).startswith("in.xml:")


def test_empty_document() -> None:
    with pytest.raises(XmlError, match="empty"):
        parse_xml(b"  \n")


def test_whitespace_comments_and_cr_are_kept() -> None:
    tree = parse_xml(b"<a>\n  <!-- c -->\n  <b>x&#13;\ny</b></a>")
    root = tree.getroot()
    assert root.text == "\n  "
    assert root[1].text == "x\r\ny"
    assert len(root) == 2  # the comment is kept as a node


def test_long_prologs_are_scanned_in_linear_time() -> None:
    """The DOCTYPE pre-scan must not backtrack: these would hang a naive pattern."""
    for prolog in (b" \n" * 200_000, b"<?pi x?>" * 20_000, b"<!-- - -->" * 20_000):
        assert parse_xml(prolog + b"<r/>", max_bytes=None).getroot().tag == "r"
    with pytest.raises(HostileXmlError):
        parse_xml(b"<?xml version='1.0'?>" + b"<!-- c -->" * 1000 + b"\n<!DOCTYPE r []><r/>")

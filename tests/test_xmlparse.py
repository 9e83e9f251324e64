"""The hardened parser: hostile XML never reaches the rest of the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import HostileXmlError, InputError, XmlError
from gateway.xmlparse import (
    PROLOG_SCAN_BYTES,
    hardened_pull_parser,
    has_doctype,
    parse_xml,
    parse_xml_file,
    refuse_doctype,
    syntax_error_column,
)

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


# --------------------------------------------------------------------------- files and streams


def test_parse_xml_file_reads_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.xml"
    path.write_bytes(b"<?xml version='1.0'?>\n<a>\n  <b>\xd0\x96</b>\n</a>")
    tree = parse_xml_file(path)
    assert tree.getroot()[0].text == "Ж"
    assert tree.getroot()[0].sourceline == 3


@pytest.mark.parametrize("path", sorted(HOSTILE.glob("*.xml")), ids=lambda p: p.name)
def test_parse_xml_file_refuses_what_parse_xml_refuses(path: Path) -> None:
    with pytest.raises(XmlError) as info:
        parse_xml_file(path)
    assert info.value.file == str(path)
    hostile = path.name.split("_")[0] in {"xxe", "billion", "external", "parameter"}
    assert isinstance(info.value, HostileXmlError) is hostile


def test_parse_xml_file_doctype_behind_a_long_prolog(tmp_path: Path) -> None:
    path = tmp_path / "late.xml"
    path.write_bytes(b"<!--" + b"x" * (PROLOG_SCAN_BYTES + 10) + b"-->\n<!DOCTYPE a []><a/>")
    with pytest.raises(HostileXmlError):
        parse_xml_file(path)


def test_parse_xml_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read") as info:
        parse_xml_file(tmp_path / "missing.xml")
    assert not isinstance(info.value, XmlError)
    empty = tmp_path / "empty.xml"
    empty.write_bytes(b" \n")
    with pytest.raises(XmlError, match="empty"):
        parse_xml_file(empty)
    big = tmp_path / "big.xml"
    big.write_bytes(b"<a>" + b"x" * 100 + b"</a>")
    with pytest.raises(XmlError, match="over the limit of 10"):
        parse_xml_file(big, max_bytes=10)
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<a>\n  <b>\n</a>")
    with pytest.raises(XmlError) as syntax:
        parse_xml_file(broken, source="in.xml")
    assert (syntax.value.file, syntax.value.line) == ("in.xml", 3)
    assert syntax_error_column(syntax.value) == 5


def test_pull_parser_is_hardened() -> None:
    parser = hardened_pull_parser(events=("start",))
    parser.feed(b'<!DOCTYPE a [<!ENTITY e "boom">]><a>&e;</a>')
    parser.close()
    (_event, element), *_ = parser.read_events()
    assert has_doctype(element.getroottree())  # the caller refuses it (gateway.validate does)
    with pytest.raises(HostileXmlError):
        refuse_doctype(b'<?xml version="1.0"?>\n<!-- c -->\n<!DOCTYPE a>', source="x")


@pytest.mark.parametrize(
    ("template", "encoding"),
    [
        ('<!DOCTYPE r [<!ENTITY % x SYSTEM "{url}"> %x;]><r/>', "utf-16"),
        ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r SYSTEM "{url}"><r/>', "utf-16-le"),
        (
            '<?xml version="1.0" encoding="UTF-7"?>+ADw-+ACE-DOCTYPE r +AFs-+ADw-+ACE-ENTITY'
            " +ACU- x SYSTEM +ACI-{url}+ACI-+AD4- +ACU-x+ADs-+AF0-+AD4-+ADw-r/+AD4-",
            "ascii",
        ),
    ],
    ids=["utf16-parameter-entity", "utf16le-external-subset", "utf7-parameter-entity"],
)
def test_doctype_in_another_encoding_loads_nothing(
    tmp_path: Path, template: str, encoding: str
) -> None:
    """The byte-level prolog check misses these; the parser must still open no file
    (``file:///dev/zero`` would hang it) and the tree must be refused as hostile."""
    dtd = tmp_path / "ext.dtd"
    dtd.write_text("<!ENTITY broken", encoding="ascii")  # a syntax error, if it were read
    payload = template.replace("{url}", dtd.as_uri()).encode(encoding)
    with pytest.raises(HostileXmlError):
        parse_xml(payload)
    path = tmp_path / "in.xml"
    path.write_bytes(payload)
    with pytest.raises(HostileXmlError):
        parse_xml_file(path)
    parser = hardened_pull_parser()
    parser.feed(payload)
    parser.close()

"""gateway.contractview: outlines name what the WSDL defines, and every sample fits its XSD."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from gateway.contracts import (
    Contract,
    SimpleType,
    async_channel,
    async_channel_client,
    load_contract,
    sync_channel,
)
from gateway.contractview import Part, describe_contract, outline, sample_message, sample_value
from gateway.envelope import find_body_element, find_header
from gateway.errors import ContractError
from gateway.xmlns import XSD
from gateway.xmlparse import parse_xml

PUBLISHED = {
    "sync": "SyncChannel/v10/Interfaces/SyncChannelHttp_Service.wsdl",
    "async": "AsyncChannel/v10/Interfaces/AsyncChannelHttp_Service.wsdl",
    "async-client": "AsyncChannel/v10/Interfaces/AsyncChannelClientHttp_Service.wsdl",
}
OURS: dict[str, Callable[[], Contract]] = {
    "sync": sync_channel,
    "async": async_channel,
    "async-client": async_channel_client,
}


@pytest.fixture(scope="session")
def reference_bundle(shared_dir: Path) -> Path:
    path = shared_dir / "contracts" / "nitec-v10"
    if not (path / "SyncChannel").is_dir():
        pytest.skip(f"published v10 bundle not found at {path}")
    return path


def message_of(sample: bytes, part: Part) -> etree._Element:
    envelope = parse_xml(sample).getroot()
    body_element = find_body_element(envelope)
    if part == "fault":
        detail = body_element.find("detail")
        assert detail is not None
        return detail[0]
    return body_element


def assert_samples_fit(contract: Contract) -> None:
    for operation in contract.operations:
        for part in ("input", "output", "fault"):
            for optional in (True, False):
                sample = sample_message(contract, operation, part=part, optional=optional)
                message = message_of(sample, part)
                errors = contract.validation_errors(message)
                assert not errors, (operation, part, optional, [str(e) for e in errors])


@pytest.mark.parametrize("channel", list(OURS))
def test_our_samples_fit_our_contracts(channel: str) -> None:
    assert_samples_fit(OURS[channel]())


@pytest.mark.parametrize("channel", list(PUBLISHED))
def test_samples_fit_the_published_edition(reference_bundle: Path, channel: str) -> None:
    contract = load_contract(reference_bundle / PUBLISHED[channel], root=reference_bundle)
    assert_samples_fit(contract)
    # and what we sample from ours fits theirs: the wire is the same
    for operation in contract.operations:
        message = message_of(sample_message(OURS[channel](), operation), "input")
        assert not contract.validation_errors(message)


def test_sync_sample_shape() -> None:
    sample = sample_message(sync_channel(), "SendMessage")
    envelope = parse_xml(sample).getroot()
    assert find_header(envelope) is not None
    message = find_body_element(envelope)
    assert message.tag == "{http://bip.bee.kz/SyncChannel/v10/Types}SendMessage"
    info = message.find("request/requestInfo")
    assert info is not None
    assert [etree.QName(c).localname for c in info if isinstance(c.tag, str)] == [
        "messageId",
        "correlationId",
        "serviceId",
        "messageDate",
        "routeId",
        "sender",
        "properties",
        "sessionId",
    ]
    assert info.findtext("messageDate") == "2024-01-15T10:30:00.000+06:00"
    assert info.findtext("sessionId") == "{aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa}"
    assert b"<!-- optional -->" in sample
    assert b"<!-- 0..unbounded times -->" in sample
    required = parse_xml(sample_message(sync_channel(), "SendMessage", optional=False)).getroot()
    info = find_body_element(required).find("request/requestInfo")
    assert info is not None
    assert [etree.QName(c).localname for c in info if isinstance(c.tag, str)] == [
        "messageId",
        "serviceId",
        "messageDate",
        "sender",
    ]


def test_sample_of_an_unknown_operation() -> None:
    with pytest.raises(ContractError, match="has no operation 'Nope' \\(it has: SendMessage\\)"):
        sample_message(sync_channel(), "Nope")


def test_outline_lists_ports_operations_and_signatures() -> None:
    lines = outline(async_channel())
    text = "\n".join(lines)
    assert lines[0].startswith("Contract IAsyncChannel  (")
    assert "Service AsyncChannelHttpService" in text
    assert "Port AsyncChannelHttpPort  (SOAP 1.1, binding ns" in text
    for operation in ("sendMessage", "getMessages", "getMessageStatus", "sendDeliveryNotification"):
        assert f"Operation {operation}  (soapAction '')" in text
    assert "input   ns" in text
    assert ":getMessages(request: ns" in text
    assert "fault getMessagesFault ns" in text
    legend = lines[lines.index("Prefixes:") + 1 : lines.index("Service AsyncChannelHttpService")]
    assert "  xs: http://www.w3.org/2001/XMLSchema" in legend
    assert any(line.endswith(": http://bip.bee.kz/AsyncChannel/v10/Types") for line in legend)


def test_outline_tree_shows_occurrence_and_facets() -> None:
    text = "\n".join(outline(sync_channel(), tree=True))
    assert "correlationId?: xs:string" in text
    assert "properties*: " in text
    assert "[restricts string, minLength 0, maxLength 30]" in text
    assert "subError?: " in text
    assert "(recursive: as above)" in text


def test_describe_contract_is_json_ready() -> None:
    import json

    described = describe_contract(sync_channel(), tree=True)
    text = json.dumps(described)
    port = described["ports"][0]
    assert port["service"] == "ISyncChannelHttpService"
    operation = port["operations"][0]
    assert operation["input"]["element"] == "{http://bip.bee.kz/SyncChannel/v10/Types}SendMessage"
    assert operation["faults"][0]["name"] == "sendMessageFault"
    assert "structure" in operation["input"]
    assert "pattern" in text


@pytest.mark.parametrize(
    ("simple", "expected"),
    [
        (SimpleType(name=None, base=f"{{{XSD}}}string"), "?"),
        (SimpleType(name=None, base=f"{{{XSD}}}string", min_length=3), "???"),
        (SimpleType(name=None, base=f"{{{XSD}}}string", max_length=0), ""),
        (SimpleType(name=None, base=f"{{{XSD}}}string", enumerations=("B", "A")), "B"),
        (SimpleType(name=None, base=f"{{{XSD}}}positiveInteger"), "1"),
        (SimpleType(name=None, base=f"{{{XSD}}}int", min_inclusive="5"), "5"),
        (SimpleType(name=None, base=f"{{{XSD}}}boolean"), "false"),
        (SimpleType(name=None, base=f"{{{XSD}}}string", patterns=(r"[0-9]{12}",)), "000000000000"),
        (SimpleType(name=None, base=f"{{{XSD}}}string", patterns=(r"KZ\d{2}(AB|CD)",)), "KZ00AB"),
        (SimpleType(name=None, base=f"{{{XSD}}}string", patterns=(r"[^a]x?",)), "0x"),
        (SimpleType(name=None, base=f"{{{XSD}}}string", patterns=(r"[a-z-[aeiou]]",)), "?"),
    ],
)
def test_sample_values(simple: SimpleType, expected: str) -> None:
    assert sample_value(simple) == expected

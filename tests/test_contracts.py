"""gateway.contracts: our WSDL/XSD load offline, agree with the published bundle, and hostile
contracts are refused with the file (and line) named."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from gateway.contracts import (
    CONTRACT_STAGES,
    DEFAULT_CONTRACTS_DIR,
    XSD_STAGES,
    Contract,
    async_channel,
    async_channel_client,
    check_contract,
    clear_contract_cache,
    load_contract,
    sync_channel,
)
from gateway.envelope import (
    TypedPayload,
    build_async_request,
    build_sync_request,
    find_body,
    find_body_element,
)
from gateway.errors import ContractError, EnvelopeError
from gateway.xmlns import SYNC_TYPES, XSD, XSI
from gateway.xmlparse import parse_xml

DATA = Path(__file__).parent / "data"
HOSTILE = DATA / "contracts" / "hostile"
ENVELOPES = DATA / "envelopes"
NOW = datetime(2023, 2, 13, 5, 17, 26, tzinfo=UTC)

CHANNELS: dict[str, tuple[Callable[[], Contract], str]] = {
    "sync": (sync_channel, "SyncChannel/v10/Interfaces/SyncChannelHttp_Service.wsdl"),
    "async": (async_channel, "AsyncChannel/v10/Interfaces/AsyncChannelHttp_Service.wsdl"),
    "async-client": (
        async_channel_client,
        "AsyncChannel/v10/Interfaces/AsyncChannelClientHttp_Service.wsdl",
    ),
}


@pytest.fixture(scope="session")
def reference_bundle(shared_dir: Path) -> Path:
    path = shared_dir / "contracts" / "nitec-v10"
    if not (path / "SyncChannel").is_dir():
        pytest.skip(f"published v10 bundle not found at {path}")
    return path


def reference(bundle: Path, channel: str) -> Contract:
    """The published bundle, loaded through the same offline loader as ours."""
    return load_contract(bundle / CHANNELS[channel][1], root=bundle)


def parse_file(path: Path) -> etree._ElementTree:
    tree = parse_xml(path.read_bytes(), source=str(path))
    tree.docinfo.URL = str(path)  # lets libxml2 resolve the schema's relative imports
    return tree


# --------------------------------------------------------------------------- our contracts


@pytest.mark.parametrize(
    ("loader", "name", "service", "port", "operations"),
    [
        (
            sync_channel,
            "ISyncChannel",
            "ISyncChannelHttpService",
            "SyncChannelHttpPort",
            {"SendMessage"},
        ),
        (
            async_channel,
            "IAsyncChannel",
            "AsyncChannelHttpService",
            "AsyncChannelHttpPort",
            {"sendMessage", "getMessages", "getMessageStatus", "sendDeliveryNotification"},
        ),
        (
            async_channel_client,
            "IAsyncChannelClient",
            "AsyncChannelClientHttpService",
            "AsyncChannelClientHttpPort",
            {"sendMessage", "changeMassageStatusNotification"},
        ),
    ],
)
def test_our_contracts_load_offline(
    loader: Callable[[], Contract], name: str, service: str, port: str, operations: set[str]
) -> None:
    contract = loader()
    assert (contract.name, contract.service_name, contract.port_name) == (name, service, port)
    assert set(contract.operations) == operations
    assert contract.opaque_elements == {"data"}
    for path in contract.files:
        assert path.is_relative_to(DEFAULT_CONTRACTS_DIR)
        assert path.parent.name in {"wsdl", "xsd"}
    for operation in contract.operations:
        assert contract.soap_action(operation) == ""
        local = etree.QName(contract.input_element(operation)).localname
        assert local == operation
        assert contract.output_element(operation).endswith(f"}}{operation}Response")
        namespace = etree.QName(contract.input_element(operation)).namespace
        assert contract.fault_elements(operation) == (
            f"{{{namespace}}}{operation}Fault1_{operation}Fault",
        )


def test_channel_namespaces_are_the_published_ones() -> None:
    sync = sync_channel()
    assert sync.input_element("SendMessage") == (
        "{http://bip.bee.kz/SyncChannel/v10/Types}SendMessage"
    )
    assert async_channel().input_element("getMessages") == (
        "{http://bip.bee.kz/AsyncChannel/v10/Types}getMessages"
    )
    client = async_channel_client()
    assert client.input_element("sendMessage") == (
        "{http://bip.bee.kz/AsyncChannel/v10/Types}sendMessage"
    )
    assert client.input_element("changeMassageStatusNotification") == (
        "{http://bip.bee.kz/AsyncChannel/v10/Types/Client}changeMassageStatusNotification"
    )


@pytest.mark.parametrize(
    "entry", ["SyncChannel_v10.xsd", "AsyncChannel_v10.xsd", "AsyncChannelClient_v10.xsd"]
)
def test_entry_xsd_compiles_with_plain_lxml(entry: str) -> None:
    """The point of one file per namespace: libxml2 needs no help with our bundle."""
    schema = etree.XMLSchema(parse_file(DEFAULT_CONTRACTS_DIR / "xsd" / entry))
    assert not schema.error_log


def test_no_schema_qualifies_local_elements() -> None:
    for path in sorted((DEFAULT_CONTRACTS_DIR / "xsd").glob("*.xsd")):
        root = parse_file(path).getroot()
        assert root.get("elementFormDefault") in (None, "unqualified"), path.name
        assert root.get("attributeFormDefault") in (None, "unqualified"), path.name


def test_every_namespace_lives_in_one_file() -> None:
    namespaces = [
        parse_file(path).getroot().get("targetNamespace")
        for path in (DEFAULT_CONTRACTS_DIR / "xsd").glob("*.xsd")
    ]
    assert len(namespaces) == len(set(namespaces))


def test_soap_addresses_are_localhost_placeholders() -> None:
    soap = "http://schemas.xmlsoap.org/wsdl/soap/"
    addresses = [
        address.get("location")
        for path in (DEFAULT_CONTRACTS_DIR / "wsdl").glob("*.wsdl")
        for address in parse_file(path).iter(f"{{{soap}}}address")
    ]
    assert len(addresses) == 3
    assert all(str(address).startswith("http://localhost") for address in addresses)


# --------------------------------------------------------------------------- hostile contracts

HOSTILE_CASES = [
    # (entry WSDL, file the error must name, fragment of the message, line)
    (
        "http_wsdl_import.wsdl",
        "http_wsdl_import.wsdl",
        "http://example.invalid/ISyncChannel.wsdl",
        3,
    ),
    ("http_xsd_import.wsdl", "http_xsd_import.wsdl", "http://example.invalid/common_v10.xsd", 7),
    ("https_xsd_import.wsdl", "https_xsd_import.wsdl", "https://example.invalid/common_v10.xsd", 7),
    ("nested_http.wsdl", "nested_http.xsd", "https://example.invalid/remote.xsd", 3),
    ("missing_import.wsdl", "missing_import.wsdl", "xsd/does-not-exist.xsd", 7),
    ("outside_root.wsdl", "outside_root.wsdl", "outside the contract directory", 7),
    ("file_url_import.wsdl", "file_url_import.wsdl", "file:///etc/passwd", 7),
    ("doctype.wsdl", "doctype.wsdl", "DOCTYPE", 1),
    ("xxe.wsdl", "xxe.wsdl", "DOCTYPE", 1),
    ("entity_import.wsdl", "entity.xsd", "DOCTYPE", 1),
    ("billion_laughs_import.wsdl", "billion_laughs.xsd", "DOCTYPE", 1),
    ("not_a_contract.wsdl", "not_a_contract.wsdl", "not a WSDL or XSD", 1),
    ("no_soap11_port.wsdl", "no_soap11_port.wsdl", "SOAP 1.1", None),
]


@pytest.mark.parametrize(
    ("entry", "named_file", "fragment", "line"), HOSTILE_CASES, ids=[c[0] for c in HOSTILE_CASES]
)
def test_hostile_contract_is_refused(
    entry: str, named_file: str, fragment: str, line: int | None
) -> None:
    with pytest.raises(ContractError) as caught:
        load_contract(HOSTILE / entry, root=HOSTILE)
    error = caught.value
    assert error.file is not None
    assert Path(error.file).name == named_file
    assert fragment in str(error)
    assert error.line == line


def test_every_hostile_file_is_covered() -> None:
    entries = {path.name for path in HOSTILE.glob("*.wsdl")}
    assert entries == {case[0] for case in HOSTILE_CASES}


@dataclass(frozen=True, slots=True, kw_only=True)
class Broken:
    """One edit that breaks a copy of our contracts, and where the error must point."""

    what: str
    edit: str
    text: str
    replacement: str
    named_file: str
    at_edit: bool
    """The error's line is the edited line (else the error has no line)."""
    fragment: str


BROKEN_CONTRACTS = [
    Broken(
        what="missing import",
        edit="xsd/SyncChannel_v10.xsd",
        text='schemaLocation="common_v10.xsd"',
        replacement='schemaLocation="common_v11.xsd"',
        named_file="SyncChannel_v10.xsd",
        at_edit=True,
        fragment="common_v11.xsd, which does not exist",
    ),
    Broken(
        what="unresolved type",
        edit="xsd/SyncChannel_v10_types.xsd",
        text='type="cmn:SenderInfo"',
        replacement='type="cmn:Nobody"',
        named_file="SyncChannel_v10_types.xsd",
        at_edit=True,
        fragment="Nobody",
    ),
    Broken(
        what="malformed XSD",
        edit="xsd/common_v10.xsd",
        text="</xs:schema>",
        replacement="</xs:schem>",
        named_file="common_v10.xsd",
        at_edit=True,
        fragment="not well-formed",
    ),
    Broken(
        what="unknown portType",
        edit="wsdl/SyncChannel_v10.wsdl",
        text='type="intf:ISyncChannel"',
        replacement='type="intf:INothing"',
        named_file="SyncChannel_v10.wsdl",
        at_edit=False,
        fragment="INothing",
    ),
    Broken(
        what="unknown element",
        edit="wsdl/ISyncChannel_v10.wsdl",
        text='element="types:SendMessage"',
        replacement='element="types:SendNothing"',
        named_file="SyncChannel_v10.wsdl",
        at_edit=False,
        fragment="SendMessage that do not resolve",
    ),
    Broken(
        what="unknown message",
        edit="wsdl/ISyncChannel_v10.wsdl",
        text='message="intf:SendMessageRequestMsg"',
        replacement='message="intf:NoMsg"',
        named_file="SyncChannel_v10.wsdl",
        at_edit=False,
        fragment="SendMessage that do not resolve",
    ),
    Broken(
        what="SOAP 1.2 only",
        edit="wsdl/SyncChannel_v10.wsdl",
        text='xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"',
        replacement='xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap12/"',
        named_file="SyncChannel_v10.wsdl",
        at_edit=False,
        fragment="SOAP 1.1",
    ),
]


@pytest.mark.filterwarnings("ignore::UserWarning")  # zeep warns before we refuse
@pytest.mark.parametrize("case", BROKEN_CONTRACTS, ids=[case.what for case in BROKEN_CONTRACTS])
def test_broken_contract_is_refused_with_its_location(tmp_path: Path, case: Broken) -> None:
    contracts = copy_contracts(tmp_path)
    path = contracts / case.edit
    original = path.read_text(encoding="utf-8")
    assert case.text in original
    edited_line = 1 + original[: original.index(case.text)].count("\n")
    path.write_text(original.replace(case.text, case.replacement, 1), encoding="utf-8")
    with pytest.raises(ContractError) as caught:
        sync_channel(contracts)
    error = caught.value
    assert error.file is not None
    assert Path(error.file).name == case.named_file
    assert error.line == (edited_line if case.at_edit else None)
    assert case.fragment in str(error)


def test_default_root_is_the_wsdl_grandparent(reference_bundle: Path) -> None:
    """The published bundle needs root=: by default its ../../../common imports are refused."""
    with pytest.raises(ContractError, match="outside the contract directory"):
        load_contract(reference_bundle / CHANNELS["sync"][1])


def test_missing_contracts_dir_is_named(tmp_path: Path) -> None:
    with pytest.raises(ContractError) as caught:
        sync_channel(tmp_path)
    assert "SyncChannel_v10.wsdl" in str(caught.value)
    assert "does not exist" in str(caught.value)


def test_zeep_client_cannot_reach_the_network() -> None:
    client: Any = sync_channel().zeep_client
    with pytest.raises(ContractError, match=re.escape("https://example.invalid/x.xsd")):
        client.transport.load("https://example.invalid/x.xsd")
    with pytest.raises(ContractError, match="does not send"):
        client.transport.post_xml("https://example.invalid/bip-sync/", None, {})


def test_unknown_operation_is_a_contract_error() -> None:
    with pytest.raises(ContractError, match="no operation 'sendMessage'"):
        sync_channel().input_element("sendMessage")


# --------------------------------------------------------------------------- cache


def copy_contracts(target: Path) -> Path:
    shutil.copytree(DEFAULT_CONTRACTS_DIR / "wsdl", target / "wsdl")
    shutil.copytree(DEFAULT_CONTRACTS_DIR / "xsd", target / "xsd")
    return target


def test_second_load_is_cached() -> None:
    first = sync_channel()
    assert sync_channel() is first
    assert load_contract(DEFAULT_CONTRACTS_DIR / "wsdl" / "SyncChannel_v10.wsdl") is first
    assert first.schema is sync_channel().schema


def test_changed_import_reloads(tmp_path: Path) -> None:
    contracts = copy_contracts(tmp_path)
    first = sync_channel(contracts)
    assert sync_channel(contracts) is first

    common = contracts / "xsd" / "common_v10.xsd"
    stat = common.stat()
    os.utime(common, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = sync_channel(contracts)
    assert second is not first
    assert sync_channel(contracts) is second


def test_clearing_the_cache_reloads() -> None:
    first = async_channel()
    clear_contract_cache()
    assert async_channel() is not first


def test_copies_in_different_places_are_different_contracts(tmp_path: Path) -> None:
    copied = sync_channel(copy_contracts(tmp_path))
    assert copied is not sync_channel()
    assert copied.root == tmp_path.resolve()


# --------------------------------------------------------------------------- validate


def test_validate_reports_path_and_line_of_the_first_error() -> None:
    path = ENVELOPES / "bad_date_request.xml"
    message = find_body_element(parse_xml(path.read_bytes(), source=str(path)).getroot())
    expected_line = 1 + path.read_text().splitlines().index(
        "          <messageDate>2023-02-13T11:17:26.000+0600</messageDate>"
    )
    with pytest.raises(EnvelopeError) as caught:
        sync_channel().validate(message, message_id="m-42")
    error = caught.value
    assert error.field == "SendMessage/request/requestInfo/messageDate"
    assert error.line == expected_line
    assert error.message_id == "m-42"
    assert "+0600" in error.message


def test_validate_rejects_qualified_locals() -> None:
    path = ENVELOPES / "qualified_locals_request.xml"
    message = find_body_element(parse_xml(path.read_bytes(), source=str(path)).getroot())
    with pytest.raises(EnvelopeError, match="request"):
        sync_channel().validate(message)


def test_validate_wants_the_body_element_not_the_envelope() -> None:
    path = ENVELOPES / "sync_request_typed.xml"
    envelope = parse_xml(path.read_bytes(), source=str(path)).getroot()
    with pytest.raises(EnvelopeError, match="find_body_element") as caught:
        sync_channel().validate(envelope)
    assert caught.value.field == "Envelope"


def test_validate_leaves_the_element_untouched() -> None:
    path = ENVELOPES / "sync_request_typed.xml"
    envelope = parse_xml(path.read_bytes(), source=str(path)).getroot()
    before = etree.tostring(envelope)
    sync_channel().validate(find_body_element(envelope))
    assert etree.tostring(envelope) == before


def test_validate_skips_the_payload_but_not_the_envelope_around_it() -> None:
    """An xsi:type from a service namespace is fine; a missing required field is not."""
    path = ENVELOPES / "sync_request_typed.xml"
    envelope = parse_xml(path.read_bytes(), source=str(path)).getroot()
    message = find_body_element(envelope)
    sync_channel().validate(message)
    service_id = message.find("request/requestInfo/serviceId")
    assert service_id is not None
    service_id.getparent().remove(service_id)  # type: ignore[union-attr]
    with pytest.raises(EnvelopeError) as caught:
        sync_channel().validate(message)
    assert caught.value.field == "SendMessage/request/requestInfo/messageDate"


def test_decode_reads_a_fault_detail() -> None:
    path = ENVELOPES / "sync_fault.xml"
    body = find_body(parse_xml(path.read_bytes(), source=str(path)).getroot())
    detail = body.find("*/detail/*")
    assert detail is not None
    contract = sync_channel()
    assert detail.tag in contract.fault_elements("SendMessage")
    contract.validate(detail)
    decoded = contract.decode(detail)
    assert decoded["errorCode"] == "SE0001"
    assert decoded["subError"]["errorCode"] == "SE0002"  # type: ignore[index]


# --------------------------------------------------------------------------- reference bundle


def schema_shape(files: Iterable[Path]) -> dict[tuple[str, str | None, str | None], object]:
    """Every top-level XSD component by (kind, namespace, name), minus documentation."""
    shapes: dict[tuple[str, str | None, str | None], object] = {}
    for path in files:
        if path.suffix != ".xsd":
            continue
        root = parse_file(path).getroot()
        for node in root:
            kind = local(node)
            if kind in {"element", "complexType", "simpleType"}:
                shapes[(kind, root.get("targetNamespace"), node.get("name"))] = component(node)
    return shapes


def local(node: etree._Element) -> str:
    return etree.QName(node).localname if isinstance(node.tag, str) else ""


def resolve(node: etree._Element, value: str) -> str:
    prefix, _, name = value.rpartition(":")
    return f"{{{node.nsmap.get(prefix or None)}}}{name}"


def component(node: etree._Element) -> object:
    kind = local(node)
    if kind == "element":
        if node.get("type"):
            typed: object = resolve(node, str(node.get("type")))
        else:
            inline = [child for child in node if local(child) in {"complexType", "simpleType"}]
            typed = component(inline[0]) if inline else f"{{{XSD}}}anyType"
        return (
            node.get("name"),
            typed,
            node.get("minOccurs", "1"),
            node.get("maxOccurs", "1"),
            node.get("nillable", "false"),
        )
    if kind == "complexType":
        sequence = node.find(f"{{{XSD}}}sequence")
        assert sequence is not None
        return ("sequence", tuple(component(c) for c in sequence if local(c) == "element"))
    if kind == "simpleType":
        restriction = node.find(f"{{{XSD}}}restriction")
        assert restriction is not None
        facets = sorted(
            (local(facet), str(facet.get("value")))
            for facet in restriction
            if local(facet) not in {"", "annotation"}
        )
        return ("restriction", resolve(restriction, str(restriction.get("base"))), tuple(facets))
    raise AssertionError(f"unexpected component {kind}")


@pytest.mark.parametrize("channel", list(CHANNELS))
def test_same_interface_as_reference(reference_bundle: Path, channel: str) -> None:
    ours = CHANNELS[channel][0]()
    theirs = reference(reference_bundle, channel)
    assert (ours.name, ours.service_name, ours.port_name) == (
        theirs.name,
        theirs.service_name,
        theirs.port_name,
    )
    assert sorted(ours.operations) == sorted(theirs.operations)
    for operation in ours.operations:
        assert ours.input_element(operation) == theirs.input_element(operation)
        assert ours.output_element(operation) == theirs.output_element(operation)
        assert ours.fault_elements(operation) == theirs.fault_elements(operation)
        assert ours.soap_action(operation) == theirs.soap_action(operation)
    ours_client: Any = ours.zeep_client
    theirs_client: Any = theirs.zeep_client
    assert [s.name for s in ours_client.wsdl.services.values()] == [
        s.name for s in theirs_client.wsdl.services.values()
    ]
    ours_binding = ours_client.service._binding
    theirs_binding = theirs_client.service._binding
    assert ours_binding.name == theirs_binding.name  # includes the binding namespace
    assert ours_binding.port_name == theirs_binding.port_name


def test_same_types_as_reference(reference_bundle: Path) -> None:
    """Names, type QNames, order, occurrence, nillable, facets, enumerations: all equal."""
    ours: dict[tuple[str, str | None, str | None], object] = {}
    theirs: dict[tuple[str, str | None, str | None], object] = {}
    for channel, (loader, _) in CHANNELS.items():
        ours.update(schema_shape(loader().files))
        theirs.update(schema_shape(reference(reference_bundle, channel).files))
    assert sorted(ours, key=str) == sorted(theirs, key=str)
    for key, shape in theirs.items():
        assert ours[key] == shape, key


def test_reference_schema_compiles_despite_its_layout(reference_bundle: Path) -> None:
    """The modular bundle trips libxml2 from one entry file; our loader still compiles it."""
    contract = reference(reference_bundle, "sync")
    assert len(contract.files) > 5
    assert f"{{{XSD}}}anyType" not in contract.elements
    assert "{http://bip.bee.kz/SyncChannel/v10/Types}SendMessage" in contract.elements


def test_sync_request_we_build_fits_the_reference(reference_bundle: Path) -> None:
    theirs = reference(reference_bundle, "sync")
    payload = parse_xml(
        b'<p:Request xmlns:p="http://example.kz/gbdfl"><p:iin>870101300123</p:iin></p:Request>'
    ).getroot()
    for data in (
        "<x>plain</x>",
        payload,
        TypedPayload(element=payload, xsi_type=etree.QName("http://example.kz/gbdfl", "Request")),
    ):
        envelope = build_sync_request(
            sync_channel(),
            service_id="GBDFL_UniversalServiceSync",
            sender_id="sender",
            password="password",
            data=data,
            message_id="m-1",
            correlation_id="c-1",
            route_id="r-1",
            session_id="6F9619FF-8B86-D011-B42D-00C04FC964FF",
            properties=[("key", "value"), ("ключ", "значение")],
            now=NOW,
        )
        message = find_body_element(envelope)
        theirs.validate(message)
        decoded: Any = theirs.decode(message)
        info = decoded["request"]["requestInfo"]
        assert info["messageId"] == "m-1"
        assert info["sessionId"] == "{6F9619FF-8B86-D011-B42D-00C04FC964FF}"
        assert info["messageDate"] == NOW
        assert [p["key"] for p in info["properties"]] == ["key", "ключ"]


@pytest.mark.parametrize("channel", ["async", "async-client"])
def test_async_request_we_build_fits_the_reference(reference_bundle: Path, channel: str) -> None:
    ours = CHANNELS[channel][0]()
    envelope = build_async_request(
        ours, service_id="S", sender_id="sender", password=None, data="<x/>", now=NOW
    )
    message = find_body_element(envelope)
    theirs = reference(reference_bundle, channel)
    theirs.validate(message)
    decoded: Any = theirs.decode(message)
    assert decoded["request"]["messageInfo"]["messageType"] == "REQUEST"


@pytest.mark.parametrize(
    "sample", ["sync_request_typed.xml", "sync_response.xml", "sync_fault.xml"]
)
def test_samples_read_the_same_with_both_bundles(reference_bundle: Path, sample: str) -> None:
    path = ENVELOPES / sample
    body = find_body(parse_xml(path.read_bytes(), source=str(path)).getroot())
    message = body.find("*/detail/*") if sample == "sync_fault.xml" else body[0]
    assert message is not None
    ours, theirs = sync_channel(), reference(reference_bundle, "sync")
    ours.validate(message)
    theirs.validate(message)
    assert repr(ours.decode(message)) == repr(theirs.decode(message))


@pytest.mark.parametrize(
    ("sample", "field"),
    [
        ("bad_date_request.xml", "SendMessage/request/requestInfo/messageDate"),
        ("qualified_locals_request.xml", "SendMessage/request"),
    ],
)
def test_bad_samples_fail_with_both_bundles(
    reference_bundle: Path, sample: str, field: str
) -> None:
    path = ENVELOPES / sample
    message = find_body_element(parse_xml(path.read_bytes(), source=str(path)).getroot())
    for contract in (sync_channel(), reference(reference_bundle, "sync")):
        with pytest.raises(EnvelopeError) as caught:
            contract.validate(message)
        assert caught.value.field == field


# --------------------------------------------------------------------------- check_contract


def test_check_contract_of_our_channels() -> None:
    for entry in ("SyncChannel_v10.wsdl", "AsyncChannel_v10.wsdl", "AsyncChannelClient_v10.wsdl"):
        checked = check_contract(DEFAULT_CONTRACTS_DIR / "wsdl" / entry)
        assert checked.ok, checked.problems
        assert checked.ran == CONTRACT_STAGES
        assert checked.contract is not None
        assert checked.schema is not None
        assert checked.files[0].name == entry


def test_check_contract_of_an_xsd() -> None:
    checked = check_contract(DEFAULT_CONTRACTS_DIR / "xsd" / "SyncChannel_v10.xsd")
    assert (checked.kind, checked.ran, checked.ok) == ("xsd", XSD_STAGES, True)
    assert checked.contract is None
    assert checked.schema is not None


def test_wrong_import_namespace_is_refused_by_the_loader_too(tmp_path: Path) -> None:
    """libxml2 alone reports this far from the cause; the walk names the import's line."""
    contracts = copy_contracts(tmp_path)
    path = contracts / "xsd" / "SyncChannel_v10.xsd"
    text = path.read_text(encoding="utf-8")
    old = 'namespace="http://bip.bee.kz/common/v10/types"'
    line = 1 + text[: text.index(old)].count("\n")
    path.write_text(text.replace(old, 'namespace="urn:wrong"', 1), encoding="utf-8")
    with pytest.raises(ContractError, match="but that file's targetNamespace is") as caught:
        sync_channel(contracts)
    assert (Path(str(caught.value.file)).name, caught.value.line) == ("SyncChannel_v10.xsd", line)


def test_validation_errors_lists_every_error() -> None:
    path = ENVELOPES / "sync_request_typed.xml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("2023-02-13T11:17:26.000+06:00", "yesterday")
    long_key = "k" * 31
    text = text.replace(
        "</sender>", f"</sender><properties><key>{long_key}</key><value>v</value></properties>"
    )
    message = find_body_element(parse_xml(text.encode()).getroot())
    errors = sync_channel().validation_errors(message)
    assert [(e.field, e.line) for e in errors] == [
        ("SendMessage/request/requestInfo/messageDate", 10),
        ("SendMessage/request/requestInfo/properties/key", 14),
    ]
    with pytest.raises(EnvelopeError) as caught:
        sync_channel().validate(message)
    assert str(caught.value) == str(errors[0])


def test_validation_never_copies_the_payload() -> None:
    """The skeleton copy: data stays empty in the copy, the caller's tree is untouched."""
    path = ENVELOPES / "sync_request_typed.xml"
    envelope = parse_xml(path.read_bytes(), source=str(path)).getroot()
    message = find_body_element(envelope)
    before = etree.tostring(envelope)
    contract = sync_channel()
    candidate = contract._without_payloads(message)
    data = candidate.find("request/requestData/data")
    assert data is not None
    assert len(data) == 0
    assert data.get(f"{{{XSI}}}type") is None
    assert candidate.find("request/requestInfo/messageDate").sourceline == 10  # type: ignore[union-attr]
    assert etree.tostring(envelope) == before


def test_element_shape_follows_the_contract() -> None:
    contract = sync_channel()
    shape = contract.element_shape(contract.input_element("SendMessage"))
    assert (shape.name, shape.namespace) == ("SendMessage", SYNC_TYPES)
    (request,) = shape.children
    assert (request.name, request.namespace) == ("request", None)  # unqualified local
    info = request.children[0]
    session = info.children[-1]
    assert (session.name, session.min_occurs, session.max_occurs) == ("sessionId", 0, 1)
    assert session.simple is not None
    assert session.simple.base == f"{{{XSD}}}string"
    assert session.simple.patterns[0].startswith(r"\{[a-fA-F0-9]{8}")
    properties = next(child for child in info.children if child.name == "properties")
    assert properties.max_occurs is None
    key = properties.children[0].simple
    assert key is not None
    assert (key.min_length, key.max_length) == (0, 30)
    data = request.children[1].children[0]
    assert data.any_type
    fault = contract.element_shape(contract.fault_elements("SendMessage")[0])
    sub_error = next(child for child in fault.children if child.name == "subError")
    assert sub_error.recursive
    assert not sub_error.children
    with pytest.raises(ContractError, match="not a global element"):
        contract.element_shape("{urn:x}Nothing")


def test_ports_describe_the_binding() -> None:
    (port,) = async_channel_client().ports()
    assert port.service == "AsyncChannelClientHttpService"
    assert port.port == "AsyncChannelClientHttpPort"
    assert port.binding.endswith("}AsyncChannelClientHttpBinding")
    assert port.address is not None
    assert port.address.startswith("http://localhost")
    names = {operation.name for operation in port.operations}
    assert names == {"sendMessage", "changeMassageStatusNotification"}
    for operation in port.operations:
        assert operation.soap_action == ""
        assert operation.style == "document"
        assert len(operation.faults) == 1

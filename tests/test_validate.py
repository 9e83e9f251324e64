"""gateway.validate: contracts, payloads and envelopes checked offline, every problem with its
file and line, for both editions of the v10 contracts."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from lxml import etree

from gateway.contracts import DEFAULT_CONTRACTS_DIR, sync_channel
from gateway.contractview import sample_message
from gateway.envelope import TypedPayload, build_sync_request, serialize
from gateway.errors import ConfigError, InputError
from gateway.identity import load_identity_from_path
from gateway.report import render_json, render_junit, render_text
from gateway.testpki import TestPki, make_ca
from gateway.validate import (
    CheckResult,
    Finding,
    ServiceSchema,
    Severity,
    Status,
    ValidationReport,
    ValidationRequest,
    check_envelope_file,
    contract_entries,
    expand_inputs,
    load_channels,
    load_service_registry,
    run_validation,
)
from gateway.wssec import KeyRef, VerifyPolicy, make_signer, sign_envelope
from gateway.xmlns import SOAP11, WSSE, qname

DATA = Path(__file__).parent / "data"
VALIDATE = DATA / "validate"
HOSTILE_CONTRACTS = DATA / "contracts" / "hostile"
ENVELOPES = DATA / "envelopes"
PERSONS_NS = "urn:shep-gateway:test:persons"


def checks(report: ValidationReport, target: Path | str) -> dict[str, CheckResult]:
    """The results of one input, by check name."""
    return {r.check: r for r in report.results if r.target == str(target)}


def statuses(report: ValidationReport, target: Path | str) -> dict[str, Status]:
    return {name: result.status for name, result in checks(report, target).items()}


def copy_contracts(target: Path) -> Path:
    shutil.copytree(DEFAULT_CONTRACTS_DIR / "wsdl", target / "wsdl")
    shutil.copytree(DEFAULT_CONTRACTS_DIR / "xsd", target / "xsd")
    return target


def edit(path: Path, old: str, new: str) -> int:
    """Replace the first ``old`` in ``path``; return the line it was on."""
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return 1 + text[: text.index(old)].count("\n")


@pytest.fixture(scope="module")
def persons() -> ServiceSchema:
    return ServiceSchema(
        service_id="TEST_PERSONS",
        xsd=VALIDATE / "persons" / "persons.xsd",
        root="p:Persons",
        contract_root=VALIDATE,
    )


@pytest.fixture(scope="session")
def reference_bundle(shared_dir: Path) -> Path:
    path = shared_dir / "contracts" / "nitec-v10"
    if not (path / "SyncChannel").is_dir():
        pytest.skip(f"published v10 bundle not found at {path}")
    return path


# --------------------------------------------------------------------------- contracts


def test_our_contracts_validate() -> None:
    wsdl = DEFAULT_CONTRACTS_DIR / "wsdl"
    report = run_validation(
        ValidationRequest(contracts=(wsdl,), contract_root=DEFAULT_CONTRACTS_DIR)
    )
    assert report.ok, report
    # The interface WSDLs are imported by the service WSDLs: checked once, under them.
    assert {Path(t).name for t in report.targets} == {
        "SyncChannel_v10.wsdl",
        "AsyncChannel_v10.wsdl",
        "AsyncChannelClient_v10.wsdl",
    }
    for target in report.targets:
        assert statuses(report, target) == dict.fromkeys(
            ("parse", "imports", "schema", "messages", "zeep"), Status.PASSED
        )
    sync = checks(report, wsdl / "SyncChannel_v10.wsdl")["zeep"]
    assert sync.detail == "ISyncChannel: ISyncChannelHttpService/SyncChannelHttpPort: SendMessage"


def test_published_bundle_validates(reference_bundle: Path) -> None:
    report = run_validation(ValidationRequest(contracts=(reference_bundle,)))
    assert report.ok, report
    names = {Path(t).name for t in report.targets}
    assert names == {
        "SyncChannelHttp_Service.wsdl",
        "AsyncChannelHttp_Service.wsdl",
        "AsyncChannelClientHttp_Service.wsdl",
    }
    assert report.count(Status.PASSED) == 15


def test_interface_wsdl_alone_is_checked_as_abstract(reference_bundle: Path) -> None:
    path = reference_bundle / "SyncChannel" / "v10" / "Interfaces" / "ISyncChannel.wsdl"
    report = run_validation(ValidationRequest(contracts=(path,), contract_root=reference_bundle))
    assert report.ok
    assert "abstract WSDL" in str(checks(report, path)["zeep"].detail)


RENAMED_TYPE_NAMESPACES = {
    # the other published edition's type namespaces (protocol.md §1); the wire is the same
    "http://bip.bee.kz/common/v10/types": "http://bip.bee.kz/common/v10/Types",
    "http://bip.bee.kz/SyncChannel/v10/types/Request": (
        "http://bip.bee.kz/SyncChannel/v10/Types/Request"
    ),
    "http://bip.bee.kz/SyncChannel/v10/types/Response": (
        "http://bip.bee.kz/SyncChannel/v10/Types/Response"
    ),
    "http://bip.bee.kz/AsyncChannel/v10/types": "http://bip.bee.kz/AsyncChannel/v10/ITypes",
}


def test_edition_with_other_type_namespaces_validates(tmp_path: Path) -> None:
    """No type namespace is hard-coded: contracts, samples and envelopes all still check."""
    contracts = copy_contracts(tmp_path)
    for path in [*contracts.glob("*/*.wsdl"), *contracts.glob("*/*.xsd")]:
        text = path.read_text(encoding="utf-8")
        for old, new in RENAMED_TYPE_NAMESPACES.items():
            text = text.replace(f'"{old}"', f'"{new}"')
        path.write_text(text, encoding="utf-8")
    report = run_validation(
        ValidationRequest(contracts=(contracts / "wsdl",), contract_root=contracts)
    )
    assert report.ok, report

    channels = load_channels((contracts / "wsdl",), root=contracts)
    sync = next(contract for contract in channels if contract.name == "ISyncChannel")
    assert "{http://bip.bee.kz/common/v10/Types}guid" in str(
        sync.element_shape(sync.input_element("SendMessage"))
    )
    for index, contract in enumerate(channels):
        for operation in contract.operations:
            sample = tmp_path / f"sample-{index}-{operation}.xml"
            sample.write_bytes(sample_message(contract, operation))
            results = check_envelope_file(sample, channels=channels)
            assert not [r for r in results if r.status is Status.FAILED], results
    typed = check_envelope_file(ENVELOPES / "sync_request_typed.xml", channels=channels)
    assert all(r.status is not Status.FAILED for r in typed)


def run_contract(entry: Path, root: Path) -> ValidationReport:
    return run_validation(ValidationRequest(contracts=(entry,), contract_root=root))


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    ("what", "file", "old", "new", "stage", "fragment"),
    [
        (
            "missing import",
            "xsd/SyncChannel_v10.xsd",
            'schemaLocation="common_v10.xsd"',
            'schemaLocation="common_v11.xsd"',
            "imports",
            "common_v11.xsd, which does not exist",
        ),
        (
            "import of the wrong namespace",
            "xsd/SyncChannel_v10.xsd",
            'namespace="http://bip.bee.kz/common/v10/types"',
            'namespace="http://bip.bee.kz/common/v10/Types"',
            "imports",
            "imports namespace http://bip.bee.kz/common/v10/Types from common_v10.xsd, but "
            "that file's targetNamespace is http://bip.bee.kz/common/v10/types",
        ),
        (
            "unresolved type",
            "xsd/SyncChannel_v10_types.xsd",
            'type="cmn:SenderInfo"',
            'type="cmn:Nobody"',
            "schema",
            "{http://bip.bee.kz/common/v10/types}Nobody' does not resolve",
        ),
        (
            "message part in the wrong namespace",
            "wsdl/ISyncChannel_v10.wsdl",
            'xmlns:types="http://bip.bee.kz/SyncChannel/v10/Types"',
            'xmlns:types="http://bip.bee.kz/SyncChannel/v10/types"',
            "messages",
            "did you mean {http://bip.bee.kz/SyncChannel/v10/Types}SendMessage?",
        ),
        (
            "undeclared prefix",
            "wsdl/ISyncChannel_v10.wsdl",
            'message="intf:SendMessageRequestMsg"',
            'message="nope:SendMessageRequestMsg"',
            "messages",
            "uses the undeclared prefix 'nope'",
        ),
        (
            "unknown binding operation",
            "wsdl/SyncChannel_v10.wsdl",
            '<wsdl:operation name="SendMessage">',
            '<wsdl:operation name="SendMessages">',
            "messages",
            "binding operation SendMessages is not an operation of portType ISyncChannel",
        ),
    ],
)
def test_broken_contract_is_reported_with_file_and_line(
    tmp_path: Path, what: str, file: str, old: str, new: str, stage: str, fragment: str
) -> None:
    contracts = copy_contracts(tmp_path)
    line = edit(contracts / file, old, new)
    if what == "message part in the wrong namespace":  # the error is where the prefix is used
        text = (contracts / file).read_text(encoding="utf-8")
        line = 1 + text[: text.index('element="types:SendMessage"')].count("\n")
    entry = contracts / "wsdl" / "SyncChannel_v10.wsdl"
    report = run_contract(entry, contracts)
    assert not report.ok, what
    results = checks(report, entry)
    assert results[stage].status is Status.FAILED
    findings = [f for f in results[stage].findings if fragment in f.message]
    assert findings, [f.message for f in results[stage].findings]
    assert Path(str(findings[0].file)).name == Path(file).name
    assert findings[0].line == line
    stages = list(results)
    for later in stages[stages.index(stage) + 1 :]:
        assert results[later].status is Status.SKIPPED
        assert results[later].detail == f"not run: {stage} failed"


def test_every_broken_reference_is_reported(tmp_path: Path) -> None:
    """Not just the first: two unresolved types in two places give two findings."""
    contracts = copy_contracts(tmp_path)
    types = contracts / "xsd" / "SyncChannel_v10_types.xsd"
    first = edit(types, 'type="cmn:SenderInfo"', 'type="cmn:Nobody"')
    second = edit(types, 'type="cmn:Property"', 'type="cmn:Nothing"')
    entry = contracts / "wsdl" / "SyncChannel_v10.wsdl"
    schema = checks(run_contract(entry, contracts), entry)["schema"]
    assert [(Path(str(f.file)).name, f.line) for f in schema.findings] == [
        ("SyncChannel_v10_types.xsd", first),
        ("SyncChannel_v10_types.xsd", second),
    ]


def test_every_missing_import_is_reported(tmp_path: Path) -> None:
    contracts = copy_contracts(tmp_path)
    edit(contracts / "xsd" / "SyncChannel_v10.xsd", '"common_v10.xsd"', '"gone1.xsd"')
    edit(contracts / "xsd" / "SyncChannel_v10_types.xsd", '"common_v10.xsd"', '"gone2.xsd"')
    entry = contracts / "wsdl" / "SyncChannel_v10.wsdl"
    imports = checks(run_contract(entry, contracts), entry)["imports"]
    assert len(imports.findings) == 2
    assert [re.findall(r"gone\d", f.message)[0] for f in imports.findings] == ["gone1", "gone2"]
    assert [Path(str(f.file)).name for f in imports.findings] == [
        "SyncChannel_v10.xsd",
        "SyncChannel_v10_types.xsd",
    ]


@pytest.mark.parametrize(
    ("entry", "stage", "named", "fragment"),
    [
        ("doctype.wsdl", "parse", "doctype.wsdl", "DOCTYPE is not allowed"),
        ("xxe.wsdl", "parse", "xxe.wsdl", "DOCTYPE is not allowed"),
        ("entity_import.wsdl", "parse", "entity.xsd", "DOCTYPE is not allowed"),
        ("billion_laughs_import.wsdl", "parse", "billion_laughs.xsd", "DOCTYPE"),
        ("http_xsd_import.wsdl", "imports", "http_xsd_import.wsdl", "refusing to fetch http://"),
        ("https_xsd_import.wsdl", "imports", "https_xsd_import.wsdl", "refusing to fetch https"),
        ("http_wsdl_import.wsdl", "imports", "http_wsdl_import.wsdl", "example.invalid"),
        ("nested_http.wsdl", "imports", "nested_http.xsd", "refusing to fetch https://"),
        ("file_url_import.wsdl", "imports", "file_url_import.wsdl", "file:///etc/passwd"),
        ("outside_root.wsdl", "imports", "outside_root.wsdl", "--contract-root"),
        ("no_soap11_port.wsdl", "zeep", "no_soap11_port.wsdl", "SOAP 1.1"),
    ],
)
def test_hostile_contracts_fail_without_reading_anything(
    entry: str, stage: str, named: str, fragment: str
) -> None:
    report = run_contract(HOSTILE_CONTRACTS / entry, HOSTILE_CONTRACTS)
    result = checks(report, HOSTILE_CONTRACTS / entry)[stage]
    assert result.status is Status.FAILED
    finding = result.findings[0]
    assert Path(str(finding.file)).name == named
    assert fragment in finding.message
    assert finding.line is not None or stage == "zeep"
    assert "root:x:0:0" not in finding.message  # nothing of /etc/passwd


def test_contract_directory_entries_skip_imported_documents() -> None:
    entries = contract_entries(DEFAULT_CONTRACTS_DIR / "wsdl")
    assert sorted(p.name for p in entries) == [
        "AsyncChannelClient_v10.wsdl",
        "AsyncChannel_v10.wsdl",
        "SyncChannel_v10.wsdl",
    ]
    assert sorted(p.name for p in contract_entries(DEFAULT_CONTRACTS_DIR / "xsd")) == [
        "AsyncChannelClient_v10.xsd",
        "AsyncChannel_v10.xsd",
        "SyncChannel_v10.xsd",
    ]


def test_standalone_xsd_has_three_stages(persons: ServiceSchema) -> None:
    report = run_contract(persons.xsd, VALIDATE)
    assert statuses(report, persons.xsd) == dict.fromkeys(
        ("parse", "imports", "schema"), Status.PASSED
    )


# --------------------------------------------------------------------------- payloads


def run_payloads(service: ServiceSchema, *paths: Path, **options: object) -> ValidationReport:
    return run_validation(ValidationRequest(payloads=paths, service=service, **options))  # type: ignore[arg-type]


def test_valid_payload_passes(persons: ServiceSchema) -> None:
    report = run_payloads(persons, VALIDATE / "payloads" / "good.xml")
    assert report.ok
    payload = checks(report, VALIDATE / "payloads" / "good.xml")
    assert payload["schema"].detail == f"fits persons.xsd ({{{PERSONS_NS}}}Persons)"
    # the service's XSD is checked as a contract in the same run
    assert statuses(report, persons.xsd)["schema"] is Status.PASSED


def test_invalid_payload_lists_every_error_with_line_and_column(persons: ServiceSchema) -> None:
    path = VALIDATE / "payloads" / "bad.xml"
    schema = checks(run_payloads(persons, path), path)["schema"]
    assert schema.status is Status.FAILED
    assert [(f.line, f.column) for f in schema.findings] == [(4, 5), (7, 5), (12, 5)]
    assert "'12345' is not accepted by the pattern" in schema.findings[0].message
    assert "'1987-13-01' is not a valid value" in schema.findings[1].message
    assert "middleName': This element is not expected" in schema.findings[2].message
    assert all(f.file == str(path) for f in schema.findings)


def test_not_well_formed_payload(persons: ServiceSchema) -> None:
    path = VALIDATE / "payloads" / "not_well_formed.xml"
    results = checks(run_payloads(persons, path), path)
    assert results["xml"].status is Status.FAILED
    finding = results["xml"].findings[0]
    assert (finding.line, finding.column) == (4, 37)  # libxml2: where it noticed
    assert "mismatch" in finding.message
    assert results["schema"].status is Status.SKIPPED


def test_doctype_payload_is_refused_before_parsing(persons: ServiceSchema) -> None:
    path = VALIDATE / "payloads" / "doctype.xml"
    finding = checks(run_payloads(persons, path), path)["xml"].findings[0]
    assert "DOCTYPE is not allowed" in finding.message
    assert "root:" not in finding.message


def test_wrong_root_element(persons: ServiceSchema, tmp_path: Path) -> None:
    path = tmp_path / "person.xml"
    path.write_text(
        f'<p:Person xmlns:p="{PERSONS_NS}"><p:iin>870101300123</p:iin><p:lastName>A</p:lastName>'
        "<p:firstName>B</p:firstName><p:birthDate>1987-01-01</p:birthDate></p:Person>",
        encoding="utf-8",
    )
    schema = checks(run_payloads(persons, path), path)["schema"]
    assert schema.status is Status.FAILED
    assert schema.findings[0].message == (
        f"the root element is {{{PERSONS_NS}}}Person; service TEST_PERSONS expects "
        f"{{{PERSONS_NS}}}Persons"
    )


@pytest.mark.parametrize(
    ("root", "fragment"),
    [
        ("q:Persons", "uses the prefix 'q', which persons.xsd does not declare"),
        ("Nobody", "is not a global element of persons.xsd"),
    ],
)
def test_bad_registered_root_is_a_finding(persons: ServiceSchema, root: str, fragment: str) -> None:
    service = ServiceSchema(
        service_id="X", xsd=persons.xsd, root=root, contract_root=persons.contract_root
    )
    path = VALIDATE / "payloads" / "good.xml"
    schema = checks(run_payloads(service, path), path)["schema"]
    assert schema.status is Status.FAILED
    assert fragment in schema.findings[0].message


@pytest.mark.parametrize("root", [f"{{{PERSONS_NS}}}Persons", "p:Persons", "Persons", None])
def test_root_forms(persons: ServiceSchema, root: str | None) -> None:
    service = ServiceSchema(
        service_id="X", xsd=persons.xsd, root=root, contract_root=persons.contract_root
    )
    assert run_payloads(service, VALIDATE / "payloads" / "good.xml").ok


def test_broken_service_xsd_skips_its_payloads(tmp_path: Path) -> None:
    shutil.copytree(VALIDATE, tmp_path / "v")
    xsd = tmp_path / "v" / "persons" / "persons.xsd"
    line = edit(xsd, 'type="c:iin"', 'type="c:nothing"')
    service = ServiceSchema(service_id="X", xsd=xsd, contract_root=tmp_path / "v")
    payload = tmp_path / "v" / "payloads" / "good.xml"
    report = run_payloads(service, payload)
    assert checks(report, xsd)["schema"].findings[0].line == line
    assert checks(report, payload)["schema"].status is Status.SKIPPED


def big_payload(path: Path, records: int, bad_at: set[int]) -> dict[int, int]:
    """A pretty-printed payload spanning many parser chunks; returns record -> iin line."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<p:Persons xmlns:p="{PERSONS_NS}">']
    where: dict[int, int] = {}
    for index in range(records):
        iin = "bad" if index in bad_at else f"{870101000000 + index:012d}"
        lines.append("  <p:person>")
        where[index] = len(lines) + 1
        lines += [
            f"    <p:iin>{iin}</p:iin>",
            "    <p:lastName>Әбдірахманова</p:lastName>",
            "    <p:firstName>Гүлнар</p:firstName>",
            "    <p:birthDate>1990-05-05</p:birthDate>",
            "  </p:person>",
        ]
    lines.append("</p:Persons>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return where


def test_errors_deep_in_a_large_payload_get_their_lines(
    persons: ServiceSchema, tmp_path: Path
) -> None:
    path = tmp_path / "big.xml"
    bad = {7, 9_000, 19_999}
    where = big_payload(path, 20_000, bad)
    assert path.stat().st_size > 3_000_000  # many 64 KiB chunks
    schema = checks(run_payloads(persons, path), path)["schema"]
    assert [f.line for f in schema.findings] == [where[i] for i in sorted(bad)]
    assert all(f.column == 5 for f in schema.findings)


def test_too_many_errors_are_summarised(persons: ServiceSchema, tmp_path: Path) -> None:
    path = tmp_path / "many.xml"
    big_payload(path, 200, set(range(200)))
    schema = checks(run_payloads(persons, path, max_errors=5), path)["schema"]
    assert len(schema.findings) == 6
    assert re.fullmatch(
        r"\.\.\. and at least \d+ more error\(s\) not shown.*", schema.findings[-1].message
    )


def test_registry(tmp_path: Path) -> None:
    registry = load_service_registry(VALIDATE / "registry.toml")
    service = registry.get("TEST_PERSONS")
    assert service.xsd == VALIDATE / "persons" / "persons.xsd"
    assert service.payloads == (VALIDATE / "payloads" / "good.xml",)
    report = run_validation(ValidationRequest(registered=(service,)))
    assert report.ok
    assert statuses(report, VALIDATE / "payloads" / "good.xml") == {
        "xml": Status.PASSED,
        "schema": Status.PASSED,
    }
    with pytest.raises(ConfigError, match="'NOPE' is not in the registry") as caught:
        registry.get("NOPE")
    assert caught.value.file == str(VALIDATE / "registry.toml")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("not toml [", "not a TOML service registry"),
        ("[other]\nx = 1\n", "expected [services.<serviceId>]"),
        ('[services.A]\nxsd = "missing.xsd"\n', "missing.xsd does not exist"),
        ('[services.A]\nxsd = "persons/persons.xsd"\npayloads = ["none/*.xml"]\n', "matches no"),
        ('[services.A]\nxsd = "persons/persons.xsd"\nroots = "x"\n', "unknown key(s) roots"),
        ('[services.A]\nxsd = "persons/persons.xsd"\nroot = 3\n', "root must be a string"),
    ],
)
def test_registry_errors_name_the_file(tmp_path: Path, text: str, fragment: str) -> None:
    shutil.copytree(VALIDATE, tmp_path / "v")
    path = tmp_path / "v" / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_service_registry(path)
    assert fragment in str(caught.value)
    assert caught.value.file == str(path)


def test_inputs_that_cannot_be_read_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no \.xml files"):
        expand_inputs([tmp_path], {".xml"})
    with pytest.raises(InputError, match="cannot read"):
        expand_inputs([tmp_path / "missing.xml"], {".xml"})
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.xml").write_text("<x/>")
    (tmp_path / "a.xml").write_text("<a/>")
    assert expand_inputs([tmp_path], {".xml"}) == (tmp_path / "a.xml",)


# --------------------------------------------------------------------------- envelopes


def envelope_checks(path: Path, **options: object) -> dict[str, CheckResult]:
    return {r.check: r for r in check_envelope_file(path, channels=_channels(), **options)}  # type: ignore[arg-type]


def _channels() -> tuple[object, ...]:
    return load_channels(())


def test_good_request_passes() -> None:
    results = envelope_checks(ENVELOPES / "sync_request_typed.xml")
    assert {k: v.status for k, v in results.items()} == {
        "xml": Status.PASSED,
        "soap": Status.PASSED,
        "schema": Status.PASSED,
        "formats": Status.PASSED,
        "signature": Status.SKIPPED,
        "trust": Status.SKIPPED,
        "payload": Status.SKIPPED,
    }
    assert results["soap"].detail == "SendMessage request of ISyncChannel"


@pytest.mark.parametrize(
    ("name", "check", "line", "fragment"),
    [
        ("bad_date_request.xml", "formats", 10, "the offset +0600 has no colon"),
        ("bad_date_request.xml", "schema", 10, "is not a valid value of the atomic type"),
        ("qualified_locals_request.xml", "formats", 6, 'declare xmlns="" on request'),
        ("soap12_request.xml", "soap", 2, "the gateway speaks SOAP 1.1"),
        ("two_bodies.xml", "soap", 2, "exactly one Body"),
        ("two_headers.xml", "soap", 4, "at most one Header"),
        ("header_after_body.xml", "soap", 4, "Header must be the Envelope's first child"),
        ("empty_body.xml", "soap", 3, "it holds 0"),
        ("not_an_envelope.xml", "soap", None, "not a SOAP envelope"),
    ],
)
def test_bad_envelopes(name: str, check: str, line: int | None, fragment: str) -> None:
    result = envelope_checks(ENVELOPES / name)[check]
    assert result.status is Status.FAILED
    finding = next(f for f in result.findings if fragment in f.message)
    assert finding.line == line
    assert finding.file == str(ENVELOPES / name)


@pytest.mark.parametrize("name", sorted(p.name for p in (DATA / "hostile").glob("*.xml")))
def test_hostile_envelopes_fail_the_xml_check(name: str) -> None:
    results = envelope_checks(DATA / "hostile" / name)
    assert results["xml"].status is Status.FAILED
    assert all(r.status is Status.SKIPPED for k, r in results.items() if k != "xml")


def request(tmp_path: Path, replacements: dict[str, str], name: str = "request.xml") -> Path:
    text = (ENVELOPES / "sync_request_typed.xml").read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


MESSAGE_ID = "<messageId>0a1b2c3d-0000-4000-8000-000000000001</messageId>"
DATE = "<messageDate>2023-02-13T11:17:26.000+06:00</messageDate>"
SESSION = "{6F9619FF-8B86-D011-B42D-00C04FC964FF}"


@pytest.mark.parametrize(
    ("replacements", "severity", "fragment"),
    [
        (
            {"</sender>": f"</sender><sessionId>{SESSION[1:-1]}</sessionId>"},
            Severity.ERROR,
            "lacks the curly braces the guid type requires",
        ),
        (
            {"</sender>": f"</sender><sessionId>{SESSION}</sessionId>"},
            Severity.WARNING,
            "the gateway fills it",
        ),
        (
            {DATE: "<messageDate>2023-02-13T11:17:26</messageDate>"},
            Severity.WARNING,
            "has no UTC offset",
        ),
        (
            {DATE: "<messageDate>2023-02-13 11:17:26</messageDate>"},
            Severity.ERROR,
            "separated by 'T', not a space",
        ),
        ({MESSAGE_ID: "<messageId> m-1 </messageId>"}, Severity.ERROR, "whitespace around it"),
        ({MESSAGE_ID: "<messageId></messageId>"}, Severity.ERROR, "messageId is empty"),
        (
            {"<data xmlns:ns2": '<ns2:data xmlns:ns2="urn:x" xmlns:ns3', "</data>": "</ns2:data>"},
            Severity.ERROR,
            "data must be unqualified",
        ),
        (
            {
                'xsi:type="ns2:Request"': 'xsi:type="xs:string" xmlns:xs="http://www.w3.org/2001/XMLSchema"'
            },
            Severity.ERROR,
            'declared xsi:type="xs:string" but holds elements',
        ),
        (
            {'xsi:type="ns2:Request"': 'xsi:type="nope:Request"'},
            Severity.ERROR,
            "undeclared prefix",
        ),
    ],
)
def test_format_checks(
    tmp_path: Path, replacements: dict[str, str], severity: Severity, fragment: str
) -> None:
    formats = envelope_checks(request(tmp_path, replacements))["formats"]
    finding = next(f for f in formats.findings if fragment in f.message)
    assert finding.severity is severity
    assert finding.line is not None
    expected = Status.FAILED if severity is Severity.ERROR else Status.PASSED
    assert formats.status is expected
    if severity is Severity.WARNING:
        strict = envelope_checks(request(tmp_path, replacements), strict=True)["formats"]
        assert strict.status is Status.FAILED


def test_async_update_needs_a_correlation_id(tmp_path: Path) -> None:
    contract = _channels()[1]
    sample = sample_message(contract, "sendMessage", optional=False)  # type: ignore[arg-type]
    text = sample.decode().replace("<messageType>REQUEST<", "<messageType>UPDATE<")
    path = tmp_path / "update.xml"
    path.write_text(text, encoding="utf-8")
    formats = envelope_checks(path)["formats"]
    assert formats.status is Status.FAILED
    assert "needs the chain's correlationId" in formats.findings[0].message


def test_password_never_reaches_a_finding(tmp_path: Path) -> None:
    secret = "hunter2-Secret"
    path = request(
        tmp_path,
        {
            "<password>example-password</password>": f"<password>{secret}</password>",
            "</sender>": f"</sender><sessionId>{secret}</sessionId>",
        },
    )
    results = check_envelope_file(path, channels=_channels())  # type: ignore[arg-type]
    text = " ".join(f.message for r in results for f in r.findings)
    assert "is not a braced GUID" in text
    report = ValidationReport(results=tuple(results))
    for rendered in (render_text(report), render_json(report), render_junit(report).decode()):
        assert secret not in rendered


# --------------------------------------------------------------------------- signatures


@pytest.fixture(scope="module")
def sign(pki: TestPki) -> Callable[..., bytes]:
    identity = load_identity_from_path(pki.signer_p12, password=pki.password.encode())

    def signed(data: bytes | None = None, key_ref: KeyRef = "keyidentifier") -> bytes:
        if data is None:
            data = (ENVELOPES / "sync_request_typed.xml").read_bytes()
        return sign_envelope(data, make_signer(identity, key_ref=key_ref))

    return signed


@pytest.fixture(scope="module")
def policy(pki: TestPki) -> VerifyPolicy:
    return VerifyPolicy(trusted_certs=(pki.ca.certificate,))


def write(tmp_path: Path, data: bytes, name: str = "signed.xml") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_signed_envelope_passes_profile_and_policy(
    tmp_path: Path, sign: Callable[..., bytes], policy: VerifyPolicy
) -> None:
    results = envelope_checks(write(tmp_path, sign()), policy=policy)
    assert all(r.status is Status.PASSED for k, r in results.items() if k != "payload")
    assert results["signature"].detail is not None
    assert results["signature"].detail.startswith("rsa-sha256, Body #id-")
    assert "KeyIdentifier" in results["signature"].detail
    assert str(results["trust"].detail).startswith("signed by CN=")


def test_signed_envelope_without_trust_checks_the_profile_only(
    tmp_path: Path, sign: Callable[..., bytes]
) -> None:
    results = envelope_checks(write(tmp_path, sign()))
    assert results["signature"].status is Status.PASSED
    assert results["trust"].status is Status.SKIPPED
    assert results["trust"].detail == "no --trust given: not verified"


def test_tampered_body_fails_trust_with_the_reason(
    tmp_path: Path, sign: Callable[..., bytes], policy: VerifyPolicy
) -> None:
    data = sign().replace(b"870101300123", b"870101300124")
    trust = envelope_checks(write(tmp_path, data), policy=policy)["trust"]
    assert trust.status is Status.FAILED
    assert trust.findings[0].message.startswith("rejected (digest-mismatch)")


def test_untrusted_signer(tmp_path: Path, sign: Callable[..., bytes]) -> None:
    stranger = make_ca(tmp_path, "Untrusted Test CA")
    trust = envelope_checks(
        write(tmp_path, sign()), policy=VerifyPolicy(trusted_certs=(stranger.certificate,))
    )["trust"]
    assert trust.findings[0].message.startswith("rejected (untrusted-certificate)")


def test_unsigned_envelope_fails_when_a_signature_is_required(tmp_path: Path) -> None:
    results = envelope_checks(ENVELOPES / "sync_request_typed.xml", require_signature=True)
    assert results["signature"].status is Status.FAILED
    assert "not signed" in results["signature"].findings[0].message


def test_profile_deviations(tmp_path: Path, sign: Callable[..., bytes]) -> None:
    root = etree.fromstring(sign(key_ref="bst"))
    security = root.find(f"{{{SOAP11}}}Header/{{{WSSE}}}Security")
    assert security is not None
    del security.attrib[qname(SOAP11, "mustUnderstand")]
    results = envelope_checks(write(tmp_path, etree.tostring(root)))
    signature = results["signature"]
    assert signature.status is Status.PASSED  # only warnings
    assert {f.severity for f in signature.findings} == {Severity.WARNING}
    messages = " ".join(f.message for f in signature.findings)
    assert 'no mustUnderstand="1"' in messages
    assert "BinarySecurityToken + Reference" in messages

    c14n = b"http://www.w3.org/2001/10/xml-exc-c14n#"
    inclusive = b"http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    signature = envelope_checks(write(tmp_path, sign().replace(c14n, inclusive, 1)))["signature"]
    assert signature.status is Status.FAILED
    assert "is not exc-c14n" in signature.findings[0].message


@pytest.mark.parametrize(
    "name", ["ncanode_wsse_rsa_sha256.xml", "ncanode_postman_XML_verifyWithSecurityHeader.xml"]
)
def test_real_ncanode_samples(kalkan_samples: Path, name: str) -> None:
    """Kalkan-signed samples: the signature verifies at a time inside the (expired)
    certificate's validity; their data element is qualified, which we report."""
    path = kalkan_samples / "xml" / name
    import base64

    from cryptography import x509

    root = etree.fromstring(path.read_bytes())
    leaf = x509.load_der_x509_certificate(
        base64.b64decode(str(root.findtext(f".//{{{WSSE}}}KeyIdentifier")))
    )
    at = leaf.not_valid_before_utc + timedelta(days=30)
    results = envelope_checks(path, policy=VerifyPolicy(trusted_certs=(leaf,), time=at))
    assert results["signature"].status is Status.PASSED
    assert results["trust"].status is Status.PASSED
    expired = envelope_checks(path, policy=VerifyPolicy(trusted_certs=(leaf,)))["trust"]
    assert expired.findings[0].message.startswith("rejected (certificate-expired)")
    if name == "ncanode_wsse_rsa_sha256.xml":
        assert "data must be unqualified" in results["formats"].findings[0].message
    else:
        assert "the Body holds root" in results["soap"].findings[0].message


# --------------------------------------------------------------------------- payload in envelopes


def test_envelope_payload_is_checked_against_the_registered_xsd(tmp_path: Path) -> None:
    registry = load_service_registry(VALIDATE / "registry.toml")
    payload = etree.fromstring((VALIDATE / "payloads" / "good.xml").read_bytes())
    for data in (
        payload,
        TypedPayload(element=payload, xsi_type=etree.QName(PERSONS_NS, "Persons")),
        (VALIDATE / "payloads" / "good.xml").read_text(encoding="utf-8"),
    ):
        envelope = build_sync_request(
            sync_channel(), service_id="TEST_PERSONS", sender_id="s", password=None, data=data
        )
        path = write(tmp_path, serialize(envelope), "with-payload.xml")
        results = envelope_checks(path, registry=registry)
        assert results["payload"].status is Status.PASSED, results["payload"]

    bad = etree.fromstring((VALIDATE / "payloads" / "bad.xml").read_bytes())
    envelope = build_sync_request(
        sync_channel(), service_id="TEST_PERSONS", sender_id="s", password=None, data=bad
    )
    path = write(tmp_path, serialize(envelope), "bad-payload.xml")
    payload_check = envelope_checks(path, registry=registry)["payload"]
    assert payload_check.status is Status.FAILED
    assert len(payload_check.findings) == 3
    unknown = envelope_checks(ENVELOPES / "sync_request_typed.xml", registry=registry)["payload"]
    assert unknown.status is Status.SKIPPED
    assert "'GBDFL_UniversalServiceSync' is not in the registry" in str(unknown.detail)


def test_finding_location() -> None:
    assert Finding(check="x", message="m", file="a.xml", line=3, column=7).location == "a.xml:3:7"
    assert Finding(check="x", message="m", file="a.xml").location == "a.xml"
    assert Finding(check="x", message="m").location == "<input>"


def test_request_needs_a_service_for_payloads() -> None:
    with pytest.raises(ConfigError, match="payloads need a service"):
        ValidationRequest(payloads=(VALIDATE / "payloads" / "good.xml",))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(field)


def test_streaming_keeps_memory_flat(persons: ServiceSchema, tmp_path: Path) -> None:
    """A regression guard for bench/bench_validate.py: a payload whose tree would take ~7x its
    size validates with peak RSS growing by a fraction of it."""
    clear_refs = Path("/proc/self/clear_refs")
    if not clear_refs.exists():
        pytest.skip("needs Linux /proc to reset the peak RSS")
    path = tmp_path / "big.xml"
    big_payload(path, 40_000, set())
    warm = tmp_path / "warm.xml"
    big_payload(warm, 10, set())
    run_payloads(persons, warm)
    try:
        clear_refs.write_text("5")
    except OSError:
        pytest.skip("cannot reset the peak RSS here")
    before = _status_kib("VmRSS")
    assert run_payloads(persons, path).ok
    growth = (_status_kib("VmHWM") - before) * 1024
    assert growth < path.stat().st_size, (growth, path.stat().st_size)

"""Offline validation for CI: contracts, payloads and envelopes, as findings with file:line.

``shep validate`` is a thin wrapper over :func:`run_validation`. Everything here takes paths
and returns frozen :class:`CheckResult` values; nothing prints (``gateway.report`` renders
them for people, JUnit and JSON). Nothing touches the network.

Three kinds of input, each a sequence of named checks (a JUnit test case each):

- **contracts** (``check_contract``'s stages): ``parse``, ``imports``, ``schema``,
  ``messages``, ``zeep``; a standalone XSD stops after ``schema``.
- **payloads**, against the XSD registered for their ``serviceId``: ``xml`` and ``schema``.
  The document is streamed through libxml2's validating parser and read elements are dropped
  at once, so a payload of any size costs a few MB (bench/bench_validate.py). libxml2's
  streaming validator does not know line numbers; when it finds errors, one more streaming
  pass, fed a line at a time, places each error on its line.
- **envelopes**: ``xml``, ``soap`` (SOAP 1.1, one Body, a message of a channel contract),
  ``schema`` (every XSD error of the channel contract), ``formats`` (what trips hand-written
  clients: braced sessionId, ``+0600`` offsets, unqualified locals, ids), ``signature`` (the
  transport-signature profile of protocol.md §3), ``trust`` (``verify_envelope`` with a
  :class:`VerifyPolicy`), ``payload`` (``data`` against the service's XSD).

Problems *in* the inputs are findings (a failed check); problems *with* the inputs (a file
that cannot be read, a registry that is not TOML) raise :class:`InputError`/`ConfigError`:
for the CLI those are usage errors. Passwords found in an envelope never reach a finding.
"""

from __future__ import annotations

import copy
import enum
import re
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, Final, Literal, cast

from lxml import etree

from gateway.contracts import (
    Contract,
    ContractCheck,
    ElementShape,
    async_channel,
    async_channel_client,
    check_contract,
    load_contract,
    sync_channel,
)
from gateway.envelope import (
    MessageType,
    find_body,
    find_body_element,
    find_header,
    parse_date_time,
    parse_session_id,
    soap_version,
)
from gateway.errors import (
    ConfigError,
    EnvelopeError,
    GatewayError,
    HostileXmlError,
    InputError,
    VerificationError,
    XmlError,
)
from gateway.identity import format_name
from gateway.suites import EXC_C14N
from gateway.wssec import VerifyPolicy, verify_envelope
from gateway.xmlns import DS, SOAP11, SOAP12, WSS_BASE64, WSS_X509V3, WSSE, WSU, XSD, XSI, qname
from gateway.xmlparse import (
    DEFAULT_MAX_BYTES,
    hardened_pull_parser,
    has_doctype,
    parse_xml,
    parse_xml_file,
    refuse_doctype,
    syntax_error_column,
)

__all__ = [
    "CONTRACT_SUFFIXES",
    "CheckResult",
    "Finding",
    "ServiceRegistry",
    "ServiceSchema",
    "ServiceSchemas",
    "Severity",
    "Status",
    "ValidationReport",
    "ValidationRequest",
    "check_contract_file",
    "check_envelope_file",
    "check_payload_file",
    "contract_entries",
    "expand_inputs",
    "load_channels",
    "load_service_registry",
    "run_validation",
]

CONTRACT_SUFFIXES: Final = frozenset({".wsdl", ".xsd"})
_XML_SUFFIXES: Final = frozenset({".xml"})
_CHUNK: Final = 64 * 1024
"""Bytes fed to the streaming parser at a time."""
_LINE_PIECE: Final = 64 * 1024
"""The locating pass feeds a line at a time, at most this much of a long line."""
_ELEMENT_NAMED: Final = re.compile(r"Element '(?P<tag>[^']+)'")
_PROFILE_DIGESTS: Final = {
    # protocol.md §3: the gateway's SignatureMethod -> DigestMethod pairs
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#gost34310-gost34311": (
        "http://www.w3.org/2001/04/xmldsig-more#gost34311"
    ),
    "urn:ietf:params:xml:ns:pkigovkz:xmlsec:algorithms:gostr34102015-gostr34112015-512": (
        "urn:ietf:params:xml:ns:pkigovkz:xmlsec:algorithms:gostr34112015-512"
    ),
    "urn:ietf:params:xml:ns:pkigovkz:xmlsec:algorithms:gostr34102015-gostr34112015-256": (
        "urn:ietf:params:xml:ns:pkigovkz:xmlsec:algorithms:gostr34112015-256"
    ),
}
_ECDSA_SHA256: Final = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
_REDACTED: Final = "***"
_SHORT_SECRET: Final = 6


# --------------------------------------------------------------------------- results


class Status(enum.StrEnum):
    """The outcome of one check."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


class Severity(enum.StrEnum):
    """Errors fail their check; warnings do only with ``strict``."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One problem, where it is: ``file:line:column``, and the element path when known."""

    check: str
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    field: str | None = None
    severity: Severity = Severity.ERROR

    @property
    def location(self) -> str:
        """``file:line:column`` with whatever parts are known."""
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    """One named check of one input: a test case in JUnit terms."""

    target: str
    """The input as named on the command line (or found in a directory)."""
    kind: Literal["contract", "payload", "envelope"]
    check: str
    status: Status
    findings: tuple[Finding, ...] = ()
    detail: str | None = None
    """What passed (``fits ISyncChannel``), or why the check was skipped."""
    seconds: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationReport:
    """Every check of a run, in input order."""

    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        """No check failed (skipped checks do not fail a run)."""
        return all(result.status is not Status.FAILED for result in self.results)

    def count(self, status: Status) -> int:
        return sum(1 for result in self.results if result.status is status)

    @property
    def targets(self) -> tuple[str, ...]:
        """Every input once, in order."""
        return tuple(dict.fromkeys(result.target for result in self.results))

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(finding for result in self.results for finding in result.findings)


# --------------------------------------------------------------------------- service registry


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceSchema:
    """The payload format of one service: its XSD and, optionally, the root element."""

    service_id: str
    xsd: Path
    root: str | None = None
    """As written: ``{ns}Name``, ``p:Name`` (a prefix the XSD declares) or ``Name`` (the XSD's
    targetNamespace). ``None`` accepts any global element of the XSD."""
    contract_root: Path | None = None
    """The directory the XSD's imports may read from (default: its grandparent)."""
    payloads: tuple[Path, ...] = ()
    """Sample payloads to check, from the registry's ``payloads`` globs."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceRegistry:
    """serviceId -> :class:`ServiceSchema`, read by :func:`load_service_registry`."""

    source: Path
    services: Mapping[str, ServiceSchema]

    def get(self, service_id: str) -> ServiceSchema:
        try:
            return self.services[service_id]
        except KeyError:
            known = ", ".join(sorted(self.services)) or "none"
            raise ConfigError(
                f"service {service_id!r} is not in the registry (it has: {known})",
                file=str(self.source),
            ) from None


def load_service_registry(path: Path) -> ServiceRegistry:
    """Read a TOML service registry; paths in it are relative to the file.

    ::

        [services.GBDFL_UniversalServiceSync]
        xsd = "schemas/gbdfl.xsd"
        root = "g:Request"                  # optional; "{urn:…}Request" or "Request" too
        payloads = ["samples/gbdfl/*.xml"]  # optional: sample payloads to check
        contract_root = "schemas"           # optional: where the XSD's imports may be read

    Raises :class:`ConfigError` naming the file for anything malformed, a missing XSD, or a
    ``payloads`` glob that matches nothing (a CI check that silently checks nothing is worse
    than none).
    """
    source = str(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read the service registry: {exc.strerror}", file=source) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not a TOML service registry: {exc}", file=source) from exc
    services = document.get("services")
    if not isinstance(services, dict) or not services:
        raise ConfigError(
            "expected [services.<serviceId>] tables with xsd = ... (and optionally root, "
            "payloads, contract_root)",
            file=source,
        )
    unknown = sorted(set(document) - {"services"})
    if unknown:
        raise ConfigError(f"unknown top-level key(s): {', '.join(unknown)}", file=source)
    base = path.parent
    return ServiceRegistry(
        source=path,
        services={
            str(service_id): _registry_entry(str(service_id), entry, base, source)
            for service_id, entry in services.items()
        },
    )


def _registry_entry(service_id: str, entry: object, base: Path, source: str) -> ServiceSchema:
    where = f"services.{service_id}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a table", file=source)
    unknown = sorted(set(entry) - {"xsd", "root", "payloads", "contract_root"})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}", file=source)
    xsd = entry.get("xsd")
    root = entry.get("root")
    patterns = entry.get("payloads", [])
    contract_root = entry.get("contract_root")
    if not isinstance(xsd, str) or not xsd:
        raise ConfigError(f"{where}.xsd must be the path of the service's XSD", file=source)
    if root is not None and (not isinstance(root, str) or not root.strip()):
        raise ConfigError(f"{where}.root must be a string such as 'p:Request'", file=source)
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise ConfigError(f"{where}.payloads must be a list of glob patterns", file=source)
    if contract_root is not None and not isinstance(contract_root, str):
        raise ConfigError(f"{where}.contract_root must be a directory path", file=source)
    xsd_path = base / xsd
    if not xsd_path.is_file():
        raise ConfigError(f"{where}.xsd: {xsd_path} does not exist", file=source)
    payloads: list[Path] = []
    for pattern in patterns:
        matched = sorted(p for p in base.glob(pattern) if p.is_file())
        if not matched:
            raise ConfigError(f"{where}.payloads: {pattern!r} matches no file", file=source)
        payloads.extend(matched)
    return ServiceSchema(
        service_id=service_id,
        xsd=xsd_path,
        root=root.strip() if isinstance(root, str) else None,
        contract_root=base / contract_root if contract_root else None,
        payloads=tuple(dict.fromkeys(payloads)),
    )


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationRequest:
    """Everything ``shep validate`` was asked to check. Paths may be files or directories."""

    contracts: tuple[Path, ...] = ()
    contract_root: Path | None = None
    """Where contract imports may be read from: default, the parent of a directory given in
    ``contracts``, or a file's grandparent (as :func:`~gateway.contracts.load_contract` does),
    so the usual ``wsdl/`` + ``xsd/`` layout resolves."""
    payloads: tuple[Path, ...] = ()
    service: ServiceSchema | None = None
    """The format of ``payloads`` (its XSD is checked too)."""
    registered: tuple[ServiceSchema, ...] = ()
    """Services whose XSD and registered sample ``payloads`` are checked."""
    registry: ServiceRegistry | None = None
    """Where envelopes find the XSD of their ``serviceId`` for the ``payload`` check."""
    envelopes: tuple[Path, ...] = ()
    channels: tuple[Contract, ...] = ()
    """Contracts envelopes are checked against; empty: the bundled v10 channels."""
    policy: VerifyPolicy | None = None
    """Verify transport signatures with this policy (``trust``); ``None`` skips that check."""
    require_signature: bool = False
    """An unsigned envelope fails the ``signature`` check instead of skipping it."""
    strict: bool = False
    """Warnings fail their check too."""
    max_errors: int = 50
    """Findings kept per check; more are summarised in one line."""

    def __post_init__(self) -> None:
        if self.payloads and self.service is None:
            raise ConfigError("payloads need a service: its XSD (and root element)")
        if self.max_errors < 1:
            raise ConfigError("max_errors must be at least 1")


def run_validation(request: ValidationRequest) -> ValidationReport:
    """Check every input of ``request``; problems with the inputs themselves raise first.

    Inputs are expanded and opened before anything is checked, so an unreadable file is an
    :class:`InputError` (a usage error) rather than half a report.
    """
    contract_files = [(path, _contract_inputs(path)) for path in request.contracts]
    payloads: list[tuple[Path, ServiceSchema]] = []
    if request.service is not None:
        payloads += [
            (path, request.service) for path in expand_inputs(request.payloads, _XML_SUFFIXES)
        ]
    schemas: list[ServiceSchema] = [] if request.service is None else [request.service]
    for service in request.registered:
        schemas.append(service)
        payloads += [(path, service) for path in expand_inputs(service.payloads, ())]
    envelopes = expand_inputs(request.envelopes, _XML_SUFFIXES)
    channels = request.channels or (load_channels(()) if envelopes else ())

    results: list[CheckResult] = []
    covered: set[Path] = set()
    for given, entries in contract_files:
        # A directory's parent, like a file's grandparent: wsdl/ next to xsd/ resolves.
        root = request.contract_root or (given.resolve().parent if given.is_dir() else None)
        for entry in entries:
            if given.is_dir() and entry.suffix.lower() == ".xsd" and entry.resolve() in covered:
                continue  # a WSDL checked before already read (and reported) it
            started = time.perf_counter()
            checked = check_contract(entry, root=root)
            covered.update(checked.files)
            seconds = time.perf_counter() - started
            results += _contract_results(str(entry), checked, seconds, strict=request.strict)
    compiled = ServiceSchemas(strict=request.strict)
    for service in dict.fromkeys(schemas):
        results += compiled.results_for(service)
    for path, service in payloads:
        results += check_payload_file(
            path, service, schemas=compiled, strict=request.strict, max_errors=request.max_errors
        )
    for path in envelopes:
        results += check_envelope_file(
            path,
            channels=channels,
            policy=request.policy,
            require_signature=request.require_signature,
            registry=request.registry,
            service_schemas=compiled,
            strict=request.strict,
            max_errors=request.max_errors,
        )
    return ValidationReport(results=tuple(results))


def load_channels(paths: Sequence[Path], *, root: Path | None = None) -> tuple[Contract, ...]:
    """The contracts envelopes are checked against: the bundled v10 channels by default, or
    every service WSDL of ``paths`` (files or directories). Raises :class:`ContractError`."""
    if not paths:
        return (sync_channel(), async_channel(), async_channel_client())
    contracts: list[Contract] = []
    for path in paths:
        base = root or (path if path.is_dir() else None)
        for entry in _contract_inputs(path):
            if entry.suffix.lower() != ".wsdl":
                continue
            checked = check_contract(entry, root=base)
            if checked.abstract:
                continue
            contracts.append(load_contract(entry, root=base))
    if not contracts:
        raise ConfigError(f"no WSDL with a service in {', '.join(map(str, paths))}")
    return tuple(contracts)


# --------------------------------------------------------------------------- inputs


def expand_inputs(paths: Iterable[Path], suffixes: Iterable[str]) -> tuple[Path, ...]:
    """Files as given, directories as their files with ``suffixes`` (recursively, sorted,
    skipping hidden directories); every file is opened once to prove it can be read."""
    wanted = frozenset(suffixes)
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = [
                item
                for item in sorted(path.rglob("*"))
                if item.is_file()
                and (not wanted or item.suffix.lower() in wanted)
                and not any(part.startswith(".") for part in item.relative_to(path).parts)
            ]
            if not inside:
                kinds = ", ".join(sorted(wanted)) or "any"
                raise InputError(f"no {kinds} files in the directory", file=str(path))
            found += inside
        else:
            found.append(path)
    for path in found:
        _ensure_readable(path)
    return tuple(dict.fromkeys(found))


def _ensure_readable(path: Path) -> None:
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=str(path)) from exc


def _contract_inputs(path: Path) -> tuple[Path, ...]:
    """A contract file as given, or a directory's entry documents (:func:`contract_entries`)."""
    if not path.is_dir():
        _ensure_readable(path)
        return (path,)
    return contract_entries(path)


def contract_entries(directory: Path) -> tuple[Path, ...]:
    """The documents of a contract directory worth checking as entries.

    Every WSDL and XSD that no other document of the directory imports or includes: checking
    ``SyncChannel.wsdl`` checks the ``ISyncChannel.wsdl`` and XSDs it pulls in, so they are not
    checked again on their own (their problems are reported once, under the importer).
    """
    files = expand_inputs([directory], CONTRACT_SUFFIXES)
    referenced: set[Path] = set()
    for path in files:
        referenced |= _references_of(path)
    entries = [path for path in files if path.resolve() not in referenced]
    return tuple(entries) or files  # a cycle with no entry: check them all


def _references_of(path: Path) -> set[Path]:
    """Local files a WSDL/XSD imports or includes (a quick look; check_contract is thorough)."""
    try:
        top = parse_xml_file(path).getroot()
    except GatewayError:
        return set()  # it will be checked as an entry and its problem reported
    found: set[Path] = set()
    for node in top.iter():
        tag: object = node.tag
        if not isinstance(tag, str):
            continue
        name = etree.QName(tag)
        location = None
        if name.localname == "import" and name.namespace == "http://schemas.xmlsoap.org/wsdl/":
            location = node.get("location")
        elif name.namespace == XSD and name.localname in ("import", "include", "redefine"):
            location = node.get("schemaLocation")
        if location and "://" not in location:
            found.add((path.parent / location).resolve())
    return found


# --------------------------------------------------------------------------- contracts


def check_contract_file(
    path: Path, *, root: Path | None = None, strict: bool = False
) -> list[CheckResult]:
    """The stages of :func:`~gateway.contracts.check_contract` as checks of ``path``."""
    started = time.perf_counter()
    checked = check_contract(path, root=root)
    return _contract_results(str(path), checked, time.perf_counter() - started, strict=strict)


def _contract_results(
    target: str, checked: ContractCheck, seconds: float, *, strict: bool
) -> list[CheckResult]:
    results: list[CheckResult] = []
    failed: str | None = None
    share = seconds / max(1, len(checked.ran))
    for stage in checked.stages:
        if stage not in checked.ran:
            results.append(
                CheckResult(
                    target=target,
                    kind="contract",
                    check=stage,
                    status=Status.SKIPPED,
                    detail=f"not run: {failed or 'an earlier stage'} failed",
                )
            )
            continue
        findings = tuple(
            Finding(
                check=stage,
                message=_contract_hint(problem.message),
                file=problem.file,
                line=problem.line,
                column=problem.column,
            )
            for problem in checked.problems
            if problem.stage == stage
        )
        if findings and failed is None:
            failed = stage
        detail = None if findings else _contract_detail(stage, checked)
        results.append(
            _result(
                target, "contract", stage, findings, detail=detail, seconds=share, strict=strict
            )
        )
    return results


def _contract_hint(message: str) -> str:
    if "outside the contract directory" in message:
        return f"{message} (set a wider contract root: --contract-root)"
    return message


def _contract_detail(stage: str, checked: ContractCheck) -> str | None:
    if stage == "zeep":
        contract = checked.contract
        if checked.abstract:
            return "abstract WSDL (no service): portTypes and messages resolve"
        if contract is None:
            return None
        operations = ", ".join(contract.operations)
        return f"{contract.name}: {contract.service_name}/{contract.port_name}: {operations}"
    return {
        "parse": f"{len(checked.files)} file(s), no DOCTYPE or entities",
        "imports": f"every import resolves under {checked.root}",
        "schema": "the types compile (libxml2)",
        "messages": "every message, part, portType, binding and port reference resolves",
    }.get(stage)


class ServiceSchemas:
    """Service XSDs compiled (and their root elements resolved) once, for many payloads.

    Share one across :func:`check_payload_file` and :func:`check_envelope_file` calls; not
    thread-safe (an XSD's validation log is shared).
    """

    def __init__(self, *, strict: bool) -> None:
        self._strict = strict
        self._checks: dict[tuple[Path, Path | None], tuple[ContractCheck, float]] = {}
        self._roots: dict[ServiceSchema, tuple[str | None, Finding | None]] = {}
        self._reported: set[tuple[Path, Path | None]] = set()

    def _check(self, service: ServiceSchema) -> tuple[ContractCheck, float]:
        key = (service.xsd.resolve(), service.contract_root)
        if key not in self._checks:
            started = time.perf_counter()
            checked = check_contract(service.xsd, root=service.contract_root)
            self._checks[key] = (checked, time.perf_counter() - started)
        return self._checks[key]

    def results_for(self, service: ServiceSchema) -> list[CheckResult]:
        """The contract checks of the service's XSD, the first time they are asked for (an
        XSD shared by several services is reported once)."""
        key = (service.xsd.resolve(), service.contract_root)
        if key in self._reported:
            return []
        self._reported.add(key)
        checked, seconds = self._check(service)
        return _contract_results(str(service.xsd), checked, seconds, strict=self._strict)

    def schema(self, service: ServiceSchema) -> etree.XMLSchema | None:
        """The compiled XSD, ``None`` if it does not compile."""
        return self._check(service)[0].schema

    def root(self, service: ServiceSchema) -> tuple[str | None, Finding | None]:
        """The expected root's Clark name, or a finding saying why it cannot be resolved."""
        if service not in self._roots:
            self._roots[service] = _resolve_root(service)
        return self._roots[service]


def _resolve_root(service: ServiceSchema) -> tuple[str | None, Finding | None]:
    if service.root is None:
        return None, None
    try:
        schema = parse_xml_file(service.xsd).getroot()
    except GatewayError:
        return None, None  # the XSD's own check reports it
    text = service.root
    if text.startswith("{"):
        name = text
    else:
        prefix, _, local = text.rpartition(":")
        namespace = schema.nsmap.get(prefix) if prefix else schema.get("targetNamespace")
        if prefix and namespace is None:
            return None, Finding(
                check="schema",
                message=f"root {text!r} of service {service.service_id} uses the prefix "
                f"{prefix!r}, which {service.xsd.name} does not declare",
                file=str(service.xsd),
            )
        name = f"{{{namespace}}}{local}" if namespace else local
    target = schema.get("targetNamespace")
    declared = {
        f"{{{target}}}{node.get('name')}" if target else str(node.get("name"))
        for node in schema.iterfind(f"{{{XSD}}}element")
    }
    if declared and name not in declared:
        return None, Finding(
            check="schema",
            message=f"root {text!r} ({name}) of service {service.service_id} is not a global "
            f"element of {service.xsd.name} (it declares: {', '.join(sorted(declared))})",
            file=str(service.xsd),
        )
    return name, None


# --------------------------------------------------------------------------- payloads


def check_payload_file(
    path: Path,
    service: ServiceSchema,
    *,
    schemas: ServiceSchemas | None = None,
    strict: bool = False,
    max_errors: int = 50,
) -> list[CheckResult]:
    """``xml`` and ``schema`` checks of a payload file, streamed: never a whole tree in memory.

    When the service's XSD does not compile the schema check is skipped (the XSD's own checks,
    :meth:`ServiceSchemas.results_for`, say why).
    """
    target = str(path)
    schemas = schemas or ServiceSchemas(strict=strict)
    schema = schemas.schema(service)
    expected, root_problem = schemas.root(service)
    started = time.perf_counter()
    scan = _stream_validate(path, schema, source=target, max_errors=max_errors)
    seconds = time.perf_counter() - started
    if scan.syntax is not None:
        return [
            _result(
                target,
                "payload",
                "xml",
                (scan.syntax,),
                detail=None,
                seconds=seconds,
                strict=strict,
            ),
            _skipped(target, "payload", "schema", "not run: the payload is not well-formed XML"),
        ]
    xml = _result(target, "payload", "xml", (), detail="well-formed, no DOCTYPE", strict=strict)
    if schema is None:
        return [
            xml,
            _skipped(target, "payload", "schema", f"{service.xsd.name} did not compile"),
        ]
    findings = list(scan.errors)
    if root_problem is not None:
        findings.insert(0, root_problem)
    elif expected is not None and scan.root is not None and scan.root != expected:
        findings.insert(
            0,
            Finding(
                check="schema",
                message=f"the root element is {scan.root}; service {service.service_id} "
                f"expects {expected}",
                file=target,
                line=scan.root_line,
            ),
        )
    if scan.more:
        findings.append(_more_finding("schema", target, scan.more, at_least=scan.stopped_early))
    detail = f"fits {service.xsd.name}" + (f" ({expected})" if expected else "")
    schema_result = _result(
        target, "payload", "schema", findings, detail=detail, seconds=seconds, strict=strict
    )
    return [xml, schema_result]


@dataclass(slots=True)
class _Scan:
    """What streaming a document found."""

    syntax: Finding | None = None
    errors: list[Finding] = field(default_factory=list)
    root: str | None = None
    root_line: int | None = None
    more: int = 0
    """Errors beyond ``max_errors``."""
    stopped_early: bool = False
    """The first pass stopped at ``max_errors``: ``more`` is a lower bound."""


def _stream_validate(
    path: Path, schema: etree.XMLSchema | None, *, source: str, max_errors: int
) -> _Scan:
    """Validate ``path`` while parsing it; read elements are dropped at once.

    Pass 1 feeds 64 KiB chunks and only decides: valid, not well-formed, or schema errors.
    libxml2's streaming validator reports no lines (and, with a schema attached, lxml hides a
    syntax error behind the first schema error), so on failure a schema-less pass finds the
    syntax error exactly, or a line-fed pass puts each schema error on its line.
    """
    scan = _Scan()
    try:
        ok, errors_seen = _first_pass(path, schema, source, scan, max_errors)
        scan.stopped_early = errors_seen > max_errors
    except XmlError as exc:
        scan.syntax = _xml_finding(exc, source)
        return scan
    if ok:
        return scan
    syntax = _well_formed_error(path, source)
    if syntax is not None:
        scan.syntax = syntax
        return scan
    assert schema is not None  # noqa: S101  (a schema-less pass fails only on syntax)
    scan.errors = _locate_schema_errors(path, schema, source, max_errors)
    scan.more = max(0, errors_seen - len(scan.errors))
    return scan


def _first_pass(
    path: Path, schema: etree.XMLSchema | None, source: str, scan: _Scan, max_errors: int
) -> tuple[bool, int]:
    parser = hardened_pull_parser(events=("end",), schema=schema, huge_tree=True)
    first = True
    with _open(path, source) as handle:
        chunk = _head(handle, source)
        try:
            while chunk:
                parser.feed(chunk)
                for element in _ended(parser):
                    if first:
                        _note_root(element, scan, source)
                        first = False
                    _release(element)
                errors = len(parser.feed_error_log)
                if errors > max_errors:
                    return False, errors  # hopeless: stop reading, locate the first ones
                chunk = handle.read(_CHUNK)
            parser.close()
        except etree.XMLSyntaxError:
            return False, len(parser.feed_error_log)
    return True, 0


def _well_formed_error(path: Path, source: str) -> Finding | None:
    """The first well-formedness error of ``path``, streamed without a schema."""
    parser = hardened_pull_parser(events=("end",), huge_tree=True)
    try:
        with _open(path, source) as handle:
            chunk = _head(handle, source)
            while chunk:
                parser.feed(chunk)
                for element in _ended(parser):
                    _release(element)
                chunk = handle.read(_CHUNK)
            parser.close()
    except etree.XMLSyntaxError as exc:
        return Finding(
            check="xml",
            message=f"not well-formed XML: {exc.msg}",
            file=source,
            line=exc.lineno or None,
            column=syntax_error_column(exc),
        )
    except XmlError as exc:
        return _xml_finding(exc, source)
    return None


def _locate_schema_errors(
    path: Path, schema: etree.XMLSchema, source: str, max_errors: int
) -> list[Finding]:
    """Feed a line at a time, so each new schema error belongs to the line just fed.

    An error raised when an element ends (a bad value, a missing child) is placed on the start
    line of the element that ended in that feed; one raised when an element starts (not
    expected here, a bad attribute) on the line fed.
    """
    parser = hardened_pull_parser(events=("end",), schema=schema, huge_tree=True)
    findings: list[Finding] = []
    seen = 0
    line = 1
    with _open(path, source) as handle:
        while len(findings) < max_errors:
            piece = handle.readline(_LINE_PIECE)
            try:
                if piece:
                    parser.feed(piece)
                else:
                    parser.close()
            except etree.XMLSyntaxError:
                pass  # the schema errors are in the log; well-formedness was checked before
            ended: list[tuple[object, int]] = []
            for element in _ended(parser):
                ended.append((element.tag, _source_line(element) or line))
                _release(element)
            log = list(parser.feed_error_log)
            for entry in log[seen:]:
                findings.append(_place(entry.message, ended, line, piece, source))  # noqa: PERF401  (_place consumes `ended` in order)
            seen = len(log)
            if not piece:
                break
            line += piece.count(b"\n")
    return findings[:max_errors]


def _place(
    message: str, ended: list[tuple[object, int]], line: int, piece: bytes, source: str
) -> Finding:
    named = _ELEMENT_NAMED.match(message)
    tag = named.group("tag") if named else None
    at = line
    for index, (ended_tag, ended_line) in enumerate(ended):
        if ended_tag == tag:
            at = ended_line
            del ended[index]  # two errors on two same-named elements: one each
            break
    column = _tag_column(piece, tag) if at == line and tag else None
    return Finding(check="schema", message=message.strip(), file=source, line=at, column=column)


def _with_columns(path: Path, source: str, results: list[CheckResult]) -> list[CheckResult]:
    """Add the column of the element each finding names, where its line shows it once.

    libxml2's schema errors carry no column. Reads only up to the last line needed, and only
    when some finding needs it.
    """
    wanted: dict[int, set[str]] = {}
    for result in results:
        for finding in result.findings:
            tag = _finding_tag(finding)
            if finding.file == source and finding.line and finding.column is None and tag:
                wanted.setdefault(finding.line, set()).add(tag)
    if not wanted:
        return results
    lines: dict[int, bytes] = {}
    try:
        with path.open("rb") as handle:
            for number, text in enumerate(handle, start=1):
                if number in wanted:
                    lines[number] = text[:_LINE_PIECE]
                if number >= max(wanted):
                    break
    except OSError:
        return results

    def locate(finding: Finding) -> Finding:
        tag = _finding_tag(finding)
        if finding.file != source or not finding.line or finding.column is not None or not tag:
            return finding
        column = _tag_column(lines.get(finding.line, b""), tag)
        return finding if column is None else replace(finding, column=column)

    return [
        replace(result, findings=tuple(locate(f) for f in result.findings)) for result in results
    ]


def _finding_tag(finding: Finding) -> str | None:
    """The element a finding is about: the last step of its field path, or the one the
    message names (``Element 'x': ...``)."""
    if finding.field:
        step = finding.field.rsplit("/", 1)[-1].split("[", 1)[0]
        if step and not step.startswith("@"):
            return step
    named = _ELEMENT_NAMED.search(finding.message)
    return named.group("tag") if named else None


def _tag_column(piece: bytes, tag: str) -> int | None:
    """1-based column of ``<tag`` in the line, if it occurs exactly once there."""
    local = etree.QName(tag).localname if tag.startswith("{") else tag
    text = piece.decode("utf-8", "replace")
    hits = [m.start() for m in re.finditer(rf"<(?:[\w.-]+:)?{re.escape(local)}(?=[\s/>])", text)]
    return hits[0] + 1 if len(hits) == 1 else None


def _note_root(element: etree._Element, scan: _Scan, source: str) -> None:
    tree = element.getroottree()
    if has_doctype(tree):
        raise HostileXmlError(
            "DOCTYPE is not allowed (entities and DTDs are refused)", file=source, line=1
        )
    root = tree.getroot()
    scan.root = root.tag if isinstance(root.tag, str) else None
    scan.root_line = _source_line(root)


def _ended(parser: etree.XMLPullParser) -> Iterator[etree._Element]:
    """The elements whose end the parser has reached since the last call."""
    for _event, element in parser.read_events():
        if isinstance(element, etree._Element):
            yield element


def _release(element: etree._Element) -> None:
    """Drop what streaming has read: the element's content and the siblings before it."""
    element.clear(keep_tail=True)  # type: ignore[call-arg]  # lxml-stubs lack keep_tail
    parent = element.getparent()
    if parent is not None:
        while (previous := element.getprevious()) is not None:
            parent.remove(previous)


def _open(path: Path, source: str) -> BinaryIO:
    """``path.open("rb")``, an unreadable file being an :class:`InputError` naming it."""
    try:
        return path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=source) from exc


def _head(handle: BinaryIO, source: str) -> bytes:
    """The first chunk, checked for emptiness and a DOCTYPE before any parser sees it."""
    head = handle.read(_CHUNK)
    if not head.strip():
        rest = handle.read(1)
        if not rest:
            raise XmlError("document is empty", file=source)
        head += rest
    refuse_doctype(head, source=source)
    return head


def _xml_finding(exc: XmlError, source: str) -> Finding:
    return Finding(
        check="xml",
        message=exc.message,
        file=exc.file or source,
        line=exc.line,
        column=syntax_error_column(exc),
    )


def _more_finding(check: str, source: str, more: int, *, at_least: bool = False) -> Finding:
    count = f"at least {more}" if at_least else str(more)
    return Finding(
        check=check,
        message=f"... and {count} more error(s) not shown (raise --max-errors to see them)",
        file=source,
    )


# --------------------------------------------------------------------------- envelopes


def check_envelope_file(
    path: Path,
    *,
    channels: Sequence[Contract],
    policy: VerifyPolicy | None = None,
    require_signature: bool = False,
    registry: ServiceRegistry | None = None,
    service_schemas: ServiceSchemas | None = None,
    strict: bool = False,
    max_errors: int = 50,
) -> list[CheckResult]:
    """Every envelope check of ``path``, parsed once (the signature needs the whole tree)."""
    checker = _EnvelopeChecker(
        path,
        channels=channels,
        policy=policy,
        require_signature=require_signature,
        registry=registry,
        service_schemas=service_schemas or ServiceSchemas(strict=strict),
        strict=strict,
        max_errors=max_errors,
    )
    return checker.run()


_ENVELOPE_CHECKS: Final = ("xml", "soap", "schema", "formats", "signature", "trust", "payload")
_NO_MESSAGE: Final = "no channel message in the Body to check"


class _EnvelopeChecker:
    """The checks of one envelope; each appends its result and says if the next may run."""

    def __init__(
        self,
        path: Path,
        *,
        channels: Sequence[Contract],
        policy: VerifyPolicy | None,
        require_signature: bool,
        registry: ServiceRegistry | None,
        service_schemas: ServiceSchemas,
        strict: bool,
        max_errors: int,
    ) -> None:
        self.path = path
        self.target = str(path)
        self.channels = channels
        self.policy = policy
        self.require_signature = require_signature
        self.registry = registry
        self.service_schemas = service_schemas
        self.strict = strict
        self.max_errors = max_errors
        self.results: list[CheckResult] = []
        self.root: etree._Element | None = None
        self.message: etree._Element | None = None
        self.contract: Contract | None = None
        self.role = ""
        self.secrets: list[str] = []

    def run(self) -> list[CheckResult]:
        steps: tuple[Callable[[], bool], ...] = (
            self.xml,
            self.soap,
            self.schema,
            self.formats,
            self.signature,
            self.trust,
            self.payload,
        )
        for index, step in enumerate(steps):
            started = time.perf_counter()
            go_on = step()
            self._time(time.perf_counter() - started)
            if not go_on:
                failed = _ENVELOPE_CHECKS[index]
                for later in _ENVELOPE_CHECKS[index + 1 :]:
                    self.results.append(
                        _skipped(self.target, "envelope", later, f"not run: {failed} failed")
                    )
                break
        located = _with_columns(self.path, self.target, self.results)
        return [self._redacted(result) for result in located]

    # -- the checks, in order

    def xml(self) -> bool:
        try:
            tree = parse_xml_file(
                self.path, source=self.target, max_bytes=DEFAULT_MAX_BYTES, huge_tree=True
            )
        except XmlError as exc:
            self._add("xml", [_xml_finding(exc, self.target)])
            return False
        self.root = tree.getroot()
        self._add("xml", [], "well-formed, no DOCTYPE")
        return True

    def soap(self) -> bool:
        assert self.root is not None  # noqa: S101  (xml() passed)
        root = self.root
        findings: list[Finding] = []
        try:
            if soap_version(root) == "1.2":
                findings.append(
                    self._finding(
                        "soap",
                        f"a SOAP 1.2 envelope: the gateway speaks SOAP 1.1 (namespace {SOAP11})",
                        root,
                    )
                )
            find_header(root)
            message = find_body_element(root)
        except EnvelopeError as exc:
            findings.append(self._envelope_finding("soap", exc))
            self._add("soap", findings)
            return False
        detail = self._identify(message, findings)
        self._add("soap", findings, detail)
        return True  # the envelope holds together: the signature can be checked regardless

    def schema(self) -> bool:
        if self.contract is None or self.message is None:
            self.results.append(_skipped(self.target, "envelope", "schema", _NO_MESSAGE))
            return True
        errors = self.contract.validation_errors(self.message)
        findings = [self._envelope_finding("schema", error) for error in errors]
        self._add(
            "schema",
            _capped(findings, self.max_errors, "schema", self.target),
            f"fits {self.contract.name} ({self.contract.wsdl_path.name})",
        )
        return True  # formats and the signature say more, whatever the schema found

    def formats(self) -> bool:
        if self.contract is None or self.message is None:
            self.results.append(_skipped(self.target, "envelope", "formats", _NO_MESSAGE))
            return True
        findings = _FormatChecks(self).run()
        self._add(
            "formats",
            _capped(findings, self.max_errors, "formats", self.target),
            "ids, dates, sessionId, unqualified locals, data",
        )
        return True

    def signature(self) -> bool:
        assert self.root is not None  # noqa: S101
        findings, detail, signed = _signature_profile(self.root, self.target)
        if not signed:
            if self.require_signature:
                self._add("signature", [self._finding("signature", detail, self.root)])
            else:
                self.results.append(_skipped(self.target, "envelope", "signature", detail))
            self.results.append(
                _skipped(self.target, "envelope", "trust", "not signed: nothing to verify")
            )
            return True
        self._add("signature", findings, detail)
        return True

    def trust(self) -> bool:
        assert self.root is not None  # noqa: S101
        if any(result.check == "trust" for result in self.results):
            return True  # unsigned: already skipped
        if self.policy is None:
            self.results.append(
                _skipped(self.target, "envelope", "trust", "no --trust given: not verified")
            )
            return True
        try:
            verified = verify_envelope(self.root, self.policy, source=self.target)
        except VerificationError as exc:
            self._add("trust", [self._verification_finding(exc)])
            return True
        except GatewayError as exc:
            self._add("trust", [self._finding("trust", str(exc), self.root)])
            return True
        when = self.policy.time
        at = "now" if when is None else f"at {when.isoformat(timespec='seconds')}"
        self._add(
            "trust",
            [],
            f"signed by {format_name(verified.certificate.subject)} "
            f"({verified.suite.name}, {verified.key_ref}); chain valid {at}",
        )
        return True

    def payload(self) -> bool:
        if self.message is None:
            self.results.append(_skipped(self.target, "envelope", "payload", _NO_MESSAGE))
            return True
        service_id = _service_id(self.message)
        if self.registry is None:
            self.results.append(
                _skipped(self.target, "envelope", "payload", "no service registry given")
            )
            return True
        if service_id is None or service_id not in self.registry.services:
            why = (
                "the message names no serviceId"
                if service_id is None
                else f"service {service_id!r} is not in the registry"
            )
            self.results.append(_skipped(self.target, "envelope", "payload", why))
            return True
        service = self.registry.services[service_id]
        schema = self.service_schemas.schema(service)
        if schema is None:
            self.results.append(
                _skipped(self.target, "envelope", "payload", f"{service.xsd.name} did not compile")
            )
            return True
        expected, problem = self.service_schemas.root(service)
        findings = [problem] if problem is not None else []
        findings += self._payload_findings(schema, expected)
        self._add(
            "payload",
            _capped(findings, self.max_errors, "payload", self.target),
            f"data fits {service.xsd.name} (service {service_id})",
        )
        return True

    # -- helpers

    def _identify(self, message: etree._Element, findings: list[Finding]) -> str | None:
        if etree.QName(message).localname == "Fault" and etree.QName(message).namespace in (
            SOAP11,
            SOAP12,
        ):
            detail = message.find("detail")
            if detail is None:
                detail = message.find(f"{{{SOAP12}}}Detail")
            inner = [c for c in (detail if detail is not None else ()) if isinstance(c.tag, str)]
            if not inner:
                findings.append(
                    self._finding(
                        "soap",
                        "a SOAP Fault without an ErrorInfo detail: nothing of the contract "
                        "to check",
                        message,
                        severity=Severity.WARNING,
                    )
                )
                return "SOAP Fault (no detail)"
            message = inner[0]
        for contract in self.channels:
            if message.tag in contract.elements:
                self.contract = contract
                self.message = message
                self.secrets = [
                    node.text
                    for node in message.iter("password")
                    if node.text and node.text.strip()
                ]
                self.role = _role(contract, str(message.tag))
                return f"{self.role} of {contract.name}"
        local = etree.QName(message).localname
        known = sorted({tag for contract in self.channels for tag in contract.elements})
        near = [tag for tag in known if etree.QName(tag).localname == local]
        hint = f"; the contract's element is {near[0]} (check the namespace)" if near else ""
        channels = ", ".join(contract.name for contract in self.channels)
        findings.append(
            self._finding(
                "soap",
                f"the Body holds {message.tag}, which is not a message of {channels}{hint}",
                message,
            )
        )
        return None

    def _payload_findings(self, schema: etree.XMLSchema, expected: str | None) -> list[Finding]:
        assert self.message is not None  # noqa: S101
        data = next(
            (node for node in self.message.iter("data") if node.getparent() is not None),
            None,
        )
        if data is None:
            return [self._finding("payload", "the message has no data element", self.message)]
        try:
            candidate, text_line = _payload_root(data, expected)
        except EnvelopeError as exc:
            return [self._envelope_finding("payload", exc)]
        findings: list[Finding] = []
        if expected is not None and candidate.tag != expected:
            findings.append(
                self._finding(
                    "payload",
                    f"the payload's root is {candidate.tag}; the service expects {expected}",
                    data,
                )
            )
        valid = schema.validate(candidate)
        if not valid:
            for entry in cast("Iterable[etree._LogEntry]", schema.error_log):
                if text_line is None:
                    line = entry.line or _source_line(data)
                    message = entry.message
                else:
                    line = text_line
                    message = f"payload text line {entry.line}: {entry.message}"
                findings.append(
                    Finding(check="payload", message=message, file=self.target, line=line)
                )
        return findings

    def _verification_finding(self, exc: VerificationError) -> Finding:
        assert self.root is not None  # noqa: S101
        line = exc.line
        if line is None and exc.field:
            local = exc.field.split("/")[0].split("@")[0] or "Signature"
            for node in self.root.iter():
                if isinstance(node.tag, str) and etree.QName(node).localname == local:
                    line = _source_line(node)
                    break
        return Finding(
            check="trust",
            message=f"rejected ({exc.reason}): {exc.message}",
            file=self.target,
            line=line,
            field=exc.field,
        )

    def _envelope_finding(self, check: str, exc: GatewayError) -> Finding:
        return Finding(
            check=check, message=exc.message, file=self.target, line=exc.line, field=exc.field
        )

    def _finding(
        self,
        check: str,
        message: str,
        node: etree._Element | None,
        *,
        field: str | None = None,
        severity: Severity = Severity.ERROR,
    ) -> Finding:
        return Finding(
            check=check,
            message=message,
            file=self.target,
            line=_source_line(node) if node is not None else None,
            field=field,
            severity=severity,
        )

    def _add(self, check: str, findings: Sequence[Finding], detail: str | None = None) -> None:
        self.results.append(
            _result(self.target, "envelope", check, findings, detail=detail, strict=self.strict)
        )

    def _time(self, seconds: float) -> None:
        if self.results and not self.results[-1].seconds:
            self.results[-1] = replace(self.results[-1], seconds=seconds)

    def _redacted(self, result: CheckResult) -> CheckResult:
        if not self.secrets:
            return result

        def scrub(text: str) -> str:
            # libxml2 and our checks quote the values they show (repr escapes some); a bare
            # substring match is safe for longer secrets, but a short one such as "123" would
            # also hit an IIN, so that is only replaced where it stands quoted.
            for secret in self.secrets:
                for form in dict.fromkeys((secret, repr(secret)[1:-1])):
                    if len(form) >= _SHORT_SECRET:
                        text = text.replace(form, _REDACTED)
                    for quote in ("'", '"'):
                        text = text.replace(f"{quote}{form}{quote}", f"{quote}{_REDACTED}{quote}")
            return text

        return replace(
            result, findings=tuple(replace(f, message=scrub(f.message)) for f in result.findings)
        )


def _role(contract: Contract, tag: str) -> str:
    for operation in contract.operations:
        if contract.input_element(operation) == tag:
            return f"{operation} request"
        if contract.output_element(operation) == tag:
            return f"{operation} response"
        if tag in contract.fault_elements(operation):
            return f"{operation} fault detail"
    return f"{etree.QName(tag).localname} element"


def _service_id(message: etree._Element) -> str | None:
    for path in ("request/requestInfo/serviceId", "request/messageInfo/serviceId"):
        text = message.findtext(path)
        if text and text.strip():
            return text.strip()
    return None


def _payload_root(data: etree._Element, expected: str | None) -> tuple[etree._Element, int | None]:
    """What a service's XSD sees: the element in ``data``, a typed payload wrapped in its root
    element, or an ``xs:string`` payload parsed (then lines count in the text, returned as the
    ``data`` element's line)."""
    kind = _xsi_type(data)
    children = [child for child in data if isinstance(child.tag, str)]
    if kind is not None and kind != f"{{{XSD}}}string":
        name = expected or kind
        wrapper = etree.Element(name, nsmap={p: u for p, u in data.nsmap.items() if p})
        for attribute, value in data.attrib.items():
            if attribute != f"{{{XSI}}}type":
                wrapper.set(attribute, value)
        wrapper.text = data.text
        for child in data:
            wrapper.append(_copy_keeping_lines(child))
        return wrapper, None
    if kind is None and children:
        if len(children) != 1:
            raise EnvelopeError(
                f"data holds {len(children)} elements; a payload is one element",
                field="data",
                line=_source_line(children[1]),
            )
        return _copy_keeping_lines(children[0]), None
    text = data.text or ""
    try:
        return parse_xml(text.encode("utf-8"), source="data").getroot(), _source_line(data)
    except XmlError as exc:
        raise EnvelopeError(
            f"the xs:string payload is not XML: {exc.message}"
            + (f" (payload text line {exc.line})" if exc.line else ""),
            field="data",
            line=_source_line(data),
        ) from exc


def _copy_keeping_lines(element: etree._Element) -> etree._Element:
    return copy.deepcopy(element)  # lxml keeps sourceline on copies


def _xsi_type(data: etree._Element) -> str | None:
    value = data.get(f"{{{XSI}}}type")
    if value is None:
        return None
    prefix, _, local = value.strip().rpartition(":")
    namespace = data.nsmap.get(prefix or None)
    if namespace is None:
        raise EnvelopeError(
            f"xsi:type {value[:64]!r} uses an undeclared prefix",
            field="data",
            line=_source_line(data),
        )
    return f"{{{namespace}}}{local}"


# --------------------------------------------------------------------------- formats


class _FormatChecks:
    """The field formats that schema errors explain badly, with the fix in the message.

    Field types come from the contract's own shapes (``dateTime``, the ``guid`` type), so
    neither edition's type namespaces are assumed.
    """

    def __init__(self, checker: _EnvelopeChecker) -> None:
        assert checker.contract is not None  # noqa: S101  (soap() found the message)
        assert checker.message is not None  # noqa: S101
        self.checker = checker
        self.contract = checker.contract
        self.message = checker.message
        self.findings: list[Finding] = []
        try:
            shape = self.contract.element_shape(str(self.message.tag))
        except GatewayError:
            shape = None
        self.shapes = _shape_paths(shape) if shape is not None else {}
        self.request = checker.role.endswith("request")

    def run(self) -> list[Finding]:
        for node, path in _skeleton(self.message, self.contract.opaque_elements):
            self._qualified(node, path)
            shape = self.shapes.get(path)
            if shape is None or shape.simple is None:
                if node.tag == "data":
                    self._data(node)
                continue
            text = node.text or ""
            local = etree.QName(node).localname
            if shape.simple.base == f"{{{XSD}}}dateTime":
                self._date(node, text, path)
            elif shape.type_name is not None and etree.QName(shape.type_name).localname == "guid":
                self._session(node, text, path)
            elif local in ("messageId", "correlationId"):
                self._id(node, text, path)
        self._chain()
        return self.findings

    def _add(self, node: etree._Element, message: str, path: tuple[str, ...], **kw: object) -> None:
        severity = kw.get("severity", Severity.ERROR)
        self.findings.append(
            self.checker._finding(
                "formats",
                message,
                node,
                field="/".join(path),
                severity=severity if isinstance(severity, Severity) else Severity.ERROR,
            )
        )

    def _qualified(self, node: etree._Element, path: tuple[str, ...]) -> None:
        if node is self.message:
            return
        namespace = etree.QName(node).namespace
        parent = node.getparent()
        if namespace is None or (
            parent is not None and parent is not self.message and etree.QName(parent).namespace
        ):
            return  # unqualified, or inside a qualified ancestor already reported
        local = etree.QName(node).localname
        if (
            namespace == etree.QName(self.message).namespace
            and getattr(node, "prefix", None) is None
        ):
            why = (
                f"the default namespace declared on {etree.QName(self.message).localname} "
                f'leaks into it: declare xmlns="" on {local}, or give the message element '
                "a prefix"
            )
        else:
            why = "remove the namespace (or its prefix)"
        what = (
            "data must be unqualified (no namespace)"
            if local == "data"
            else (f"{local} is a local element: it must be unqualified (no namespace)")
        )
        self._add(node, f"{what}, but it is in {namespace}; {why}", path)

    def _date(self, node: etree._Element, text: str, path: tuple[str, ...]) -> None:
        local = etree.QName(node).localname
        try:
            moment = parse_date_time(text, field=local)
        except EnvelopeError as exc:
            self._add(node, exc.message, path)
            return
        if moment.tzinfo is None:
            self._add(
                node,
                f"{local} {text.strip()!r} has no UTC offset: the gateway reads it in its own "
                "zone; write one, e.g. +06:00",
                path,
                severity=Severity.WARNING,
            )

    def _session(self, node: etree._Element, text: str, path: tuple[str, ...]) -> None:
        local = etree.QName(node).localname
        try:
            parse_session_id(text, field=local)
        except EnvelopeError as exc:
            self._add(node, exc.message, path)
            return
        if self.request and local == "sessionId" and len(path) > 2:
            self._add(
                node,
                "sessionId in a request: the gateway fills it, senders normally leave it out",
                path,
                severity=Severity.WARNING,
            )

    def _id(self, node: etree._Element, text: str, path: tuple[str, ...]) -> None:
        local = etree.QName(node).localname
        if not text.strip():
            self._add(node, f"{local} is empty", path)
        elif text != text.strip():
            self._add(node, f"{local} {text!r} has whitespace around it", path)
        elif any(ord(ch) < 32 for ch in text):
            self._add(node, f"{local} contains control characters", path)

    def _data(self, node: etree._Element) -> None:
        path = (etree.QName(self.message).localname, "data")
        try:
            kind = _xsi_type(node)
        except EnvelopeError as exc:
            self._add(node, exc.message, path)
            return
        elements = [child for child in node if isinstance(child.tag, str)]
        if kind == f"{{{XSD}}}string" and elements:
            self._add(
                node,
                'data is declared xsi:type="xs:string" but holds elements: escape the XML '
                "as text, or drop xsi:type to embed the element",
                path,
            )

    def _chain(self) -> None:
        """An AsyncChannel message other than a REQUEST continues a chain: correlationId."""
        info = self.message.find("request/messageInfo")
        if info is None:
            return
        kind = (info.findtext("messageType") or "").strip()
        if kind and kind != MessageType.REQUEST and not (info.findtext("correlationId") or ""):
            self._add(
                info,
                f"a {kind} message continues a chain: it needs the chain's correlationId",
                (etree.QName(self.message).localname, "request", "messageInfo"),
            )


def _shape_paths(shape: ElementShape) -> dict[tuple[str, ...], ElementShape]:
    paths: dict[tuple[str, ...], ElementShape] = {}
    pending: list[tuple[tuple[str, ...], ElementShape]] = [((shape.name,), shape)]
    while pending:
        path, current = pending.pop()
        paths.setdefault(path, current)
        pending += [((*path, child.name), child) for child in current.children]
    return paths


def _skeleton(
    message: etree._Element, opaque: frozenset[str]
) -> Iterator[tuple[etree._Element, tuple[str, ...]]]:
    """The message's elements with their local-name paths, without payload content."""
    pending: list[tuple[etree._Element, tuple[str, ...]]] = [
        (message, (etree.QName(message).localname,))
    ]
    while pending:
        node, path = pending.pop()
        yield node, path
        if etree.QName(node).localname in opaque and etree.QName(node).namespace is None:
            continue
        pending += [
            (child, (*path, etree.QName(child).localname))
            for child in reversed(node)
            if isinstance(child.tag, str)
        ]


# --------------------------------------------------------------------------- signature profile


def _signature_profile(root: etree._Element, source: str) -> tuple[list[Finding], str, bool]:
    """The transport-signature profile of protocol.md §3, every deviation with its line.

    Returns (findings, detail, signed). Structure only: whether the signature is *valid* and
    *trusted* is the ``trust`` check's business (``verify_envelope``).
    """
    try:
        body = find_body(root)
        header = find_header(root)
    except EnvelopeError as exc:
        return (
            [Finding(check="signature", message=exc.message, file=source, line=exc.line)],
            "",
            True,
        )
    signatures = [
        signature
        for signature in root.iter(qname(DS, "Signature"))
        if not any(ancestor is body for ancestor in signature.iterancestors())
    ]
    if not signatures:
        return [], "not signed (no ds:Signature outside the Body)", False
    profile = _Profile(source, body, header)
    if len(signatures) > 1:
        profile.error(
            signatures[1], f"{len(signatures)} signatures outside the Body; the profile has one"
        )
    profile.check(signatures[0])
    return profile.findings, profile.summary(), True


class _Profile:
    def __init__(self, source: str, body: etree._Element, header: etree._Element | None) -> None:
        self.source = source
        self.body = body
        self.header = header
        self.findings: list[Finding] = []
        self.parts: list[str] = []

    def error(self, node: etree._Element | None, message: str) -> None:
        self._add(node, message, Severity.ERROR)

    def warn(self, node: etree._Element | None, message: str) -> None:
        self._add(node, message, Severity.WARNING)

    def _add(self, node: etree._Element | None, message: str, severity: Severity) -> None:
        self.findings.append(
            Finding(
                check="signature",
                message=message,
                file=self.source,
                line=_source_line(node) if node is not None else None,
                severity=severity,
            )
        )

    def summary(self) -> str:
        return ", ".join(self.parts) or "signed"

    def check(self, signature: etree._Element) -> None:
        self._placement(signature)
        signed_info = signature.find(qname(DS, "SignedInfo"))
        if signed_info is None:
            self.error(signature, "ds:Signature has no SignedInfo")
            return
        if signature.find(qname(DS, "SignatureValue")) is None:
            self.error(signature, "ds:Signature has no SignatureValue")
        c14n = signed_info.find(qname(DS, "CanonicalizationMethod"))
        if c14n is None or c14n.get("Algorithm") != EXC_C14N:
            found = None if c14n is None else c14n.get("Algorithm")
            self.error(
                c14n if c14n is not None else signed_info,
                f"canonicalization {found} is not exc-c14n ({EXC_C14N})",
            )
        digest = self._method(signed_info)
        self._reference(signed_info, digest)
        self._key_info(signature)

    def _placement(self, signature: etree._Element) -> None:
        security = signature.getparent()
        if (
            security is None
            or security.tag != qname(WSSE, "Security")
            or security.getparent() is None
            or security.getparent() is not self.header
        ):
            self.error(signature, "the signature is not in Header/wsse:Security")
            return
        understood = security.get(qname(SOAP11, "mustUnderstand")) or security.get(
            qname(SOAP12, "mustUnderstand")
        )
        if understood not in ("1", "true"):
            self.warn(
                security,
                'wsse:Security has no mustUnderstand="1" (the gateway\'s reference signer sets it)',
            )
        if security.find(qname(WSU, "Timestamp")) is not None:
            self.warn(
                security.find(qname(WSU, "Timestamp")),
                "wsu:Timestamp is not part of the gateway's profile (only the Body is signed)",
            )

    def _method(self, signed_info: etree._Element) -> str | None:
        method = signed_info.find(qname(DS, "SignatureMethod"))
        uri = method.get("Algorithm") if method is not None else None
        if uri in _PROFILE_DIGESTS:
            self.parts.append(uri.rpartition("#")[2].rpartition(":")[2])
            return _PROFILE_DIGESTS[uri]
        if uri == _ECDSA_SHA256:
            self.warn(method, "ecdsa-sha256 is not in the gateway's published algorithm table")
            self.parts.append("ecdsa-sha256")
            return "http://www.w3.org/2001/04/xmlenc#sha256"
        self.error(
            method if method is not None else signed_info,
            f"SignatureMethod {uri} is not in the gateway's profile (rsa-sha256, GOST 34.310, "
            "GOST 34.10-2015)",
        )
        return None

    def _reference(self, signed_info: etree._Element, digest: str | None) -> None:
        references = signed_info.findall(qname(DS, "Reference"))
        if len(references) != 1:
            self.error(
                signed_info, f"{len(references)} References; the profile signs the Body only"
            )
            if not references:
                return
        reference = references[0]
        uri = reference.get("URI") or ""
        body_id = self.body.get(qname(WSU, "Id"))
        if body_id is None:
            self.error(self.body, "the Body has no wsu:Id for the Reference to point at")
        elif uri != f"#{body_id}":
            self.error(
                reference, f"the Reference URI {uri!r} does not point at the Body (#{body_id})"
            )
        else:
            self.parts.append(f"Body {uri}")
        for transform in reference.iterfind(f"{{{DS}}}Transforms/{{{DS}}}Transform"):
            if transform.get("Algorithm") != EXC_C14N:
                self.error(transform, f"transform {transform.get('Algorithm')} is not exc-c14n")
        method = reference.find(qname(DS, "DigestMethod"))
        found = method.get("Algorithm") if method is not None else None
        if digest is not None and found != digest:
            self.error(
                method if method is not None else reference,
                f"DigestMethod {found} does not go with the SignatureMethod (expected {digest})",
            )

    def _key_info(self, signature: etree._Element) -> None:
        token = signature.find(f"{{{DS}}}KeyInfo/{{{WSSE}}}SecurityTokenReference")
        if token is None or len(token) != 1:
            self.error(
                signature.find(qname(DS, "KeyInfo"))
                if signature.find(qname(DS, "KeyInfo")) is not None
                else signature,
                "KeyInfo must hold one wsse:SecurityTokenReference with one reference",
            )
            return
        child = token[0]
        if child.tag == qname(WSSE, "KeyIdentifier"):
            if child.get("ValueType") != WSS_X509V3:
                self.error(child, f"KeyIdentifier ValueType {child.get('ValueType')} is not X509v3")
            if child.get("EncodingType") not in (None, WSS_BASE64):
                self.error(
                    child,
                    f"KeyIdentifier EncodingType {child.get('EncodingType')} is not Base64Binary",
                )
            self.parts.append("KeyIdentifier")
        elif child.tag == qname(WSSE, "Reference"):
            self.warn(
                child,
                "BinarySecurityToken + Reference: whether the gateway accepts it is unconfirmed "
                "(the reference signer embeds an X509v3 KeyIdentifier)",
            )
            self.parts.append("BinarySecurityToken")
        elif child.tag == qname(DS, "X509Data"):
            self.warn(
                child,
                "X509IssuerSerial carries no certificate: the receiver must already have it "
                "(the reference signer embeds an X509v3 KeyIdentifier)",
            )
            self.parts.append("IssuerSerial")
        else:
            self.error(child, f"unsupported token reference {etree.QName(child).localname}")


# --------------------------------------------------------------------------- shared helpers


def _result(
    target: str,
    kind: Literal["contract", "payload", "envelope"],
    check: str,
    findings: Sequence[Finding],
    *,
    detail: str | None,
    seconds: float = 0.0,
    strict: bool,
) -> CheckResult:
    failing = [finding for finding in findings if finding.severity is Severity.ERROR or strict]
    return CheckResult(
        target=target,
        kind=kind,
        check=check,
        status=Status.FAILED if failing else Status.PASSED,
        findings=tuple(findings),
        detail=None if failing else detail,
        seconds=seconds,
    )


def _skipped(
    target: str, kind: Literal["contract", "payload", "envelope"], check: str, why: str
) -> CheckResult:
    return CheckResult(target=target, kind=kind, check=check, status=Status.SKIPPED, detail=why)


def _errors(findings: Iterable[Finding]) -> bool:
    return any(finding.severity is Severity.ERROR for finding in findings)


def _capped(findings: list[Finding], limit: int, check: str, source: str) -> list[Finding]:
    if len(findings) <= limit:
        return findings
    return [*findings[:limit], _more_finding(check, source, len(findings) - limit)]


def _source_line(node: etree._Element | None) -> int | None:
    line = getattr(node, "sourceline", None)
    return line if isinstance(line, int) and line > 0 else None

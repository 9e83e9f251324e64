"""The channel contracts (WSDL + XSD), loaded through zeep strictly offline.

A contract is read only from local files under its directory tree: any http(s) or other URL,
any file outside the tree, any missing import, DOCTYPE or entity declaration raises
:class:`ContractError` naming the file (and the importing file and line where we know them).
zeep never gets a transport that can reach the network: the one it is given reads files, and
its HTTP methods refuse.

Besides the zeep client, each :class:`Contract` carries an lxml ``XMLSchema`` of the channel's
types. The published modular bundles import one namespace from many files, which libxml2
refuses to compile from a single entry file, so the schema is compiled from an in-memory root
that imports every namespace once, through one aggregate document per namespace that includes
all of that namespace's files. Our own ``xsd/`` needs no such help, but both go the same way.

zeep's ``Any`` stays inside this module: callers get lxml elements, strings and our errors.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast
from urllib.parse import unquote, urlparse

import zeep
import zeep.exceptions
import zeep.helpers
import zeep.wsdl.bindings
from lxml import etree

from gateway.errors import ContractError, EnvelopeError, XmlError
from gateway.xmlns import XSD, XSI
from gateway.xmlparse import hardened_parser, parse_xml

__all__ = [
    "DEFAULT_CONTRACTS_DIR",
    "Contract",
    "async_channel",
    "async_channel_client",
    "clear_contract_cache",
    "load_contract",
    "sync_channel",
]

DEFAULT_CONTRACTS_DIR: Final[Path] = Path(__file__).resolve().parents[1]
"""The repository root: our ``wsdl/`` and ``xsd/`` live side by side under it."""

SYNC_CHANNEL_WSDL: Final = Path("wsdl/SyncChannel_v10.wsdl")
ASYNC_CHANNEL_WSDL: Final = Path("wsdl/AsyncChannel_v10.wsdl")
ASYNC_CHANNEL_CLIENT_WSDL: Final = Path("wsdl/AsyncChannelClient_v10.wsdl")

_WSDL: Final = "http://schemas.xmlsoap.org/wsdl/"
_SCHEMA_REFERENCES: Final = frozenset(
    {f"{{{XSD}}}import", f"{{{XSD}}}include", f"{{{XSD}}}redefine"}
)
_SYNTHETIC: Final = "shep-contract:"
_XSI_TYPE: Final = f"{{{XSI}}}type"
_CACHE_SIZE: Final = 16


# --------------------------------------------------------------------------- the contract


@dataclass(frozen=True, slots=True, kw_only=True)
class Contract:
    """One loaded channel contract: operations, a zeep client, and the compiled XSD.

    Built by :func:`load_contract`; cached, so treat it as shared and read-only.
    """

    name: str
    """The portType's local name (``ISyncChannel``), the same in every edition of the bundle."""
    wsdl_path: Path
    root: Path
    """Directory tree the contract may read from; nothing outside it is ever opened."""
    service_name: str
    port_name: str
    operations: tuple[str, ...]
    schema: etree.XMLSchema = field(repr=False, compare=False)
    """All of the channel's types and elements, compiled once."""
    files: tuple[Path, ...] = field(repr=False)
    """Every file read to build the contract (the cache checks their mtimes)."""
    opaque_elements: frozenset[str] = field(repr=False)
    """Local names of ``xsd:anyType`` elements (``data``): payloads are defined per service."""
    elements: frozenset[str] = field(repr=False)
    """Clark names of the global elements: what may stand in a Body or a fault detail."""
    _client: Any = field(repr=False, compare=False)
    _lock: threading.Lock = field(repr=False, compare=False, default_factory=threading.Lock)

    @property
    def zeep_client(self) -> object:
        """The offline zeep client, for what this class does not wrap.

        Typed ``object`` so zeep's ``Any`` does not spread; it can build and parse messages but
        its transport refuses to send (use ``gateway.transport``).
        """
        return self._client

    def soap_action(self, operation: str) -> str:
        """The ``SOAPAction`` header value for ``operation`` (``""`` on every ShEP channel)."""
        action = self._operation(operation).soapaction
        return str(action) if action else ""

    def input_element(self, operation: str) -> str:
        """Clark name of the Body element of ``operation``'s request."""
        return str(self._operation(operation).input.body.qname)

    def output_element(self, operation: str) -> str:
        """Clark name of the Body element of ``operation``'s response."""
        return str(self._operation(operation).output.body.qname)

    def fault_elements(self, operation: str) -> tuple[str, ...]:
        """Clark names of the fault ``detail`` elements (``<op>Fault1_<op>Fault``)."""
        return tuple(
            str(part.element.qname)
            for fault in self._operation(operation).faults.values()
            for part in fault.abstract.parts.values()
            if part.element is not None
        )

    def create_message(self, operation: str, /, **params: object) -> etree._Element:
        """Serialize ``operation``'s request through zeep into a SOAP Envelope element.

        zeep does the contract-driven part: element order, unqualified locals, required
        elements. ``xsd:anyType`` content is written as text; callers that need typed payloads
        replace it afterwards (see ``gateway.envelope``). The result is not yet validated.
        """
        self._operation(operation)
        try:
            envelope = self._client.create_message(self._client.service, operation, **params)
        except zeep.exceptions.ValidationError as exc:
            raise EnvelopeError(
                f"{operation} does not fit {self.name}: {exc.message}", field=_zeep_path(exc)
            ) from exc
        except (zeep.exceptions.Error, TypeError, ValueError, KeyError) as exc:
            raise EnvelopeError(f"{operation} does not fit {self.name}: {exc}") from exc
        if not isinstance(envelope, etree._Element):
            raise ContractError(f"zeep returned {type(envelope).__name__}, not an element")
        return envelope

    def create_response(self, operation: str, /, **params: object) -> etree._Element:
        """Serialize ``operation``'s *response* through zeep into a SOAP Envelope element.

        The server side of :meth:`create_message` (the emulator answers with it); the same
        caveats apply: ``xsd:anyType`` content is text until replaced, and nothing is validated.
        """
        output = self._operation(operation).output
        try:
            serialized = output.serialize(**params)
        except zeep.exceptions.ValidationError as exc:
            raise EnvelopeError(
                f"{operation} response does not fit {self.name}: {exc.message}",
                field=_zeep_path(exc),
            ) from exc
        except (zeep.exceptions.Error, TypeError, ValueError, KeyError) as exc:
            raise EnvelopeError(f"{operation} response does not fit {self.name}: {exc}") from exc
        envelope = getattr(serialized, "content", None)
        if not isinstance(envelope, etree._Element):
            raise ContractError(f"zeep returned {type(envelope).__name__}, not an element")
        return envelope

    def create_element(self, tag: str, /, **params: object) -> etree._Element:
        """Render the global element ``tag`` (Clark name) through zeep, e.g. a fault detail.

        Returns a detached element that declares the namespaces it uses; not yet validated.
        """
        if tag not in self.elements:
            raise EnvelopeError(
                f"{tag} is not a global element of {self.name}", field=etree.QName(tag).localname
            )
        try:
            declaration = self._client.wsdl.types.get_element(tag)
            holder = etree.Element("holder")
            declaration.render(holder, declaration(**params))
        except zeep.exceptions.ValidationError as exc:
            raise EnvelopeError(
                f"{etree.QName(tag).localname} does not fit {self.name}: {exc.message}",
                field=_zeep_path(exc),
            ) from exc
        except (zeep.exceptions.Error, TypeError, ValueError, KeyError) as exc:
            raise EnvelopeError(
                f"{etree.QName(tag).localname} does not fit {self.name}: {exc}"
            ) from exc
        if len(holder) != 1:
            raise ContractError(f"zeep rendered {len(holder)} elements for {tag}")
        element = holder[0]
        holder.remove(element)
        return element

    def validate(self, element: etree._Element, *, message_id: str | None = None) -> None:
        """Check ``element`` (a global element such as ``SendMessage``) against the XSD.

        Raises :class:`EnvelopeError` whose ``field`` is the path of the first offending
        element and ``line`` its source line (for parsed input). Payloads inside ``data`` are
        not checked: their formats are defined per service, outside this contract. The element
        is not modified.
        """
        if not isinstance(element, etree._Element) or not isinstance(element.tag, str):
            raise EnvelopeError("expected an XML element to validate", message_id=message_id)
        if element.tag not in self.elements:
            raise EnvelopeError(
                f"{element.tag} is not a message element of {self.name} "
                "(pass the Body's child, e.g. envelope.find_body_element(...))",
                field=etree.QName(element).localname,
                line=_source_line(element),
                message_id=message_id,
            )
        candidate = self._without_payloads(element)
        with self._lock:  # an XMLSchema's error_log is shared by every caller
            valid = self.schema.validate(candidate)
            errors = list(cast("Iterable[etree._LogEntry]", self.schema.error_log))
        if valid:
            return
        first = errors[0] if errors else None
        if first is None:
            raise EnvelopeError(
                f"{etree.QName(element).localname} does not fit {self.name}",
                message_id=message_id,
            )
        culprit = _error_element(candidate, first.path)
        raise EnvelopeError(
            f"does not fit {self.name}: {first.message}",
            field=_element_path(culprit) if culprit is not None else _readable_path(first.path),
            line=first.line or (_source_line(culprit) if culprit is not None else None),
            message_id=message_id,
        )

    def decode(self, element: etree._Element) -> dict[str, object]:
        """Read a message element (request, response, fault detail) into dicts and lists.

        zeep does the reading, so it follows this contract's types; ``data`` comes back as
        text or as the raw lxml children. Validate first if the input is untrusted: zeep is
        lenient about, for example, qualified local elements.
        """
        types = self._client.wsdl.types
        try:
            declaration = types.get_element(element.tag)
            value = declaration.parse(element, types)
        except zeep.exceptions.LookupError as exc:
            raise EnvelopeError(
                f"{element.tag} is not a message element of {self.name}",
                field=etree.QName(element).localname,
            ) from exc
        except (zeep.exceptions.Error, ValueError, TypeError, KeyError) as exc:
            raise EnvelopeError(
                f"zeep cannot read {etree.QName(element).localname}: {exc}",
                field=etree.QName(element).localname,
                line=_source_line(element),
            ) from exc
        result = zeep.helpers.serialize_object(value, dict)  # type: ignore[no-untyped-call]  # zeep
        if isinstance(result, dict):
            return result
        return {etree.QName(element).localname: result}

    def _without_payloads(self, element: etree._Element) -> etree._Element:
        # A copy keeps the caller's tree untouched (and its source lines, which lxml copies);
        # anyType payloads are emptied because their xsi:type names types we do not have.
        candidate = copy.deepcopy(element)
        candidate.tail = None
        for node in candidate.iter():
            if isinstance(node.tag, str) and etree.QName(node).localname in self.opaque_elements:
                if etree.QName(node).namespace is not None:
                    continue  # locals are unqualified: a qualified `data` is not the payload
                if _XSI_TYPE in node.attrib:
                    del node.attrib[_XSI_TYPE]
                node.text = None
                for child in list(node):
                    node.remove(child)
        return candidate

    def _operation(self, operation: str) -> Any:
        try:
            return self._client.service._binding._operations[operation]
        except KeyError:
            known = ", ".join(self.operations)
            raise ContractError(
                f"{self.name} has no operation {operation!r} (it has: {known})",
                file=str(self.wsdl_path),
            ) from None


# --------------------------------------------------------------------------- public loaders


def load_contract(wsdl_path: Path, *, root: Path | None = None) -> Contract:
    """Load the WSDL at ``wsdl_path`` and everything it imports, offline.

    ``root`` bounds what may be read; by default it is the WSDL's grandparent, which fits our
    ``wsdl/`` + ``xsd/`` layout. The published bundle keeps its WSDLs three levels deep, so
    pass its top directory. Cached: loading an unchanged contract again returns the same
    object; touching any of its files reloads it.
    """
    path = Path(wsdl_path).expanduser().resolve()
    base = (Path(root).expanduser() if root is not None else path.parent.parent).resolve()
    return _CACHE.get_or_load(path, base)


def sync_channel(contracts_dir: Path | None = None) -> Contract:
    """SyncChannel v10 (``ISyncChannel``, operation ``SendMessage``)."""
    return _load_bundled(contracts_dir, SYNC_CHANNEL_WSDL)


def async_channel(contracts_dir: Path | None = None) -> Contract:
    """AsyncChannel v10, gateway side (``IAsyncChannel``: sendMessage, getMessages, ...)."""
    return _load_bundled(contracts_dir, ASYNC_CHANNEL_WSDL)


def async_channel_client(contracts_dir: Path | None = None) -> Contract:
    """AsyncChannel v10 push side (``IAsyncChannelClient``), which an integrated system serves."""
    return _load_bundled(contracts_dir, ASYNC_CHANNEL_CLIENT_WSDL)


def clear_contract_cache() -> None:
    """Forget every loaded contract (tests, or after replacing contract files in place)."""
    _CACHE.clear()


def _load_bundled(contracts_dir: Path | None, relative: Path) -> Contract:
    base = DEFAULT_CONTRACTS_DIR if contracts_dir is None else Path(contracts_dir)
    return load_contract(base / relative, root=base)


# --------------------------------------------------------------------------- cache


@dataclass(frozen=True, slots=True)
class _Entry:
    contract: Contract
    stamps: tuple[tuple[Path, int], ...]

    def is_current(self) -> bool:
        try:
            return all(path.stat().st_mtime_ns == mtime for path, mtime in self.stamps)
        except OSError:
            return False


class _ContractCache:
    """A small LRU of loaded contracts, keyed on (WSDL path, root), checked by file mtimes.

    Loading holds the lock: contracts load rarely, and two threads asking for the same one
    should not both pay for zeep's parse.
    """

    def __init__(self, maxsize: int) -> None:
        self._maxsize = maxsize
        self._entries: OrderedDict[tuple[Path, Path], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_load(self, wsdl_path: Path, root: Path) -> Contract:
        key = (wsdl_path, root)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.is_current():
                self._entries.move_to_end(key)
                return entry.contract
            contract, stamps = _load(wsdl_path, root)
            self._entries[key] = _Entry(contract, stamps)
            self._entries.move_to_end(key)
            while len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)
            return contract

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_CACHE: Final = _ContractCache(_CACHE_SIZE)


# --------------------------------------------------------------------------- local files


@dataclass(frozen=True, slots=True)
class _Document:
    path: Path
    data: bytes
    tree: etree._ElementTree
    mtime_ns: int


class _LocalFiles:
    """Reads contract files: local, under ``root``, existing, and free of DOCTYPE/entities.

    The one gate both zeep (through :class:`_OfflineTransport`) and our schema walk go
    through, so they cannot disagree about what a contract may read.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._documents: dict[Path, _Document] = {}

    @property
    def documents(self) -> Mapping[Path, _Document]:
        return self._documents

    def locate(self, location: str, *, referrer: Path | None, line: int | None = None) -> Path:
        """Turn an import location into a checked absolute path, or say exactly why not."""
        where = str(referrer) if referrer is not None else None
        parsed = urlparse(location)
        if parsed.scheme == "file":
            if parsed.netloc not in ("", "localhost"):
                raise ContractError(
                    f"refusing to read {location}: a file URL on another host",
                    file=where,
                    line=line,
                )
            candidate = Path(unquote(parsed.path))
        elif parsed.scheme:
            raise ContractError(
                f"refusing to fetch {location}: contracts are loaded offline, "
                f"from files under {self.root} only",
                file=where,
                line=line,
            )
        else:
            candidate = Path(location)
            if not candidate.is_absolute():
                candidate = (referrer.parent if referrer is not None else self.root) / candidate
        resolved = candidate.resolve()
        if not resolved.is_relative_to(self.root):
            raise ContractError(
                f"refusing to read {location}: {resolved} is outside the contract directory "
                f"{self.root}",
                file=where,
                line=line,
            )
        if not resolved.is_file():
            if referrer is None:
                raise ContractError(f"{resolved} does not exist", file=str(resolved))
            raise ContractError(
                f"imports {location}, which does not exist ({resolved})", file=where, line=line
            )
        return resolved

    def read(self, path: Path) -> _Document:
        """Read and safety-check an already located file, once per load."""
        known = self._documents.get(path)
        if known is not None:
            return known
        try:
            mtime_ns = path.stat().st_mtime_ns
            data = path.read_bytes()
        except OSError as exc:
            raise ContractError(
                f"cannot read contract file: {exc.strerror}", file=str(path)
            ) from exc
        try:
            tree = parse_xml(data, source=str(path))
        except XmlError as exc:
            raise ContractError(exc.message, file=str(path), line=exc.line) from exc
        document = _Document(path, data, tree, mtime_ns)
        self._documents[path] = document
        return document


class _OfflineTransport:
    """What zeep gets instead of ``zeep.Transport``: it reads local files and never sends.

    Duck-typed rather than subclassed: ``Transport.__init__`` would build a requests session
    we must not have. ``binding_classes`` limits zeep to SOAP 1.1 bindings, the only kind the
    gateway speaks.
    """

    binding_classes: Final = (zeep.wsdl.bindings.Soap11Binding,)

    def __init__(self, files: _LocalFiles) -> None:
        self._files = files

    def load(self, url: str) -> bytes:
        return self._files.read(self._files.locate(str(url), referrer=None)).data

    def get(self, address: str, params: object, headers: object) -> object:
        raise self._refuse(address)

    def post(self, address: str, message: object, headers: object) -> object:
        raise self._refuse(address)

    def post_xml(self, address: str, envelope: object, headers: object) -> object:
        raise self._refuse(address)

    def close(self) -> None:
        """Nothing to close: no session was ever opened."""

    @staticmethod
    def _refuse(address: str) -> ContractError:
        return ContractError(
            f"the contract's zeep client does not send (asked to call {address}); "
            "use gateway.transport"
        )


# --------------------------------------------------------------------------- loading


@dataclass(slots=True)
class _SchemaDocument:
    url: str
    """Where libxml2 finds it: a file URI, or a synthetic URL for a schema inline in a WSDL."""
    data: bytes
    base_url: str
    namespace: str | None
    path: Path


@dataclass(slots=True)
class _Walk:
    """Every schema document reachable from a WSDL, and how their namespaces depend."""

    schemas: list[_SchemaDocument] = field(default_factory=list)
    imports: dict[str | None, list[str | None]] = field(default_factory=dict)
    opaque: set[str] = field(default_factory=set)
    elements: set[str] = field(default_factory=set)
    bindings: dict[str, tuple[Path, tuple[str, ...]]] = field(default_factory=dict)
    """Binding Clark name -> (its WSDL, the operations it declares)."""
    seen: set[Path] = field(default_factory=set)
    inline_count: int = 0


def _load(wsdl_path: Path, root: Path) -> tuple[Contract, tuple[tuple[Path, int], ...]]:
    if not root.is_dir():
        raise ContractError(f"contract directory {root} does not exist", file=str(wsdl_path))
    files = _LocalFiles(root)
    entry = files.locate(str(wsdl_path), referrer=None)
    walk = _Walk()
    _visit(files, entry, walk)
    # libxml2 first: it names the file and line of a broken type reference, zeep does not.
    schema = _compile_schema(walk, files, entry)
    client = _zeep_client(entry, files)
    name, service_name, port_name, operations = _describe(client, entry, walk)
    contract = Contract(
        name=name,
        wsdl_path=entry,
        root=root,
        service_name=service_name,
        port_name=port_name,
        operations=operations,
        schema=schema,
        files=tuple(files.documents),
        opaque_elements=frozenset(walk.opaque),
        elements=frozenset(walk.elements),
        _client=client,
    )
    stamps = tuple((doc.path, doc.mtime_ns) for doc in files.documents.values())
    return contract, stamps


def _visit(files: _LocalFiles, path: Path, walk: _Walk) -> None:
    if path in walk.seen:
        return
    walk.seen.add(path)
    document = files.read(path)
    top = document.tree.getroot()
    if top.tag == f"{{{_WSDL}}}definitions":
        for wsdl_import in top.iterfind(f"{{{_WSDL}}}import"):
            location = wsdl_import.get("location")
            if location:
                target = files.locate(location, referrer=path, line=_source_line(wsdl_import))
                _visit(files, target, walk)
        namespace = top.get("targetNamespace")
        for binding in top.iterfind(f"{{{_WSDL}}}binding"):
            walk.bindings[f"{{{namespace}}}{binding.get('name')}"] = (
                path,
                tuple(str(op.get("name")) for op in binding.iterfind(f"{{{_WSDL}}}operation")),
            )
        for schema in top.iterfind(f"{{{_WSDL}}}types/{{{XSD}}}schema"):
            walk.inline_count += 1
            url = f"{_SYNTHETIC}inline/{walk.inline_count}/{path.name}"
            data = etree.tostring(schema)  # lxml carries the WSDL's namespace declarations
            _visit_schema(files, schema, path=path, url=url, data=data, walk=walk)
    elif top.tag == f"{{{XSD}}}schema":
        _visit_schema(files, top, path=path, url=path.as_uri(), data=document.data, walk=walk)
    else:
        raise ContractError(
            f"not a WSDL or XSD document (root element {top.tag})", file=str(path), line=1
        )


def _visit_schema(
    files: _LocalFiles,
    schema: etree._Element,
    *,
    path: Path,
    url: str,
    data: bytes,
    walk: _Walk,
) -> None:
    namespace = schema.get("targetNamespace")
    walk.schemas.append(_SchemaDocument(url, data, path.as_uri(), namespace, path))
    dependencies = walk.imports.setdefault(namespace, [])
    for node in schema.iter(f"{{{XSD}}}element"):
        name = node.get("name")
        if not name:
            continue
        if node.getparent() is schema:
            walk.elements.add(f"{{{namespace}}}{name}" if namespace else name)
        elif _is_any_type(node):
            walk.opaque.add(name)
    for reference in schema:
        if reference.tag not in _SCHEMA_REFERENCES:
            continue
        if reference.tag == f"{{{XSD}}}import":
            dependencies.append(reference.get("namespace"))
        location = reference.get("schemaLocation")
        if location:
            target = files.locate(location, referrer=path, line=_source_line(reference))
            _visit(files, target, walk)


def _is_any_type(node: etree._Element) -> bool:
    declared = node.get("type")
    if declared is None:
        # No type, no inline type and no ref: the XSD default, anyType.
        return node.get("ref") is None and len(node) == sum(
            1 for child in node if child.tag == f"{{{XSD}}}annotation"
        )
    prefix, _, local = declared.rpartition(":")
    return local == "anyType" and node.nsmap.get(prefix or None) == XSD


def _zeep_client(entry: Path, files: _LocalFiles) -> Any:
    settings = zeep.Settings(
        strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        return zeep.Client(  # type: ignore[no-untyped-call]  # zeep is not annotated
            str(entry), transport=_OfflineTransport(files), settings=settings
        )
    except ContractError:
        raise
    except zeep.exceptions.ExternalReferenceForbidden as exc:
        raise ContractError(
            f"refusing to fetch {exc.url}: contracts are loaded offline", file=str(entry)
        ) from exc
    except zeep.exceptions.XMLParseError as exc:
        raise ContractError(
            f"zeep cannot use the contract: {exc.message}",
            file=exc.filename or str(entry),
            line=exc.sourceline,
        ) from exc
    except (zeep.exceptions.Error, etree.LxmlError, ValueError, LookupError, TypeError) as exc:
        # zeep reports a missing portType, message or binding as IndexError/KeyError.
        raise ContractError(f"zeep cannot use the contract: {exc}", file=str(entry)) from exc


def _describe(client: Any, entry: Path, walk: _Walk) -> tuple[str, str, str, tuple[str, ...]]:
    for service in client.wsdl.services.values():
        for port in service.ports.values():
            binding = port.binding
            name = etree.QName(binding.port_name).localname
            operations = tuple(binding._operations)
            _check_operations(str(binding.name), operations, walk, entry)
            return name, str(service.name), str(port.name), operations
    raise ContractError(
        "the WSDL defines no service with a SOAP 1.1 port (the gateway speaks only SOAP 1.1)",
        file=str(entry),
    )


def _check_operations(binding: str, resolved: tuple[str, ...], walk: _Walk, entry: Path) -> None:
    # zeep only warns and drops an operation whose portType operation, message or element
    # does not resolve; a contract missing an operation must not load as if it were fine.
    where, declared = walk.bindings.get(binding, (entry, resolved))
    missing = [operation for operation in declared if operation not in resolved]
    if missing or not resolved:
        raise ContractError(
            f"binding {etree.QName(binding).localname} declares operation(s) "
            f"{', '.join(missing) or '(none)'} that do not resolve to a portType operation "
            "with messages and elements (zeep's warnings name the broken reference)",
            file=str(where),
        )


# --------------------------------------------------------------------------- XSD compilation


def _compile_schema(walk: _Walk, files: _LocalFiles, entry: Path) -> etree.XMLSchema:
    synthetic: dict[str, tuple[bytes, str]] = {
        doc.url: (doc.data, doc.base_url) for doc in walk.schemas if doc.url.startswith(_SYNTHETIC)
    }
    groups: dict[str | None, list[_SchemaDocument]] = {}
    for doc in walk.schemas:
        groups.setdefault(doc.namespace, []).append(doc)

    parser = hardened_parser()
    resolver = _SchemaResolver(files, synthetic)
    parser.resolvers.add(resolver)
    top = parser.makeelement(f"{{{XSD}}}schema", nsmap={"xs": XSD})
    for index, namespace in enumerate(_dependency_order(walk.imports, groups)):
        members = groups[namespace]
        if len(members) == 1:
            location = members[0].url
        else:
            location = f"{_SYNTHETIC}aggregate/{index}.xsd"
            synthetic[location] = (_aggregate(namespace, members), location)
        attributes = {"schemaLocation": location}
        if namespace is not None:
            attributes["namespace"] = namespace
        etree.SubElement(top, f"{{{XSD}}}import", attributes)
    try:
        return etree.XMLSchema(top)
    except etree.XMLSchemaParseError as exc:
        if resolver.refused:
            raise ContractError(
                f"schema refers to {resolver.refused[0]}, which is not part of the contract",
                file=str(entry),
            ) from exc
        error = exc.error_log.last_error if exc.error_log else None
        where = _path_of(error.filename) if error is not None and error.filename else None
        if where is None or where not in files.documents:
            # The in-memory root or an aggregate: no file of the user's to point at.
            raise ContractError(
                f"lxml cannot compile the contract's schema: {error.message if error else exc}",
                file=str(entry),
            ) from exc
        raise ContractError(
            f"lxml cannot compile the contract's schema: {error.message if error else exc}",
            file=str(where),
            line=error.line if error is not None and error.line else None,
        ) from exc


def _dependency_order(
    imports: Mapping[str | None, list[str | None]],
    groups: Mapping[str | None, list[_SchemaDocument]],
) -> Iterator[str | None]:
    # Imported namespaces first: libxml2 keeps the first import of a namespace and skips later
    # ones, so each aggregate must be in place before any file imports a part of it.
    done: set[str | None] = set()
    active: set[str | None] = set()

    def visit(namespace: str | None) -> Iterator[str | None]:
        if namespace in done or namespace in active or namespace not in groups:
            return
        active.add(namespace)
        for dependency in imports.get(namespace, ()):
            yield from visit(dependency)
        active.discard(namespace)
        done.add(namespace)
        yield namespace

    for namespace in groups:
        yield from visit(namespace)


def _aggregate(namespace: str | None, members: list[_SchemaDocument]) -> bytes:
    top = etree.Element(f"{{{XSD}}}schema", nsmap={"xs": XSD})
    if namespace is not None:
        top.set("targetNamespace", namespace)
    for member in members:
        etree.SubElement(top, f"{{{XSD}}}include", schemaLocation=member.url)
    return etree.tostring(top)


class _SchemaResolver(etree.Resolver):
    """Serves libxml2 the documents our walk already read and checked, and nothing else."""

    def __init__(self, files: _LocalFiles, synthetic: Mapping[str, tuple[bytes, str]]) -> None:
        super().__init__()
        self._files = files
        self._synthetic = synthetic
        self.refused: list[str] = []

    def resolve(  # type: ignore[override]  # lxml-stubs omit the context argument
        self, system_url: str, public_id: str, context: object
    ) -> Any:
        known = self._synthetic.get(system_url)
        if known is not None:
            data, base_url = known
            return self.resolve_string(data, context, base_url=base_url)
        path = _path_of(system_url)
        document = self._files.documents.get(path) if path is not None else None
        if document is None:
            # lxml swallows exceptions raised here; remember the URL and fail the compile.
            self.refused.append(system_url)
            return self.resolve_string(b"<refused/>", context, base_url=None)
        return self.resolve_string(document.data, context, base_url=path.as_uri() if path else None)


def _path_of(url: str) -> Path | None:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path)).resolve()
    if not parsed.scheme and url:
        return Path(url).resolve()
    return None


# --------------------------------------------------------------------------- error paths


def _source_line(node: etree._Element) -> int | None:
    """``node.sourceline`` as lxml gives it at run time (lxml-stubs mistype it)."""
    line = getattr(node, "sourceline", None)
    return line if isinstance(line, int) and line > 0 else None


def _error_element(root: etree._Element, xpath: str | None) -> etree._Element | None:
    """The element libxml2's error path points at (its paths use ``*`` for default namespaces)."""
    if not xpath:
        return None
    prefixes: dict[str, str] = {}
    for node in root.iter():
        for prefix, uri in node.nsmap.items():
            if prefix:
                prefixes.setdefault(prefix, uri)
    try:
        found = root.getroottree().xpath(xpath, namespaces=prefixes)
    except etree.XPathError:
        return None
    if isinstance(found, list) and len(found) == 1 and isinstance(found[0], etree._Element):
        return found[0]
    return None


def _element_path(element: etree._Element) -> str:
    """``SendMessage/request/requestInfo/properties[2]/key``: local names, 1-based indexes."""
    steps: list[str] = []
    node: etree._Element | None = element
    while node is not None:
        step = etree.QName(node).localname
        parent = node.getparent()
        if parent is not None:
            twins = [sibling for sibling in parent if sibling.tag == node.tag]
            if len(twins) > 1:
                step += f"[{twins.index(node) + 1}]"
        steps.append(step)
        node = parent
    return "/".join(reversed(steps))


def _readable_path(xpath: str | None) -> str | None:
    """``/ns0:SendMessage/request/requestInfo/sessionId`` -> ``SendMessage/request/...``."""
    if not xpath:
        return None
    steps = [step.rpartition(":")[2] for step in xpath.strip("/").split("/")]
    return "/".join(steps) or None


def _zeep_path(exc: Any) -> str | None:
    path = getattr(exc, "path", None)
    if not path:
        return None
    return "/".join(str(step) for step in path)

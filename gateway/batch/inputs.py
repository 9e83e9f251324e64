"""Batch inputs, streamed: a directory of XML files, a JSONL file, or a CSV manifest.

The journal keeps only where each payload is (a file, or a file and a byte range), never the
payload: memory stays flat however many items are queued, and a resend reads the same bytes
again. ``load_payload`` turns a reference back into what the client sends.

- directory: every ``*.xml`` file; key = its name.
- JSONL: one object a line: ``{"key": "...", "data": "<xml or text>", "service": "...",
  "text": false}``; ``text: true`` sends ``data`` as an xs:string.
- CSV manifest: header ``key,file[,service]``; ``file`` relative to the manifest.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from gateway.batch.journal import NewItem
from gateway.errors import InputError
from gateway.xmlparse import parse_xml

__all__ = ["iter_items", "load_payload"]

_MAX_PAYLOAD = 64 * 1024 * 1024


def iter_items(source: Path) -> Iterator[NewItem]:
    """The items of ``source``, one at a time; errors name the file and line."""
    if source.is_dir():
        return _from_directory(source)
    if not source.is_file():
        raise InputError("batch input does not exist", file=str(source))
    if source.suffix.lower() == ".jsonl":
        return _from_jsonl(source)
    if source.suffix.lower() == ".csv":
        return _from_csv(source)
    raise InputError("batch input must be a directory, a .jsonl or a .csv file", file=str(source))


def _ref(**fields: object) -> str:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def _from_directory(directory: Path) -> Iterator[NewItem]:
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_file() and entry.name.lower().endswith(".xml"):
                path = str(Path(entry.path).resolve())
                yield NewItem(key=entry.name, ref=_ref(kind="file", path=path))


def _from_jsonl(path: Path) -> Iterator[NewItem]:
    resolved = str(path.resolve())
    seen_offset = 0
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            offset = seen_offset
            seen_offset += len(line)
            if not line.strip():
                continue
            record = _json_record(line, path, number)
            key = record.get("key")
            if not isinstance(key, str) or not key:
                raise InputError(
                    "each line needs a non-empty string 'key'", file=str(path), line=number
                )
            if not isinstance(record.get("data"), str):
                raise InputError("'data' must be a string", file=str(path), line=number, field=key)
            service = record.get("service")
            yield NewItem(
                key=key,
                ref=_ref(kind="jsonl", path=resolved, offset=offset, length=len(line), line=number),
                service_id=service if isinstance(service, str) and service else None,
            )


def _json_record(line: bytes, path: Path, number: int) -> dict[str, object]:
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not a JSON object: {exc}", file=str(path), line=number) from exc
    if not isinstance(record, dict):
        raise InputError("not a JSON object", file=str(path), line=number)
    return record


def _from_csv(path: Path) -> Iterator[NewItem]:
    base = path.resolve().parent
    with path.open("rb") as handle:
        reader = csv.DictReader(_utf8_lines(handle, path))
        try:
            yield from _csv_rows(reader, path, base)
        except csv.Error as exc:
            raise InputError(
                f"not a readable CSV manifest: {exc}", file=str(path), line=reader.line_num
            ) from exc


def _utf8_lines(handle: BinaryIO, path: Path) -> Iterator[str]:
    """The lines of a UTF-8 file (a spreadsheet's byte order mark allowed); an undecodable
    one is named by its number."""
    for number, raw in enumerate(handle, start=1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8: {exc.reason}", file=str(path), line=number) from exc


def _csv_rows(reader: csv.DictReader[str], path: Path, base: Path) -> Iterator[NewItem]:
    if reader.fieldnames is None or not {"key", "file"} <= set(reader.fieldnames):
        raise InputError(
            "a CSV manifest needs the columns key,file[,service]", file=str(path), line=1
        )
    for row in reader:
        key, file = (row.get("key") or "").strip(), (row.get("file") or "").strip()
        if not key or not file:
            raise InputError("empty key or file", file=str(path), line=reader.line_num)
        target = Path(file) if Path(file).is_absolute() else base / file
        service = (row.get("service") or "").strip() or None
        yield NewItem(key=key, ref=_ref(kind="file", path=str(target)), service_id=service)


def load_payload(ref: str, *, key: str | None = None) -> etree._Element | str:
    """Read an item's payload again from its reference: an XML element, or text. With
    ``key``, a JSONL line must still hold that item (the file may have changed since)."""
    where = json.loads(ref)
    path = Path(where["path"])
    try:
        if where["kind"] == "file":
            with path.open("rb") as handle:
                data = handle.read(_MAX_PAYLOAD + 1)
            return parse_xml(data, source=str(path), max_bytes=_MAX_PAYLOAD).getroot()
        with path.open("rb") as handle:
            handle.seek(where["offset"])
            line = handle.read(where["length"])
    except OSError as exc:
        raise InputError(f"cannot read payload: {exc.strerror}", file=str(path)) from exc
    record = _json_record(line, path, where["line"])
    if key is not None and record.get("key") != key:
        raise InputError(
            f"the input changed since it was journaled: this line no longer holds item {key!r}",
            file=str(path),
            line=where["line"],
        )
    data_text = str(record["data"])
    if record.get("text") is True:
        return data_text
    return parse_xml(
        data_text.encode("utf-8"), source=f"{path}:{where['line']}", max_bytes=_MAX_PAYLOAD
    ).getroot()

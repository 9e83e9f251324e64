"""Peak memory and time of validating a large payload against its XSD, ours vs lxml baselines.

``shep validate --payload`` streams the document through libxml2's validating parser and drops
each element once read, so memory should not grow with the payload. This measures, for one
payload of ``--size`` MB (default 50) of realistic person records (Kazakh and Russian text):

* ours: ``gateway.validate.check_payload_file`` on the valid payload, and on a copy with three
  errors (the second, line-locating pass runs then);
* lxml bytes: read the file into bytes, ``etree.fromstring`` (hardened parser), validate the tree;
* lxml tree: ``etree.parse`` the file (no bytes copy), validate the tree;
* the whole ``shep validate`` CLI process (absolute peak RSS: interpreter and imports included).

Each measurement runs in a fresh subprocess: one warm-up on a small payload (imports, schema
compile), then the kernel's peak-RSS mark is reset (/proc/self/clear_refs, as bench_sign.py
does) and the peak growth over the RSS before the call is printed as bytes and as a multiple
of the input size. The target is ours < 4x the input. Run from the repository root:

    .venv/bin/python bench/bench_validate.py [--size MB] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from lxml import etree
from peakrss import peak_rss, reset_peak_rss, status_bytes  # bench/peakrss.py

from gateway.validate import ServiceSchema, Status, check_payload_file
from gateway.xmlparse import hardened_parser

MIB = 1024 * 1024
TARGET = 4.0
"""Peak RSS growth of ours, as a multiple of the payload size, that we stay under."""

NS = "urn:kz:gov:bench:persons:v1"
XSD = f"""<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:p="{NS}" targetNamespace="{NS}"
           elementFormDefault="qualified">
  <xs:element name="persons">
    <xs:complexType><xs:sequence>
      <xs:element name="person" type="p:Person" maxOccurs="unbounded"/>
    </xs:sequence></xs:complexType>
  </xs:element>
  <xs:simpleType name="iin"><xs:restriction base="xs:string">
    <xs:pattern value="[0-9]{{12}}"/></xs:restriction></xs:simpleType>
  <xs:complexType name="Person"><xs:sequence>
    <xs:element name="iin" type="p:iin"/>
    <xs:element name="last" type="xs:string"/>
    <xs:element name="first" type="xs:string"/>
    <xs:element name="middle" type="xs:string" minOccurs="0"/>
    <xs:element name="birth" type="xs:date"/>
    <xs:element name="address" type="xs:string"/>
    <xs:element name="document" maxOccurs="unbounded"><xs:complexType><xs:sequence>
      <xs:element name="number" type="xs:string"/>
      <xs:element name="issuer" type="xs:string"/>
      <xs:element name="issued" type="xs:date"/>
    </xs:sequence><xs:attribute name="type" type="xs:string"/></xs:complexType></xs:element>
    <xs:element name="remark" type="xs:string" minOccurs="0"/>
  </xs:sequence><xs:attribute name="seq" type="xs:int"/></xs:complexType>
</xs:schema>
"""
_LAST = ("Жұмабеков", "Нұрланова", "Сейтқали", "Әбдірахманова", "Қасымов", "Смагулова")
_FIRST = ("Дәурен", "Айгүл", "Бауыржан", "Гүлнар", "Нұрсұлтан", "Жанар")
_MIDDLE = ("Серікұлы", "Болатқызы", "Сергеевич", "Маратовна", "Қайратұлы", "Ерланқызы")
_PLACES = ("Астана, пр. Абая", "Алматы, ул. Сәтпаева", "Түркістан облысы, ул. Кенесары")
_ISSUERS = ("МВД РК", "Министерство юстиции РК", "ҚР Ішкі істер министрлігі")  # noqa: RUF001
_REMARK = "Сведения предоставлены в рамках оказания государственной услуги."


def _person(index: int, iin: str | None = None) -> str:
    pick = lambda pool, step: pool[(index * step) % len(pool)]  # noqa: E731
    iin = iin or f"{(900101300017 + index * 7919) % 10**12:012d}"
    return (
        f'  <p:person seq="{index}">\n'
        f"    <p:iin>{iin}</p:iin>\n"
        f"    <p:last>{pick(_LAST, 1)}</p:last>\n"
        f"    <p:first>{pick(_FIRST, 5)}</p:first>\n"
        f"    <p:middle>{pick(_MIDDLE, 7)}</p:middle>\n"
        f"    <p:birth>19{60 + index % 40}-{1 + index % 12:02d}-{1 + index % 28:02d}</p:birth>\n"
        f"    <p:address>{pick(_PLACES, 3)}, д. {1 + index % 120}, кв. {1 + index % 300}"
        "</p:address>\n"
        f'    <p:document type="удостоверение личности"><p:number>0{index % 10**8:08d}'
        f"</p:number><p:issuer>{pick(_ISSUERS, 1)}</p:issuer>"
        f"<p:issued>20{10 + index % 14}-01-15</p:issued></p:document>\n"
        f"    <p:remark>{_REMARK}</p:remark>\n"
        "  </p:person>\n"
    )


def write_payload(path: Path, size: int, *, bad_records: frozenset[int] = frozenset()) -> int:
    """A pretty-printed payload of about ``size`` bytes; the records in ``bad_records`` get an
    IIN the XSD's pattern refuses. Returns the number of records."""
    records = 0
    with path.open("w", encoding="utf-8") as out:
        written = out.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<p:persons xmlns:p="{NS}">\n')
        while written < size:
            text = _person(records, "bad" if records in bad_records else None)
            written += len(text.encode())
            out.write(text)
            records += 1
        out.write("</p:persons>\n")
    return records


# --------------------------------------------------------------------------- probes


def _ours(payload: Path, xsd: Path) -> object:
    service = ServiceSchema(service_id="BENCH", xsd=xsd, root="p:persons")
    results = check_payload_file(payload, service)  # compiles the XSD, as the CLI does
    failed = [f for r in results if r.status is Status.FAILED for f in r.findings]
    return [(f.line, f.column) for f in failed]


def _lxml_bytes(payload: Path, xsd: Path) -> object:
    schema = etree.XMLSchema(etree.parse(str(xsd), hardened_parser()))
    data = payload.read_bytes()
    root = etree.fromstring(data, hardened_parser(huge_tree=True))
    valid = schema.validate(root)
    return [(e.line, e.column) for e in schema.error_log] if not valid else []


def _lxml_tree(payload: Path, xsd: Path) -> object:
    schema = etree.XMLSchema(etree.parse(str(xsd), hardened_parser()))
    tree = etree.parse(str(payload), hardened_parser(huge_tree=True))
    valid = schema.validate(tree)
    return [(e.line, e.column) for e in schema.error_log] if not valid else []


KINDS = {"ours": _ours, "lxml-bytes": _lxml_bytes, "lxml-tree": _lxml_tree}


def rss_probe(kind: str, payload: Path, warmup: Path, xsd: Path) -> dict[str, object]:
    """Child process: peak RSS growth and time of one validation of ``payload``."""
    run = KINDS[kind]
    run(warmup, xsd)
    gc.collect()
    reset = reset_peak_rss()
    before = status_bytes("VmRSS") or peak_rss()
    started = time.perf_counter()
    errors = run(payload, xsd)
    seconds = time.perf_counter() - started
    peak = peak_rss()
    return {
        "input": payload.stat().st_size,
        "growth": peak - before,
        "peak": peak,
        "exact": reset,
        "seconds": seconds,
        "errors": errors,
    }


def run_probe(kind: str, payload: Path, warmup: Path, xsd: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, __file__, "--rss-probe", kind, str(payload), str(warmup), str(xsd)],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def cli_peak(payload: Path, xsd: Path) -> tuple[int, float, int]:
    """Absolute peak RSS (interpreter, imports and all) and exit code of ``shep validate``."""
    shep = Path(sys.executable).parent / "shep"
    started = time.perf_counter()
    command = [
        str(shep),
        "validate",
        "--payload",
        str(payload),
        "--xsd",
        str(xsd),
        "--element",
        "p:persons",
        "--contract-root",
        str(xsd.parent),
        "-q",
    ]
    # A fresh process per run, so RUSAGE_CHILDREN's maximum is this child's alone: measure it
    # from a helper that runs only the CLI.
    helper = subprocess.run(
        [sys.executable, __file__, "--cli-probe", *command],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    peak, code = (int(x) for x in helper.stdout.split())
    return peak, time.perf_counter() - started, code


def cli_probe(command: list[str]) -> None:
    code = subprocess.run(command, capture_output=True, check=False, timeout=900).returncode
    maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(maxrss if sys.platform == "darwin" else maxrss * 1024, code)


# --------------------------------------------------------------------------- report


def _mib(n: float) -> str:
    return f"{n / MIB:.1f} MiB" if abs(n) >= MIB else f"{n / 1024:.0f} KiB"


def run(size_mb: float) -> int:
    size = int(size_mb * 1e6)
    print(f"shep-gateway payload validation benchmark: {size_mb:g} MB payload")
    print(
        f"  Python {platform.python_version()} | lxml {metadata.version('lxml')} "
        f"(libxml2 {'.'.join(map(str, etree.LIBXML_VERSION))}) | {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        directory = Path(tmp)
        xsd = directory / "persons.xsd"
        xsd.write_text(XSD, encoding="utf-8")
        good, bad, warmup = directory / "good.xml", directory / "bad.xml", directory / "warm.xml"
        records = write_payload(good, size)
        write_payload(bad, size, bad_records=frozenset({10, records // 2, records - 2}))
        write_payload(warmup, 20_000)  # a few records: imports and first use, not the payload
        print(f"  {records} person records, {_mib(good.stat().st_size)} on disk\n")

        head = (
            f"{'':34} {'peak RSS growth':>16} {'x input':>8} {'process peak':>13} "
            f"{'time':>8} {'MB/s':>7}"
        )
        print(head)
        print("-" * len(head))
        rows = [
            ("ours, valid payload", "ours", good),
            ("ours, 3 errors (+ locating pass)", "ours", bad),
            ("lxml: read bytes, parse, validate", "lxml-bytes", good),
            ("lxml: parse file, validate tree", "lxml-tree", good),
        ]
        results: dict[str, dict[str, object]] = {}
        for label, kind, payload in rows:
            probe = run_probe(kind, payload, warmup, xsd)
            results[label] = probe
            growth = int(str(probe["growth"]))
            seconds = float(str(probe["seconds"]))
            note = "" if probe["exact"] else "  (lower bound: peak not reset)"
            print(
                f"{label:34} {_mib(growth):>16} {growth / payload.stat().st_size:8.2f} "
                f"{_mib(int(str(probe['peak']))):>13} "
                f"{seconds:7.2f}s {payload.stat().st_size / 1e6 / seconds:7.1f}{note}"
            )
        located = results["ours, 3 errors (+ locating pass)"]["errors"]
        print(f"\n  errors found by ours (line, column): {located}")
        peak, seconds, code = cli_peak(good, xsd)
        print(
            f"  shep validate (whole process, exit {code}): peak RSS {_mib(peak)} absolute "
            f"= {peak / good.stat().st_size:.2f}x input, {seconds:.2f}s"
        )
        ours = int(str(results["ours, valid payload"]["growth"])) / good.stat().st_size
        verdict = "met" if ours < TARGET else "MISSED"
        print(f"\nTarget: ours peak RSS growth < {TARGET:g}x input: {ours:.2f}x, {verdict}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=float, default=50.0, help="payload size in MB (50)")
    parser.add_argument("--quick", action="store_true", help="a 10 MB payload")
    parser.add_argument("--rss-probe", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--cli-probe", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_probe:
        kind, *paths = args.rss_probe
        print(json.dumps(rss_probe(kind, *(Path(p) for p in paths))))
        return 0
    if args.cli_probe:
        cli_probe(args.cli_probe)
        return 0
    return run(10.0 if args.quick else args.size)


if __name__ == "__main__":
    sys.exit(main())

"""Render a :class:`~gateway.validate.ValidationReport` for people, for CI (JUnit) and as JSON.

Pure: each renderer returns text or bytes; the CLI decides where it goes (stdout, or a file
written atomically). Colour is the caller's choice, passed in as a ``style`` function, so this
module never looks at a terminal or the environment.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from lxml import etree

from gateway.validate import CheckResult, Finding, Severity, Status, ValidationReport

__all__ = ["Style", "plain", "render_json", "render_junit", "render_text"]

Style = Callable[[str, str], str]
"""``style(text, role)`` -> text to print; roles: ok, fail, warn, skip, target, dim."""


def plain(text: str, role: str) -> str:
    """No colour (files, pipes, ``NO_COLOR``)."""
    del role
    return text


_MARKS = {
    Status.PASSED: ("ok  ", "ok"),
    Status.FAILED: ("FAIL", "fail"),
    Status.SKIPPED: ("skip", "skip"),
}


# --------------------------------------------------------------------------- people


def render_text(
    report: ValidationReport,
    *,
    style: Style = plain,
    quiet: bool = False,
    base: Path | None = None,
) -> str:
    """Results grouped by input, one line per check, findings as ``file:line:col: message``.

    ``quiet`` shows only inputs with a failure or warning (and the summary line). ``base``
    makes paths under it relative (pass the working directory).
    """
    lines: list[str] = []
    for target, results in _grouped(report.results):
        noteworthy = any(r.status is Status.FAILED or _warnings(r) for r in results)
        if quiet and not noteworthy:
            continue
        kind = results[0].kind
        lines.append(style(f"{kind} {_shown(target, base)}", "target"))
        width = max(len(r.check) for r in results)
        for result in results:
            if quiet and result.status is not Status.FAILED and not _warnings(result):
                continue
            mark, role = _MARKS[result.status]
            if result.status is Status.PASSED and _warnings(result):
                mark, role = "warn", "warn"
            detail = f"  {result.detail}" if result.detail else ""
            lines.append(
                f"  {style(mark, role)} {result.check:<{width}}{style(detail, 'dim')}".rstrip()
            )
            lines.extend(
                f"       {_finding_line(finding, style, base)}" for finding in result.findings
            )
    if lines:
        lines.append("")
    lines.append(_summary(report, style))
    return "\n".join(lines) + "\n"


def _finding_line(finding: Finding, style: Style, base: Path | None) -> str:
    where = style(_location(finding, base), "dim")
    field = f"{finding.field}: " if finding.field else ""
    if finding.severity is Severity.WARNING:
        return f"{where}: {style('warning:', 'warn')} {field}{finding.message}"
    return f"{where}: {field}{finding.message}"


def _summary(report: ValidationReport, style: Style) -> str:
    passed, failed, skipped = (report.count(s) for s in Status)
    warnings = sum(1 for f in report.findings if f.severity is Severity.WARNING)
    inputs = len(report.targets)
    text = (
        f"{inputs} input(s), {len(report.results)} check(s): {passed} passed, {failed} failed, "
        f"{skipped} skipped" + (f", {warnings} warning(s)" if warnings else "")
    )
    return style(("FAILED: " if failed else "OK: ") + text, "fail" if failed else "ok")


# --------------------------------------------------------------------------- JUnit


def render_junit(report: ValidationReport, *, base: Path | None = None) -> bytes:
    """JUnit XML as CI systems read it (GitLab, Jenkins, GitHub test reporters, Azure).

    One ``testsuite`` per input, one ``testcase`` per check: ``failure`` with every finding
    for a failed check (``file``/``line`` of the first one on the test case, for annotations),
    ``skipped`` with the reason, warnings in ``system-out``.
    """
    suites = etree.Element("testsuites", name="shep validate")
    _counts(suites, report.results)
    for target, results in _grouped(report.results):
        shown = _shown(target, base)
        suite = etree.SubElement(suites, "testsuite", name=f"{results[0].kind} {shown}")
        _counts(suite, results)
        for result in results:
            suite.append(_testcase(result, shown, base))
    body = etree.tostring(suites, encoding="UTF-8", pretty_print=True)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def _testcase(result: CheckResult, shown: str, base: Path | None) -> etree._Element:
    case = etree.Element(
        "testcase",
        classname=f"{result.kind}.{shown}",
        name=result.check,
        time=f"{result.seconds:.3f}",
    )
    first = result.findings[0] if result.findings else None
    case.set("file", _shown(first.file, base) if first and first.file else shown)
    if first is not None and first.line is not None:
        case.set("line", str(first.line))
    if result.status is Status.FAILED:
        errors = [f for f in result.findings if f.severity is Severity.ERROR] or result.findings
        failure = etree.SubElement(
            case, "failure", type=result.check, message=_xml_text(errors[0].message)
        )
        failure.text = _xml_text("\n".join(_finding_line(f, plain, base) for f in result.findings))
    elif result.status is Status.SKIPPED:
        etree.SubElement(case, "skipped", message=_xml_text(result.detail or "skipped"))
    else:
        out = [_finding_line(f, plain, base) for f in result.findings]
        if result.detail:
            out.insert(0, result.detail)
        if out:
            etree.SubElement(case, "system-out").text = _xml_text("\n".join(out))
    return case


def _counts(element: etree._Element, results: Iterable[CheckResult]) -> None:
    items = list(results)
    element.set("tests", str(len(items)))
    element.set("failures", str(sum(1 for r in items if r.status is Status.FAILED)))
    element.set("errors", "0")
    element.set("skipped", str(sum(1 for r in items if r.status is Status.SKIPPED)))
    element.set("time", f"{sum(r.seconds for r in items):.3f}")


def _xml_text(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (a finding may quote a control character)."""
    return (
        "".join(
            ch
            for ch in text
            if ch in "\t\n\r" or ("\x20" <= ch <= "\ud7ff") or ("\ue000" <= ch <= "\U0010ffff")
        )
        .replace("\ufffe", "")
        .replace("\uffff", "")
    )


# --------------------------------------------------------------------------- JSON


def render_json(report: ValidationReport, *, base: Path | None = None) -> str:
    """One JSON document: ``ok``, a ``summary`` of counts, and every check with its findings."""
    passed, failed, skipped = (report.count(s) for s in Status)
    document = {
        "ok": report.ok,
        "summary": {
            "inputs": len(report.targets),
            "checks": len(report.results),
            "passed": passed,
            "failed": failed,
            "skipped": skipped,
            "warnings": sum(1 for f in report.findings if f.severity is Severity.WARNING),
        },
        "results": [
            {
                "target": _shown(result.target, base),
                "kind": result.kind,
                "check": result.check,
                "status": str(result.status),
                "detail": result.detail,
                "seconds": round(result.seconds, 6),
                "findings": [
                    {
                        "severity": str(finding.severity),
                        "file": _shown(finding.file, base) if finding.file else None,
                        "line": finding.line,
                        "column": finding.column,
                        "field": finding.field,
                        "message": finding.message,
                    }
                    for finding in result.findings
                ],
            }
            for result in report.results
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


# --------------------------------------------------------------------------- shared


def _grouped(results: Iterable[CheckResult]) -> list[tuple[str, list[CheckResult]]]:
    groups: dict[str, list[CheckResult]] = {}
    for result in results:
        groups.setdefault(result.target, []).append(result)
    return list(groups.items())


def _warnings(result: CheckResult) -> bool:
    return any(f.severity is Severity.WARNING for f in result.findings)


def _location(finding: Finding, base: Path | None) -> str:
    return (
        replace(finding, file=_shown(finding.file, base)).location
        if finding.file
        else (finding.location)
    )


def _shown(path: str, base: Path | None) -> str:
    """``path`` relative to ``base`` when it lies under it (what CI annotations expect)."""
    if base is None:
        return path
    candidate = Path(path)
    if not candidate.is_absolute():
        return path
    try:
        return str(candidate.relative_to(base))
    except ValueError:
        return path

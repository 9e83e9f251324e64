"""gateway.report: the human, JUnit and JSON views of a validation report agree with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from gateway.report import render_json, render_junit, render_text
from gateway.validate import (
    CheckResult,
    Finding,
    ServiceSchema,
    Severity,
    Status,
    ValidationReport,
    ValidationRequest,
    run_validation,
)
from gateway.xmlparse import parse_xml

DATA = Path(__file__).parent / "data"
VALIDATE = DATA / "validate"


@pytest.fixture(scope="module")
def report() -> ValidationReport:
    """A real mixed run: a good contract, good and bad payloads, good and bad envelopes."""
    return run_validation(
        ValidationRequest(
            contracts=(VALIDATE / "persons" / "persons.xsd",),
            contract_root=VALIDATE,
            payloads=(VALIDATE / "payloads",),
            service=ServiceSchema(
                service_id="TEST_PERSONS",
                xsd=VALIDATE / "persons" / "persons.xsd",
                root="p:Persons",
                contract_root=VALIDATE,
            ),
            envelopes=(
                DATA / "envelopes" / "sync_request_typed.xml",
                DATA / "envelopes" / "bad_date_request.xml",
                DATA / "envelopes" / "two_bodies.xml",
            ),
        )
    )


def test_junit_parses_and_its_counts_match_the_report(report: ValidationReport) -> None:
    junit = render_junit(report, base=Path.cwd())
    assert junit.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = parse_xml(junit).getroot()
    assert root.tag == "testsuites"
    cases = root.findall("testsuite/testcase")
    assert len(cases) == len(report.results)
    assert int(root.get("tests", "-1")) == len(report.results)
    assert int(root.get("failures", "-1")) == report.count(Status.FAILED)
    assert int(root.get("skipped", "-1")) == report.count(Status.SKIPPED)
    assert root.get("errors") == "0"
    assert len(root.findall("testsuite/testcase/failure")) == report.count(Status.FAILED)
    assert len(root.findall("testsuite/testcase/skipped")) == report.count(Status.SKIPPED)
    suites = root.findall("testsuite")
    assert len(suites) == len(report.targets)
    for suite in suites:
        assert int(suite.get("tests", "-1")) == len(suite.findall("testcase"))
        assert int(suite.get("failures", "-1")) == len(suite.findall("testcase/failure"))
        assert int(suite.get("skipped", "-1")) == len(suite.findall("testcase/skipped"))
    assert report.count(Status.FAILED) > 0
    assert report.count(Status.PASSED) > 0
    assert report.count(Status.SKIPPED) > 0


def test_junit_failures_point_at_file_and_line(report: ValidationReport) -> None:
    root = etree.fromstring(render_junit(report, base=DATA.parent.parent))
    case = next(
        c
        for c in root.iter("testcase")
        if c.get("name") == "schema" and "bad.xml" in str(c.get("classname"))
    )
    assert case.get("file") == "tests/data/validate/payloads/bad.xml"
    assert case.get("line") == "4"
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("type") == "schema"
    assert "'12345' is not accepted" in str(failure.get("message"))
    assert str(failure.text).count("tests/data/validate/payloads/bad.xml:") == 3
    skipped = next(c for c in root.iter("testcase") if c.find("skipped") is not None)
    assert skipped.find("skipped").get("message")  # type: ignore[union-attr]


def test_junit_drops_characters_xml_cannot_carry() -> None:
    result = CheckResult(
        target="x.xml",
        kind="envelope",
        check="formats",
        status=Status.FAILED,
        findings=(Finding(check="formats", message="bad \x01 char", file="x.xml", line=1),),
    )
    root = etree.fromstring(render_junit(ValidationReport(results=(result,))))
    assert root.find("testsuite/testcase/failure").get("message") == "bad  char"  # type: ignore[union-attr]


def test_warnings_go_to_system_out() -> None:
    result = CheckResult(
        target="x.xml",
        kind="envelope",
        check="formats",
        status=Status.PASSED,
        findings=(
            Finding(check="formats", message="no offset", line=3, severity=Severity.WARNING),
        ),
        detail="ids, dates",
    )
    root = etree.fromstring(render_junit(ValidationReport(results=(result,))))
    out = root.findtext("testsuite/testcase/system-out")
    assert out == "ids, dates\n<input>:3: warning: no offset"


def test_json_matches_the_report(report: ValidationReport) -> None:
    document = json.loads(render_json(report, base=Path.cwd()))
    assert document["ok"] is False
    assert document["summary"] == {
        "inputs": len(report.targets),
        "checks": len(report.results),
        "passed": report.count(Status.PASSED),
        "failed": report.count(Status.FAILED),
        "skipped": report.count(Status.SKIPPED),
        "warnings": 0,
    }
    assert len(document["results"]) == len(report.results)
    bad = next(
        r for r in document["results"] if r["target"].endswith("bad.xml") and r["check"] == "schema"
    )
    assert [f["line"] for f in bad["findings"]] == [4, 7, 12]
    assert bad["status"] == "failed"


def test_text_is_grouped_by_input_with_a_summary(report: ValidationReport) -> None:
    text = render_text(report, base=Path.cwd())
    assert "payload tests/data/validate/payloads/bad.xml" in text
    assert "  FAIL schema" in text
    assert "tests/data/validate/payloads/bad.xml:4:5: Element" in text
    assert text.rstrip().splitlines()[-1].startswith("FAILED: ")
    quiet = render_text(report, base=Path.cwd(), quiet=True)
    assert "good.xml" not in quiet
    assert "  ok " not in quiet
    assert quiet.rstrip().splitlines()[-1] == text.rstrip().splitlines()[-1]


def test_text_style_hook() -> None:
    result = CheckResult(target="a.xml", kind="payload", check="xml", status=Status.PASSED)
    text = render_text(
        ValidationReport(results=(result,)), style=lambda t, role: f"<{role}>{t}</{role}>"
    )
    assert "<ok>ok  </ok>" in text
    assert "<target>payload a.xml</target>" in text
    assert text.rstrip().endswith("</ok>")

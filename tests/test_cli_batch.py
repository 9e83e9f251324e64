"""`shep batch submit|resume|status|results` as users run them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.demo import write_client_profile
from gateway.emulator import emulator_config_from_pki, start_emulator
from gateway.emulator.server import RunningEmulator
from gateway.testpki import TestPki


@pytest.fixture(scope="module")
def emulator(pki: TestPki) -> Iterator[RunningEmulator]:
    with start_emulator(emulator_config_from_pki(pki)) as running:
        yield running


@pytest.fixture(scope="module")
def profile(pki: TestPki, emulator: RunningEmulator) -> Path:
    return write_client_profile(pki, url=emulator.url)


def _xml_dir(root: Path, n: int) -> Path:
    directory = root / "messages"
    directory.mkdir()
    for i in range(n):
        (directory / f"m{i:03d}.xml").write_text(f"<p:M xmlns:p='urn:p'><p:i>{i}</p:i></p:M>")
    (directory / "notes.txt").write_text("not an item")
    return directory


def test_submit_directory_status_and_results(
    profile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _xml_dir(tmp_path, 12)
    journal = tmp_path / "j.sqlite"
    argv = ["batch", "submit", str(source), "--service", "echo", "--config", str(profile)]
    assert main([*argv, "--journal", str(journal)]) == 0
    err = capsys.readouterr().err
    assert "12 new item(s)" in err
    assert "12 delivered, 0 failed, 0 left" in err

    # a re-run sends nothing again
    assert main([*argv, "--journal", str(journal)]) == 0
    assert "0 left (0 sends" in capsys.readouterr().err

    assert main(["batch", "status", str(journal), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["counts"]["delivered"] == 12
    assert status["ingested"] is True

    out_file = tmp_path / "results.csv"
    assert main(["batch", "results", str(journal), "--format", "csv", "-o", str(out_file)]) == 0
    rows = list(csv.DictReader(io.StringIO(out_file.read_text())))
    assert len(rows) == 12
    assert {r["state"] for r in rows} == {"delivered"}
    assert {r["status_code"] for r in rows} == {"SCSS001"}
    assert sorted(r["key"] for r in rows)[0] == "m000.xml"

    assert main(["batch", "results", str(journal)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 12
    assert json.loads(lines[0])["attempts"] == 1


def test_failures_exit_1_and_are_listed(
    profile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"key": "good", "data": "<a/>"}\n{"key": "bad", "data": "<a>"}\n')
    argv = ["batch", "submit", str(source), "--service", "echo", "--config", str(profile)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "1 delivered, 1 failed" in err
    assert "failed bad:" in err
    assert "in.jsonl:2" in err
    assert (tmp_path / "in.jsonl.echo.shep-journal.sqlite").is_file()  # the default journal


def test_input_errors_are_clear(
    profile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"key": "a", "data": "<a/>"}\nnot json\n')
    argv = ["batch", "submit", str(source), "--service", "echo", "--config", str(profile)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"shep: error: {source}:2:")
    assert "Traceback" not in err

    assert main(["batch", "status", str(tmp_path / "missing.sqlite")]) == 2
    assert "no such journal" in capsys.readouterr().err
    bad = tmp_path / "manifest.csv"
    bad.write_text("name,path\nx,y\n")
    assert main(["batch", "submit", str(bad), "--service", "echo", "--config", str(profile)]) == 2
    assert "key,file" in capsys.readouterr().err


def test_csv_manifest(profile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "one.xml").write_text("<a>1</a>")
    (tmp_path / "two.xml").write_text("<a>2</a>")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("key,file,service\nfirst,one.xml,\nsecond,two.xml,echo-xsd\n")
    journal = tmp_path / "m.sqlite"
    argv = ["batch", "submit", str(manifest), "--service", "echo", "--config", str(profile)]
    assert main([*argv, "--journal", str(journal)]) == 1  # second is not an EchoRequest
    capsys.readouterr()
    assert main(["batch", "results", str(journal)]) == 0
    rows = {json.loads(x)["key"]: json.loads(x) for x in capsys.readouterr().out.splitlines()}
    assert rows["first"]["state"] == "delivered"
    assert rows["second"]["service_id"] == "echo-xsd"
    assert "EDATA001" in rows["second"]["error"]


def test_items_added_to_the_input_join_the_batch_on_the_next_submit(
    profile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"key": "a", "data": "<a/>"}\n')
    argv = ["batch", "submit", str(source), "--service", "echo", "--config", str(profile)]
    assert main(argv) == 0
    capsys.readouterr()
    with source.open("a") as handle:
        handle.write('{"key": "b", "data": "<b/>"}\n')
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "1 new item(s)" in err
    assert "2 delivered, 0 failed, 0 left (1 sends" in err
    # the same input for another service is another batch, in another default journal
    other = ["batch", "submit", str(source), "--service", "echo-xsd", "--config", str(profile)]
    assert main(other) == 1  # <a/> is not an EchoRequest
    assert (tmp_path / "in.jsonl.echo-xsd.shep-journal.sqlite").is_file()

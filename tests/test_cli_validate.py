"""``shep validate`` and ``shep contract``: exit codes 0/1/2, JUnit and JSON files, samples."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from gateway.cli import main
from gateway.contracts import DEFAULT_CONTRACTS_DIR
from gateway.testpki import TestPki

DATA = Path(__file__).parent / "data"
VALIDATE = DATA / "validate"
ENVELOPES = DATA / "envelopes"
WSDL = DEFAULT_CONTRACTS_DIR / "wsdl"
ROOT = ["--contract-root", str(DEFAULT_CONTRACTS_DIR)]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_all_good_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        [
            "validate",
            "--wsdl",
            str(WSDL),
            *ROOT,
            "--registry",
            str(VALIDATE / "registry.toml"),
            "--envelope",
            str(ENVELOPES / "sync_request_typed.xml"),
            "--color",
            "never",
        ],
        capsys,
    )
    assert (code, err) == (0, "")
    assert "contract " in out
    assert "payload " in out
    assert "envelope " in out
    assert out.rstrip().splitlines()[-1].startswith("OK: 6 input(s)")
    assert "\x1b[" not in out


def test_a_failed_check_exits_1_and_writes_junit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit = tmp_path / "reports" / "shep.xml"
    junit.parent.mkdir()
    code, out, err = run(
        [
            "validate",
            "--envelope",
            str(ENVELOPES),
            "--junit",
            str(junit),
            "-q",
        ],
        capsys,
    )
    assert code == 1
    assert err == ""
    assert "bad_date_request.xml:10:11:" in out
    assert "sync_request_typed.xml" not in out  # -q: failures only
    root = etree.parse(str(junit)).getroot()
    assert int(root.get("failures", "0")) > 0
    assert int(root.get("tests", "0")) == len(root.findall("testsuite/testcase"))
    assert [p.name for p in junit.parent.iterdir()] == ["shep.xml"]  # no temp file left


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        [
            "validate",
            "--payload",
            str(VALIDATE / "payloads" / "bad.xml"),
            "--xsd",
            str(VALIDATE / "persons" / "persons.xsd"),
            "--element",
            "p:Persons",
            "--contract-root",
            str(VALIDATE),
            "--json",
        ],
        capsys,
    )
    assert code == 1
    document = json.loads(out)
    assert document["ok"] is False
    schema = next(
        r for r in document["results"] if r["check"] == "schema" and r["target"].endswith("bad.xml")
    )
    assert [(f["line"], f["column"]) for f in schema["findings"]] == [(4, 5), (7, 5), (12, 5)]


def test_colour_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(
        ["validate", "--envelope", str(ENVELOPES / "bad_date_request.xml"), "--color", "always"],
        capsys,
    )
    assert "\x1b[31m" in out  # FAIL in red


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ([], "nothing to validate"),
        (["--payload", str(VALIDATE / "payloads" / "good.xml")], "--payload needs --service"),
        (["--service", "X", "--envelope", str(ENVELOPES)], "--service needs --registry"),
        (["--envelope", str(ENVELOPES), "--at", "2024-01-01"], "go with --trust"),
        (["--envelope", str(ENVELOPES / "missing.xml")], "does not exist"),
        (["--wsdl", str(WSDL), "--max-errors", "0"], "--max-errors"),
        (
            [
                "--xsd",
                str(VALIDATE / "persons" / "persons.xsd"),
                "--element",
                "p:Persons",
                "--service",
                "X",
                "--payload",
                str(VALIDATE / "payloads" / "good.xml"),
            ],
            "not both",
        ),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["validate", *argv], capsys)
    assert code == 2
    assert out == ""
    assert fragment in err


def test_unusable_inputs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = tmp_path / "registry.toml"
    registry.write_text('[services.A]\nxsd = "missing.xsd"\n', encoding="utf-8")
    code, _, err = run(["validate", "--registry", str(registry)], capsys)
    assert code == 2
    assert err.startswith(f"shep: error: {registry}: services.A.xsd:")

    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(["validate", "--envelope", str(empty)], capsys)
    assert (code, err.strip()) == (2, f"shep: error: {empty}: no .xml files in the directory")

    code, _, err = run(
        [
            "validate",
            "--envelope",
            str(ENVELOPES),
            "--registry",
            str(VALIDATE / "registry.toml"),
            "--service",
            "NOPE",
        ],
        capsys,
    )
    assert code == 2
    assert "'NOPE' is not in the registry" in err


def test_junit_into_a_missing_directory_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "nope" / "junit.xml"
    code, _, err = run(
        [
            "validate",
            "--envelope",
            str(ENVELOPES / "sync_request_typed.xml"),
            "--junit",
            str(target),
        ],
        capsys,
    )
    assert code == 2
    assert "does not exist" in err
    assert not target.parent.exists()


def test_against_another_edition(
    reference_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        [
            "validate",
            "--envelope",
            str(ENVELOPES / "sync_response.xml"),
            "--against",
            str(reference_bundle),
        ],
        capsys,
    )
    assert code == 0, out
    assert "SendMessage response of ISyncChannel" in out


@pytest.fixture(scope="session")
def reference_bundle(shared_dir: Path) -> Path:
    path = shared_dir / "contracts" / "nitec-v10"
    if not (path / "SyncChannel").is_dir():
        pytest.skip(f"published v10 bundle not found at {path}")
    return path


def test_signed_envelopes_with_trust(
    tmp_path: Path,
    pki: TestPki,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHEP_TEST_KEY_PASSWORD", pki.password)
    signed = tmp_path / "signed.xml"
    code, _, _ = run(
        [
            "sign",
            "--key",
            str(pki.signer_legacy_p12),
            "--password-env",
            "SHEP_TEST_KEY_PASSWORD",
            str(ENVELOPES / "sync_request_typed.xml"),
            "-o",
            str(signed),
        ],
        capsys,
    )
    assert code == 0
    argv = ["validate", "--envelope", str(signed), "--require-signature", "--color", "never"]
    code, out, _ = run([*argv, "--trust", str(pki.ca.cert_path)], capsys)
    assert code == 0, out
    assert "trust      signed by CN=" in out
    other = tmp_path / "other.pem"
    other.write_bytes(pki.server.cert_path.read_bytes())
    code, out, _ = run([*argv, "--trust", str(other)], capsys)
    assert code == 1
    assert "rejected (untrusted-certificate)" in out
    code, out, _ = run(
        [
            "validate",
            "--envelope",
            str(ENVELOPES / "sync_request_typed.xml"),
            "--require-signature",
        ],
        capsys,
    )
    assert code == 1
    assert "not signed" in out


def test_contract_show(reference_bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["contract", "show", str(WSDL / "SyncChannel_v10.wsdl")], capsys)
    assert code == 0
    assert "Operation SendMessage  (soapAction '')" in out
    entry = reference_bundle / "SyncChannel" / "v10" / "Interfaces" / "SyncChannelHttp_Service.wsdl"
    code, out, _ = run(
        ["contract", "show", "--root", str(reference_bundle), "--json", "--tree", str(entry)],
        capsys,
    )
    assert code == 0
    document = json.loads(out)
    assert document["ports"][0]["operations"][0]["name"] == "SendMessage"
    code, _, err = run(["contract", "show", str(entry)], capsys)
    assert code == 2
    assert "outside the contract directory" in err


def test_contract_sample_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for extra in ([], ["--response"], ["--fault"], ["--required-only"]):
        sample = tmp_path / "sample.xml"
        code, _, _ = run(
            [
                "contract",
                "sample",
                str(WSDL / "AsyncChannel_v10.wsdl"),
                "getMessages",
                *extra,
                "-o",
                str(sample),
            ],
            capsys,
        )
        assert code == 0
        code, out, _ = run(["validate", "--envelope", str(sample)], capsys)
        assert code == 0, out
    code, out, _ = run(
        ["contract", "sample", str(WSDL / "SyncChannel_v10.wsdl"), "SendMessage"], capsys
    )
    assert code == 0
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    code, _, err = run(["contract", "sample", str(WSDL / "SyncChannel_v10.wsdl"), "Nope"], capsys)
    assert code == 2
    assert "has no operation 'Nope'" in err


def test_console_script(tmp_path: Path) -> None:
    """The installed entry point, as CI calls it: exit status and no traceback."""
    shep = Path(sys.executable).parent / "shep"
    if not shep.exists():
        pytest.skip("console script not installed")
    broken = tmp_path / "broken.wsdl"
    shutil.copy(DATA / "contracts" / "hostile" / "xxe.wsdl", broken)
    done = subprocess.run(
        [str(shep), "validate", "--wsdl", str(broken)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1
    assert "DOCTYPE is not allowed" in done.stdout
    assert "Traceback" not in done.stderr


def test_archived_kalkan_sample_with_at(
    kalkan_samples: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real NCANode-signed request whose certificate has expired: --at inside its validity."""
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from gateway.xmlns import WSSE

    sample = kalkan_samples / "xml" / "ncanode_wsse_rsa_sha256.xml"
    text = etree.parse(str(sample)).getroot().findtext(f".//{{{WSSE}}}KeyIdentifier")
    leaf = x509.load_der_x509_certificate(base64.b64decode(str(text)))
    trust = tmp_path / "leaf.pem"
    trust.write_bytes(leaf.public_bytes(Encoding.PEM))
    at = (leaf.not_valid_before_utc.replace(microsecond=0)).isoformat()
    argv = ["validate", "--envelope", str(sample), "--trust", str(trust), "--color", "never"]
    code, out, _ = run([*argv, "--at", at], capsys)
    assert code == 1  # its data element is qualified: the formats check says so
    assert "ok   trust      signed by CN=ТЕСТОВ ТЕСТ" in out  # noqa: RUF001  (Cyrillic name)
    assert "data must be unqualified" in out
    code, out, _ = run(argv, capsys)
    assert "rejected (certificate-expired)" in out


def test_the_bundled_contract_directory_validates_as_a_directory(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--wsdl wsdl` must resolve ../xsd: a directory's parent is the default root."""
    assert main(["validate", "--wsdl", str(DEFAULT_CONTRACTS_DIR / "wsdl")]) == 0
    out = capsys.readouterr().out
    assert "OK: 3 input(s)" in out
    assert "FAIL" not in out

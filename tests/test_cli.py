"""``shep``: exit codes, one-line errors, no tracebacks, no secrets, atomic output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.testpki import TestPki
from tests.test_wssec import SOAP11_REQUEST

PASSWORD_VAR = "SHEP_TEST_KEY_PASSWORD"


@pytest.fixture
def request_file(tmp_path: Path) -> Path:
    path = tmp_path / "request.xml"
    path.write_bytes(SOAP11_REQUEST)
    return path


@pytest.fixture
def with_password(monkeypatch: pytest.MonkeyPatch, pki: TestPki) -> str:
    monkeypatch.setenv(PASSWORD_VAR, pki.password)
    return pki.password


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def sign_to(
    pki: TestPki, request: Path, out: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> int:
    argv = ["sign", "--key", str(pki.signer_legacy_p12), "--password-env", PASSWORD_VAR]
    code, _, err = run([*argv, *extra, str(request), "-o", str(out)], capsys)
    assert err == ""
    return code


def test_sign_then_verify(
    pki: TestPki,
    request_file: Path,
    tmp_path: Path,
    with_password: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    signed = tmp_path / "signed.xml"
    assert sign_to(pki, request_file, signed, capsys) == 0
    code, out, err = run(["verify", "--trust", str(pki.ca.cert_path), str(signed)], capsys)
    assert (code, err) == (0, "")
    assert out.startswith(f"valid: {signed} signed by CN=")
    assert "message id msg-0001" in out

    code, out, _ = run(["verify", "--trust", str(pki.ca.cert_path), "--json", str(signed)], capsys)
    result = json.loads(out)
    assert code == 0
    assert result["valid"] is True
    assert result["key_ref"] == "keyidentifier"
    assert result["message_id"] == "msg-0001"


def test_verify_trusts_a_directory_of_certificates(
    pki: TestPki,
    request_file: Path,
    tmp_path: Path,
    with_password: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    signed = tmp_path / "signed.xml"
    sign_to(pki, request_file, signed, capsys, "--key-ref", "bst")
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "ca.pem").write_bytes(pki.ca.cert_path.read_bytes())
    code, out, _ = run(["verify", "--trust", str(trust), str(signed)], capsys)
    assert code == 0
    assert "(rsa-sha256, bst)" in out


def test_rejection_is_exit_1_with_one_line_reason(
    pki: TestPki,
    request_file: Path,
    tmp_path: Path,
    with_password: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    signed = tmp_path / "signed.xml"
    sign_to(pki, request_file, signed, capsys)
    tampered = tmp_path / "tampered.xml"
    tampered.write_bytes(signed.read_bytes().replace(b"msg-0001", b"msg-0002"))
    code, out, err = run(["verify", "--trust", str(pki.ca.cert_path), str(tampered)], capsys)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("shep: error: rejected (digest-mismatch): ")
    assert str(tampered) in err
    assert "msg-0002" in err  # the message id names which message

    code, _, err = run(["verify", "--trust", str(pki.sigex.cert_path), str(signed)], capsys)
    assert code == 1
    assert "rejected (untrusted-certificate)" in err


def test_wrong_password_is_an_input_error_without_the_password(
    pki: TestPki,
    request_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(PASSWORD_VAR, "Wr0ng-Pa55word")
    out_file = tmp_path / "signed.xml"
    argv = ["sign", "--key", str(pki.signer_legacy_p12), "--password-env", PASSWORD_VAR]
    code, out, err = run([*argv, str(request_file), "-o", str(out_file)], capsys)
    assert code == 2
    assert "wrong password" in err
    assert str(pki.signer_legacy_p12) in err
    assert "Wr0ng-Pa55word" not in out + err
    assert "Traceback" not in err
    assert not out_file.exists()


def test_password_sources(
    pki: TestPki, request_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    password_file = tmp_path / "password.txt"
    password_file.write_text(pki.password + "\n")
    key = ["--key", str(pki.signer_p12)]
    code, out, _ = run(
        ["sign", *key, "--password-file", str(password_file), str(request_file)], capsys
    )
    assert code == 0
    assert out.startswith("<?xml")

    code, _, err = run(["sign", *key, "--password-env", "SHEP_NOT_SET", str(request_file)], capsys)
    assert code == 2
    assert "SHEP_NOT_SET is not set" in err

    code, _, err = run(["sign", *key, str(request_file)], capsys)  # no TTY to prompt on
    assert code == 2
    assert "--password-env" in err

    code, _, err = run(["sign", *key, "--password", pki.password, str(request_file)], capsys)
    assert code == 2  # there is no way to put a password on the command line
    assert "No such option" in err


def test_sigex_key_signs_without_password(
    pki: TestPki, request_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signed = tmp_path / "signed.xml"
    argv = ["sign", "--key", str(pki.sigex_key_der), "--cert", str(pki.sigex_cert_txt)]
    code, _, err = run([*argv, str(request_file), "-o", str(signed)], capsys)
    assert (code, err) == (0, "")
    code, out, _ = run(["verify", "--trust", str(pki.sigex_cert_txt), str(signed)], capsys)
    assert code == 0
    assert "ecdsa-sha256" in out


def test_bad_input_leaves_no_output_file(
    pki: TestPki, tmp_path: Path, with_password: str, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<soap:Envelope xmlns:soap='http://schemas.xmlsoap.org/soap/envelope/'>")
    out_file = tmp_path / "signed.xml"
    argv = ["sign", "--key", str(pki.signer_p12), "--password-env", PASSWORD_VAR]
    code, _, err = run([*argv, str(broken), "-o", str(out_file)], capsys)
    assert code == 2
    assert err.startswith(f"shep: error: {broken}:")
    assert "not well-formed" in err
    assert not out_file.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.xml"]

    code, _, err = run([*argv, str(tmp_path / "missing.xml")], capsys)
    assert code == 2
    assert "missing.xml" in err


def test_keys_info_shows_nca_fields(
    pki: TestPki, with_password: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["keys", "info", str(pki.signer.cert_path)], capsys)
    assert code == 0
    assert "IIN" in out
    assert "BIN" in out
    argv = ["keys", "info", "--password-env", PASSWORD_VAR, "--json", str(pki.signer_legacy_p12)]
    code, out, _ = run(argv, capsys)
    assert code == 0
    (info,) = json.loads(out)
    assert info["purpose"] == "SIGN"
    assert info["iin"]
    assert pki.password not in out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["verify", "nothing.xml"], capsys)
    assert code == 2
    assert "--trust" in err
    code, _, _ = run(["no-such-command"], capsys)
    assert code == 2


def test_console_script_runs_without_traceback(tmp_path: Path) -> None:
    """The installed ``shep`` entry point, as a user runs it."""
    shep = Path(sys.executable).parent / "shep"
    result = subprocess.run(
        [str(shep), "verify", "--trust", str(tmp_path), str(tmp_path / "none.xml")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("shep: error:")
    assert "Traceback" not in result.stderr


def test_demo_runs_the_main_job(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["demo", "--workdir", str(tmp_path)], capsys)
    assert (code, err) == (0, "")
    assert "sync  echo      SCSS001" in out
    assert "fault ESRV001" in out
    assert "signed with gost2015-512" in out
    assert "accepted 6 signed messages" in out
    assert (tmp_path / "pki" / "shep.toml").is_file()


def test_gost_container_info_sign_and_verify(
    pki: TestPki,
    request_file: Path,
    tmp_path: Path,
    with_password: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The NCA GOST512 container through the CLI: described, signs, verifies by the GOST CA."""
    argv = ["keys", "info", "--password-env", PASSWORD_VAR, "--json", str(pki.signer_gost_p12)]
    code, out, _ = run(argv, capsys)
    assert code == 0
    (info,) = json.loads(out)
    assert info["key_algorithm"] == "GOST 34.10-2015"
    assert info["key_size"] == 512
    assert info["purpose"] == "SIGN"
    signed = tmp_path / "gost.xml"
    assert (
        run(
            [
                "sign",
                "--key",
                str(pki.signer_gost_p12),
                "--password-env",
                PASSWORD_VAR,
                str(request_file),
                "-o",
                str(signed),
            ],
            capsys,
        )[0]
        == 0
    )
    assert b"gostr34102015-gostr34112015-512" in signed.read_bytes()
    code, out, err = run(["verify", "--trust", str(pki.gost_ca.cert_path), str(signed)], capsys)
    assert (code, err) == (0, "")
    assert "(gost2015-512, keyidentifier)" in out
    code, _, err = run(["verify", "--trust", str(pki.ca.cert_path), str(signed)], capsys)
    assert code == 1
    assert "rejected (untrusted-certificate)" in err

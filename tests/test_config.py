"""Profiles from TOML + SHEP_* variables; secrets only by reference; `shep config check`/`send`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import SecretRef, check_profile, load_profile, open_client
from gateway.demo import write_client_profile
from gateway.emulator import emulator_config_from_pki, start_emulator
from gateway.emulator.server import RunningEmulator
from gateway.errors import ConfigError
from gateway.testpki import TestPki


@pytest.fixture(scope="module")
def emulator(pki: TestPki) -> Iterator[RunningEmulator]:
    with start_emulator(emulator_config_from_pki(pki)) as running:
        yield running


@pytest.fixture(scope="module")
def profile_file(pki: TestPki, emulator: RunningEmulator) -> Path:
    return write_client_profile(pki, url=emulator.url)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "shep.toml"
    path.write_text(text)
    return path


MINIMAL = """
default_profile = "test"
[profiles.test]
endpoint = "https://test.example/bip-sync-wss-gost/"
sender_id = "sys"
signing_key = "keys/sign.p12"
signing_password_env = "SIGN_PW"
retries = 2
[profiles.prod]
endpoint = "https://prod.example/bip-sync-wss-gost/"
sender_id = "sys-prod"
signing_key = "/abs/sign.p12"
"""


def test_profiles_paths_and_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL)
    test = load_profile(path, environ={})
    assert test.name == "test"
    assert test.signing_key == tmp_path / "keys" / "sign.p12"  # relative to the file
    assert test.signing_password == SecretRef(env="SIGN_PW")
    assert test.retries == 2
    prod = load_profile(path, profile="prod", environ={})
    assert prod.sender_id == "sys-prod"
    assert prod.signing_key == Path("/abs/sign.p12")


def test_environment_wins(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL)
    environ = {
        "SHEP_PROFILE": "prod",
        "SHEP_ENDPOINT": "https://override.example/x/",
        "SHEP_RETRIES": "5",
        "SHEP_RESEND_AFTER_SEND": "false",
        "SHEP_SIGNING_PASSWORD_FILE": "pw.txt",
    }
    profile = load_profile(path, profile="test", environ=environ)
    assert profile.name == "prod"
    assert profile.endpoint == "https://override.example/x/"
    assert profile.retries == 5
    assert profile.resend_after_send is False
    assert profile.signing_password == SecretRef(file=tmp_path / "pw.txt")


def test_environment_alone_is_enough() -> None:
    environ = {
        "SHEP_ENDPOINT": "https://gw.example/bip-sync-wss-gost/",
        "SHEP_SENDER_ID": "sys",
        "SHEP_SIGNING_KEY": "/k.p12",
    }
    assert load_profile(None, environ=environ).sender_id == "sys"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (MINIMAL.replace("retries = 2", 'signing_password = "hunter2"'), "must not be written"),
        (MINIMAL.replace("retries = 2", "colour = 1"), "unknown setting 'colour'"),
        (MINIMAL.replace("retries = 2", 'retries = "many"'), "not a valid int"),
        (MINIMAL.replace("https://test.example", "http://test.example"), "https://"),
        (MINIMAL.replace('sender_id = "sys"\n', ""), "lacks sender_id"),
        ("[profiles.test\n", "not valid TOML"),
    ],
)
def test_configuration_errors_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_profile(path, environ={})
    assert "hunter2" not in str(info.value)
    assert str(path) in str(info.value)


def test_unknown_profile_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no profile 'staging' \(profiles: prod, test\)"):
        load_profile(_write(tmp_path, MINIMAL), profile="staging", environ={})


def test_missing_secret_variable_is_named(tmp_path: Path) -> None:
    profile = load_profile(_write(tmp_path, MINIMAL), environ={})
    results = {r.what: r for r in check_profile(profile, environ={})}
    assert not results["signing key"].ok
    assert "SIGN_PW is not set" in results["signing key"].detail
    assert not results["tls client key"].ok


def test_check_passes_for_the_emulator_profile(profile_file: Path) -> None:
    results = check_profile(load_profile(profile_file, environ={}), environ={})
    assert all(r.ok for r in results), results


def test_open_client_sends(profile_file: Path) -> None:
    with open_client(load_profile(profile_file, environ={}), environ={}) as client:
        assert client.send("echo", "hello").data_text == "hello"


def test_cli_config_check_and_send(
    profile_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "check", "--config", str(profile_file)]) == 0
    out = capsys.readouterr().out
    assert "signing key" in out
    assert "FAIL" not in out

    payload = tmp_path / "payload.xml"
    payload.write_text('<p:Q xmlns:p="urn:q"><p:v>Қазақ</p:v></p:Q>')
    argv = ["send", "--config", str(profile_file), "--service", "echo", "--data", str(payload)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Қазақ" in out

    assert main([*argv, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is True
    assert result["status_code"] == "SCSS001"

    code = main(
        ["send", "--config", str(profile_file), "--service", "nope", "--data", str(payload)]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("shep: error: gateway fault ESRV001:")
    assert "Traceback" not in err


def test_cli_config_check_reports_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, MINIMAL)
    assert main(["config", "check", "--config", str(path)]) == 2
    captured = capsys.readouterr()
    assert "FAIL" in captured.out
    assert "SIGN_PW is not set" in captured.out
    assert "check(s) failed" in captured.err


def test_url_credentials_stay_out_of_the_profile() -> None:
    base = {"SHEP_SENDER_ID": "s", "SHEP_SIGNING_KEY": "/k.p12"}
    with_proxy = {**base, "SHEP_ENDPOINT": "https://gw/", "SHEP_PROXY": "http://u:proxy-pw@p:1"}
    assert "proxy-pw" not in repr(load_profile(None, environ=with_proxy))
    with pytest.raises(ConfigError) as error:
        load_profile(None, environ={**base, "SHEP_ENDPOINT": "https://u:endpoint-pw@gw/"})
    assert "endpoint-pw" not in str(error.value)


def test_the_documented_secret_variable_names_work(tmp_path: Path) -> None:
    """SHEP_SENDER_PASSWORD holds the secret; it must not be read as a setting."""
    text = MINIMAL.replace("retries = 2", 'sender_password_env = "SHEP_SENDER_PASSWORD"')
    environ = {"SHEP_SENDER_PASSWORD": "s3cret!", "SIGN_PW": "x"}
    profile = load_profile(_write(tmp_path, text), environ=environ)
    assert profile.sender_password.resolve(environ, "sender_password") == b"s3cret!"
    assert "s3cret!" not in repr(profile)

"""The image and compose file stay buildable without a container engine on the test machine."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gateway.cli import main

REPO = Path(__file__).resolve().parents[1]
DOCKER = REPO / "docker"


def test_dockerfile_installs_with_bin_setup_and_copies_existing_files() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"^RUN bin/setup\b", text, re.MULTILINE)
    sources = [
        part
        for line in text.splitlines()
        if line.startswith("COPY ")
        for part in line.split()[1:-1]
    ]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), source


def _compose_commands() -> list[list[str]]:
    text = (DOCKER / "compose.yaml").read_text()
    return [
        json.loads(match) for match in re.findall(r"^\s+command: (\[.*\])$", text, re.MULTILINE)
    ]


@pytest.mark.parametrize("command", _compose_commands(), ids=lambda c: c[0])
def test_compose_commands_are_valid_cli_invocations(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # --help after all options: click rejects unknown options before it shows help.
    assert main([*command, "--help"]) == 0
    assert "Usage: shep" in capsys.readouterr().out


def test_compose_has_both_services() -> None:
    assert [c[0] for c in _compose_commands()] == ["emulator", "send"]

"""Where a secret lives: the name of an environment variable, or a file — never the secret.

Shared by the CLI's ``--password-env``/``--password-file`` and the configuration's
``*_password_env``/``*_password_file``, so both read secrets the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import ConfigError, InputError

__all__ = ["SecretRef"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretRef:
    """Where a secret lives: an environment variable's name or a file. Never the secret."""

    env: str | None = None
    file: Path | None = None

    def resolve(self, environ: Mapping[str, str], what: str) -> bytes | None:
        """The secret's bytes, or None when no source is configured."""
        if self.env:
            if self.env not in environ:
                raise ConfigError(f"environment variable {self.env} is not set", field=what)
            return environ[self.env].encode("utf-8")
        if self.file:
            try:
                lines = self.file.read_bytes().splitlines()
            except OSError as exc:
                raise InputError(
                    f"cannot read {what} file: {exc.strerror}", file=str(self.file)
                ) from exc
            return lines[0] if lines else b""
        return None

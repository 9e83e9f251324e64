"""The public API is exactly what ``__all__`` says, and every error is one of ours."""

from __future__ import annotations

import inspect

import gateway
from gateway import errors


def test_all_matches_what_is_exported() -> None:
    public = {
        name
        for name, value in vars(gateway).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public == set(gateway.__all__)


def test_every_exported_name_resolves() -> None:
    for name in gateway.__all__:
        assert getattr(gateway, name) is not None


def test_every_error_is_rooted_in_gateway_error() -> None:
    for name in errors.__all__:
        value = getattr(errors, name)
        if inspect.isclass(value) and issubclass(value, Exception):
            assert issubclass(value, errors.GatewayError), name

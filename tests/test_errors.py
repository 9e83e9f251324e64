"""The error tree: context in the message, pickling across processes, exit codes."""

from __future__ import annotations

import pickle

from gateway.errors import (
    EnvelopeError,
    GatewayError,
    InputError,
    Rejection,
    SignatureError,
    VerificationError,
    XmlError,
)


def test_message_names_where() -> None:
    error = EnvelopeError("must be a braced GUID", field="sessionId", message_id="m-1")
    assert str(error) == "sessionId: must be a braced GUID [message id m-1]"
    assert str(XmlError("bad", file="in.xml", line=3)) == "in.xml:3: bad"


def test_errors_pickle_with_their_context() -> None:
    error = VerificationError(
        "nope", reason=Rejection.DUPLICATE_ID, file="f.xml", field="Reference/@URI", message_id="m"
    )
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301  (our own object)
    assert type(copy) is VerificationError
    assert copy.reason is Rejection.DUPLICATE_ID
    assert (copy.file, copy.field, copy.message_id) == ("f.xml", "Reference/@URI", "m")
    assert str(copy) == str(error)


def test_exit_codes() -> None:
    assert InputError("x").exit_code == 2
    assert SignatureError("x").exit_code == 2
    assert VerificationError("x", reason=Rejection.BAD_SIGNATURE).exit_code == 1
    assert issubclass(VerificationError, GatewayError)

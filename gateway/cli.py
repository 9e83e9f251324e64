"""``shep``: the command line. Thin: parse options, build config objects, call the library.

Exit codes: 0 success (signed, valid), 1 rejected (a signature failed the policy),
2 usage or input error. A user mistake never prints a traceback (``--debug`` does), and no
password, key or message body is ever printed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from gateway.errors import GatewayError, InputError, PasswordRequiredError
from gateway.identity import (
    Identity,
    describe_certificate,
    format_name,
    load_certificates,
    load_certificates_from_path,
    load_identity_from_path,
)
from gateway.outfile import write_atomic, write_atomic_chunks
from gateway.secretref import SecretRef
from gateway.wssec import (
    ALL_SUITES,
    KeyRef,
    VerifyPolicy,
    make_signer,
    sign_envelope,
    verify_envelope,
)
from gateway.xmlparse import parse_xml

__all__ = ["main"]

_MAX_INPUT_BYTES = 256 * 1024 * 1024


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``shep`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        result = shep.main(args=args, prog_name="shep", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("shep: aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except GatewayError as exc:
        if debug:
            raise
        click.echo(f"shep: error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return result if isinstance(result, int) else 0


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors (for bug reports).")
@click.version_option(package_name="shep-gateway", prog_name="shep")
def shep(debug: bool) -> None:
    """Talk to Kazakhstan's e-Government gateway (ShEP/VShEP): sign, verify, inspect keys."""


# --------------------------------------------------------------------------- shared options


def _password_options(func: Any) -> Any:
    func = click.option(
        "--password-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Read the key password from this file (first line).",
    )(func)
    return click.option(
        "--password-env",
        metavar="NAME",
        help="Read the key password from environment variable NAME.",
    )(func)


def _read_password(password_env: str | None, password_file: Path | None) -> bytes | None:
    """The password from the one source given; never from argv, never echoed."""
    if password_env and password_file:
        raise click.UsageError("give either --password-env or --password-file, not both")
    source = SecretRef(env=password_env, file=password_file)
    return source.resolve(os.environ, "password")


def _load_identity(
    key: Path,
    cert: Path | None,
    password_env: str | None,
    password_file: Path | None,
    alias: str | None,
) -> Identity:
    password = _read_password(password_env, password_file)
    try:
        return load_identity_from_path(key, password=password, cert_path=cert, alias=alias)
    except PasswordRequiredError as exc:
        if not sys.stdin.isatty():
            raise PasswordRequiredError(
                f"{exc.message}; give --password-env NAME or --password-file PATH", file=exc.file
            ) from None
    # No password given and a terminal to ask on: ask once, without echo.
    prompted = click.prompt(f"Password for {key}", hide_input=True, default="", show_default=False)
    return load_identity_from_path(
        key, password=prompted.encode("utf-8"), cert_path=cert, alias=alias
    )


def _read_input(path: str) -> tuple[bytes, str]:
    if path == "-":
        return sys.stdin.buffer.read(_MAX_INPUT_BYTES + 1), "<stdin>"
    try:
        with Path(path).open("rb") as handle:
            return handle.read(_MAX_INPUT_BYTES + 1), path
    except OSError as exc:
        raise InputError(f"cannot read input: {exc.strerror}", file=path) from exc


def _emit(data: bytes, output: Path | None) -> None:
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        write_atomic(output, data)


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time", param_hint="--at") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- sign / verify


@shep.command()
@click.option(
    "--key",
    "key",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Signing key: .p12/.pfx, PEM or DER private key (SIGEX privateKey.*).",
)
@click.option(
    "--cert",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Certificate for a bare key (PEM, DER or SIGEX base64 text).",
)
@_password_options
@click.option("--alias", help="PKCS#12 entry (friendly name) to use.")
@click.option(
    "--key-ref",
    type=click.Choice(["keyidentifier", "bst", "issuerserial"]),
    default="keyidentifier",
    show_default=True,
    help="How KeyInfo references the certificate.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the signed envelope here (atomically) instead of stdout.",
)
@click.argument("envelope", metavar="IN")
def sign(
    *,
    key: Path,
    cert: Path | None,
    password_env: str | None,
    password_file: Path | None,
    alias: str | None,
    key_ref: KeyRef,
    output: Path | None,
    envelope: str,
) -> int:
    """Add the gateway's WS-Security transport signature to the SOAP envelope IN ('-' = stdin)."""
    data, source = _read_input(envelope)
    identity = _load_identity(key, cert, password_env, password_file, alias)
    signer = make_signer(identity, key_ref=key_ref)
    _emit(sign_envelope(data, signer, source=source), output)
    return 0


@shep.command()
@click.option(
    "--trust",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Trusted certificates: a directory of PEM/DER files or one bundle file.",
)
@click.option(
    "--intermediates",
    type=click.Path(exists=True, path_type=Path),
    help="Extra (untrusted) certificates for chain building and IssuerSerial.",
)
@click.option(
    "--at",
    "at",
    metavar="TIME",
    help="Time of check (ISO 8601), e.g. for archived messages. Default: now.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("envelope", metavar="FILE")
def verify(
    *, trust: Path, intermediates: Path | None, at: str | None, as_json: bool, envelope: str
) -> int:
    """Verify the transport signature of FILE against the trusted certificates."""
    data, source = _read_input(envelope)
    policy = VerifyPolicy(
        trusted_certs=load_certificates_from_path(trust),
        intermediates=load_certificates_from_path(intermediates) if intermediates else (),
        time=_parse_time(at),
        suites=ALL_SUITES,
    )
    result = verify_envelope(data, policy, source=source)
    subject = format_name(result.certificate.subject)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "valid": True,
                    "file": source,
                    "message_id": result.message_id,
                    "signer": subject,
                    "serial": format(result.certificate.serial_number, "x"),
                    "algorithm": result.suite.signature_uri,
                    "key_ref": result.key_ref,
                },
                ensure_ascii=False,
            )
        )
    else:
        click.echo(
            f"valid: {source} signed by {subject} ({result.suite.name}, {result.key_ref})"
            + (f", message id {result.message_id}" if result.message_id else "")
        )
    return 0


# --------------------------------------------------------------------------- keys


@shep.group()
def keys() -> None:
    """Inspect keys and certificates."""


@keys.command("info")
@click.option(
    "--cert",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Certificate for a bare key file.",
)
@_password_options
@click.option("--alias", help="PKCS#12 entry (friendly name) to show.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def keys_info(
    *,
    cert: Path | None,
    password_env: str | None,
    password_file: Path | None,
    alias: str | None,
    as_json: bool,
    file: Path,
) -> int:
    """Show subject (IIN/BIN), issuer, validity, key and usages of a key or certificate FILE."""
    certificates = _certificates_in(file)
    if certificates is None:
        identity = _load_identity(file, cert, password_env, password_file, alias)
        certificates = (identity.certificate,)
    now = datetime.now(UTC)
    infos = [describe_certificate(c, now=now) for c in certificates]
    if as_json:
        click.echo(json.dumps([i.as_dict() for i in infos], ensure_ascii=False, indent=2))
        return 0
    for index, info in enumerate(infos):
        if index:
            click.echo("")
        for line in info.lines():
            click.echo(line)
        for warning in info.warnings:
            click.secho(f"warning: {warning}", fg="yellow", err=True)
    return 0


def _certificates_in(file: Path) -> tuple[Any, ...] | None:
    """Certificates if FILE is a plain certificate file; None if it holds a key."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(file)) from exc
    if b"PRIVATE KEY" in data:
        return None
    try:
        return load_certificates(data, source=str(file))
    except GatewayError:
        return None


# --------------------------------------------------------------------------- demo, test PKI


@shep.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the test PKI, client profile and messages here (default: temporary).",
)
def demo(workdir: Path | None) -> int:
    """Run the main job on embedded defaults: test PKI, local emulator, signed messages."""
    from gateway.demo import run_demo  # noqa: PLC0415  (keeps `shep --help` fast)

    for line in run_demo(workdir):
        click.echo(line)
    return 0


# --------------------------------------------------------------------------- send, config


def _config_path(config: Path | None) -> Path | None:
    """--config, else $SHEP_CONFIG, else ./shep.toml when present, else environment only."""
    if config is not None:
        return config
    if os.environ.get("SHEP_CONFIG"):
        return Path(os.environ["SHEP_CONFIG"])
    default = Path("shep.toml")
    return default if default.is_file() else None


def _profile_options(func: Any) -> Any:
    func = click.option("--profile", metavar="NAME", help="Profile in the config file.")(func)
    return click.option(
        "--config",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Config file (default: $SHEP_CONFIG or ./shep.toml).",
    )(func)


@shep.command()
@click.option("--service", "service_id", required=True, metavar="ID", help="serviceId to call.")
@click.option(
    "--data",
    "data_path",
    required=True,
    metavar="FILE|-",
    help="Payload: an XML document ('-' = stdin).",
)
@click.option(
    "--as-text",
    is_flag=True,
    help="Send the payload as an xs:string (escaped text) instead of XML.",
)
@click.option("--message-id", help="messageId to use (default: a new UUID).")
@click.option("--correlation-id", help="correlationId of the message.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable result.")
@_profile_options
def send(
    *,
    service_id: str,
    data_path: str,
    as_text: bool,
    message_id: str | None,
    correlation_id: str | None,
    as_json: bool,
    config: Path | None,
    profile: str | None,
) -> int:
    """Send one signed SyncChannel message and print the response data."""
    from gateway.config import load_profile, open_client  # noqa: PLC0415

    raw, source = _read_input(data_path)
    payload: Any
    if as_text:
        try:
            payload = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError("payload is not UTF-8 text", file=source) from exc
    else:
        payload = parse_xml(raw, source=source).getroot()
    settings = load_profile(_config_path(config), profile=profile, environ=os.environ)
    with open_client(settings, os.environ) as client:
        answer = client.send(
            service_id, payload, message_id=message_id, correlation_id=correlation_id
        )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": answer.ok,
                    "message_id": answer.message_id,
                    "correlation_id": answer.correlation_id,
                    "status_code": answer.status_code,
                    "status_message": answer.status_message,
                    "response_date": answer.response_date,
                    "session_id": answer.session_id,
                    "signed_by": format_name(answer.signed_by.subject)
                    if answer.signed_by
                    else None,
                    "attempts": answer.attempts,
                    "data": answer.data_text,
                },
                ensure_ascii=False,
            )
        )
    else:
        click.echo(answer.data_text or "")
    if not answer.ok:
        click.echo(
            f"shep: error: gateway status {answer.status_code}: {answer.status_message} "
            f"[message id {answer.message_id}]",
            err=True,
        )
        return 1
    return 0


@shep.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
@_profile_options
def config_check(*, config: Path | None, profile: str | None) -> int:
    """Check a profile without sending anything: files, keys, passwords, trust."""
    from gateway.config import check_profile, load_profile  # noqa: PLC0415

    settings = load_profile(_config_path(config), profile=profile, environ=os.environ)
    results = check_profile(settings, os.environ)
    for result in results:
        mark = click.style("ok  ", fg="green") if result.ok else click.style("FAIL", fg="red")
        click.echo(f"{mark} {result.what:<15} {result.detail}")
    failed = [r for r in results if not r.ok]
    if failed:
        click.echo(f"shep: error: {len(failed)} check(s) failed", err=True)
        return 2
    return 0


# --------------------------------------------------------------------------- emulator


@shep.command()
@click.option(
    "--pki",
    "pki_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Test PKI directory (generated there if empty; default: temporary).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8443, show_default=True, type=int)
@click.option("--sign-responses", is_flag=True, help="Sign normal answers (with the AUTH key).")
@click.option("--seed", default=0, show_default=True, type=int, help="Fault injection seed.")
@click.option("--latency", default=0.0, type=float, help="Seconds added to every answer.")
@click.option("--error-rate", default=0.0, type=float, help="Share of injected HTTP 500s.")
@click.option("--unavailable-rate", default=0.0, type=float, help="Share of injected 503s.")
@click.option("--drop-rate", default=0.0, type=float, help="Share of dropped connections.")
def emulator(
    *,
    pki_dir: Path | None,
    host: str,
    port: int,
    sign_responses: bool,
    seed: int,
    latency: float,
    error_rate: float,
    unavailable_rate: float,
    drop_rate: float,
) -> int:
    """Run the local gateway emulator (HTTPS, client certificates required) until Ctrl-C."""
    import tempfile  # noqa: PLC0415

    from gateway.demo import write_client_profile  # noqa: PLC0415
    from gateway.emulator import (  # noqa: PLC0415
        FaultPlan,
        emulator_config_from_pki,
        serve_emulator,
    )
    from gateway.testpki import generate_test_pki, load_test_pki  # noqa: PLC0415

    with contextlib.ExitStack() as stack:
        if pki_dir is None:
            pki_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shep-pki-")))
        has_pki = (pki_dir / "ca.pem").is_file()
        pki = load_test_pki(pki_dir) if has_pki else generate_test_pki(pki_dir)
        signer = None
        if sign_responses:
            signer = make_signer(
                Identity(
                    certificate=pki.auth.certificate,
                    private_key=pki.auth.private_key,
                    source=str(pki.auth.key_path),
                )
            )
        config = emulator_config_from_pki(
            pki,
            host=host,
            port=port,
            response_signer=signer,
            faults=FaultPlan(
                seed=seed,
                latency=latency,
                error_rate=error_rate,
                unavailable_rate=unavailable_rate,
                drop_rate=drop_rate,
            ),
        )

        def ready(url: str) -> None:
            shown = url.replace("0.0.0.0", "127.0.0.1")  # noqa: S104  (display only)
            profile = write_client_profile(pki, url=shown)
            click.echo(f"shep emulator: listening on {url} (Ctrl-C stops)")
            click.echo(f"  sync  {shown}/bip-sync-wss-gost/   async  {shown}/bip-async/")
            click.echo(f"  test PKI {pki.directory}; client profile {profile}")
            click.echo(f"  try: shep send --config {profile} --service echo --data FILE")

        serve_emulator(config, ready=ready)
    return 0


# --------------------------------------------------------------------------- validate, contract

_COLORS: dict[str, dict[str, Any]] = {
    "ok": {"fg": "green"},
    "fail": {"fg": "red", "bold": True},
    "warn": {"fg": "yellow"},
    "skip": {"fg": "cyan"},
    "target": {"bold": True},
    "dim": {"dim": True},
}


def _use_color(choice: str) -> bool:
    if choice == "auto":
        return sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    return choice == "always"


def _styled(text: str, role: str) -> str:
    return click.style(text, **_COLORS.get(role, {})) if text else text


@shep.command()
@click.option(
    "--wsdl",
    "contracts",
    multiple=True,
    metavar="FILE|DIR",
    type=click.Path(exists=True, path_type=Path),
    help="WSDL or XSD contract, or a directory of them (repeatable).",
)
@click.option(
    "--contract-root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Directory contract imports may be read from (default: the parent of a --wsdl "
    "directory, or a file's grandparent).",
)
@click.option(
    "--payload",
    "payloads",
    multiple=True,
    metavar="FILE|DIR",
    type=click.Path(exists=True, path_type=Path),
    help="Payload document, or a directory of *.xml (repeatable); needs --service or --xsd.",
)
@click.option("--service", "service_id", metavar="ID", help="serviceId in --registry.")
@click.option(
    "--registry",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Service registry (TOML): serviceId -> xsd, root element, sample payloads.",
)
@click.option(
    "--xsd",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="XSD for --payload files, without a registry.",
)
@click.option("--element", metavar="QNAME", help="Root element for --xsd: {ns}Name or p:Name.")
@click.option(
    "--envelope",
    "envelopes",
    multiple=True,
    metavar="FILE|DIR",
    type=click.Path(exists=True, path_type=Path),
    help="SOAP envelope, or a directory of *.xml (repeatable).",
)
@click.option(
    "--against",
    multiple=True,
    metavar="FILE|DIR",
    type=click.Path(exists=True, path_type=Path),
    help="Channel WSDL(s) envelopes are checked against (default: the bundled v10 ones).",
)
@click.option(
    "--trust",
    type=click.Path(exists=True, path_type=Path),
    help="Verify signed envelopes against these certificates (file or directory).",
)
@click.option(
    "--intermediates",
    type=click.Path(exists=True, path_type=Path),
    help="Extra (untrusted) certificates for chains and IssuerSerial.",
)
@click.option("--at", "at", metavar="TIME", help="Time of check (ISO 8601) for --trust.")
@click.option("--require-signature", is_flag=True, help="Unsigned envelopes fail.")
@click.option("--strict", is_flag=True, help="Warnings fail too.")
@click.option(
    "--max-errors",
    default=50,
    show_default=True,
    type=click.IntRange(min=1),
    help="Findings shown per check.",
)
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a JUnit XML report here (atomically).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--color",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Colour the report (auto: on a terminal, unless NO_COLOR is set).",
)
@click.option("-q", "--quiet", is_flag=True, help="Show only failures and warnings.")
def validate(
    *,
    contracts: tuple[Path, ...],
    contract_root: Path | None,
    payloads: tuple[Path, ...],
    service_id: str | None,
    registry: Path | None,
    xsd: Path | None,
    element: str | None,
    envelopes: tuple[Path, ...],
    against: tuple[Path, ...],
    trust: Path | None,
    intermediates: Path | None,
    at: str | None,
    require_signature: bool,
    strict: bool,
    max_errors: int,
    junit: Path | None,
    as_json: bool,
    color: str,
    quiet: bool,
) -> int:
    """Check contracts, payloads and envelopes offline; exit 1 if any check fails.

    For CI: human output grouped by file (colour on a terminal), --junit for the CI's test
    report, --json for scripts. Exit 0 all passed, 1 a check failed, 2 usage error.
    """
    from gateway.report import plain, render_json, render_junit, render_text  # noqa: PLC0415
    from gateway.validate import (  # noqa: PLC0415
        ServiceSchema,
        ValidationRequest,
        load_channels,
        load_service_registry,
        run_validation,
    )

    _check_validate_usage(
        inputs=bool(contracts or payloads or envelopes or registry),
        payloads=bool(payloads),
        service=service_id is not None,
        registry=registry is not None,
        xsd=xsd is not None,
        element=element is not None,
        trust=trust is not None,
        trust_options=bool(intermediates or at),
    )
    services = load_service_registry(registry) if registry is not None else None
    service = None
    if xsd is not None:
        service = ServiceSchema(
            service_id=xsd.stem, xsd=xsd, root=element, contract_root=contract_root
        )
    elif service_id is not None and services is not None:
        service = services.get(service_id)
    registered: tuple[ServiceSchema, ...] = ()
    if services is not None and not payloads:
        registered = (service,) if service is not None else tuple(services.services.values())
    policy = None
    if trust is not None:
        policy = VerifyPolicy(
            trusted_certs=load_certificates_from_path(trust),
            intermediates=load_certificates_from_path(intermediates) if intermediates else (),
            time=_parse_time(at),
            suites=ALL_SUITES,
        )
    request = ValidationRequest(
        contracts=contracts,
        contract_root=contract_root,
        payloads=payloads,
        service=service if payloads else None,
        registered=registered,
        registry=services,
        envelopes=envelopes,
        channels=load_channels(against, root=contract_root) if against else (),
        policy=policy,
        require_signature=require_signature,
        strict=strict,
        max_errors=max_errors,
    )
    report = run_validation(request)
    base = Path.cwd()
    if junit is not None:
        write_atomic(junit, render_junit(report, base=base))
    if as_json:
        click.echo(render_json(report, base=base))
    else:
        colored = _use_color(color)
        text = render_text(report, quiet=quiet, base=base, style=_styled if colored else plain)
        click.echo(text, nl=False, color=colored)
    return 0 if report.ok else 1


def _check_validate_usage(
    *,
    inputs: bool,
    payloads: bool,
    service: bool,
    registry: bool,
    xsd: bool,
    element: bool,
    trust: bool,
    trust_options: bool,
) -> None:
    """Option combinations ``shep validate`` refuses (exit 2), each with what to do instead."""
    problems = [
        (not inputs, "nothing to validate: give --wsdl, --payload, --envelope or --registry"),
        (xsd and service, "give either --service (from --registry) or --xsd, not both"),
        (element and not xsd, "--element names the root element of --xsd"),
        (service and not registry, "--service needs --registry (or give --xsd)"),
        (payloads and not (xsd or service), "--payload needs --service ID or --xsd FILE"),
        (trust_options and not trust, "--intermediates and --at go with --trust"),
    ]
    for wrong, message in problems:
        if wrong:
            raise click.UsageError(message)


@shep.group("contract")
def contract_group() -> None:
    """Inspect a WSDL contract: its operations and sample messages."""


def _root_option(func: Any) -> Any:
    return click.option(
        "--root",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        help="Directory imports may be read from (default: the WSDL's grandparent; the "
        "published bundle needs its top directory).",
    )(func)


@contract_group.command("show")
@_root_option
@click.option("--tree", is_flag=True, help="Also show every message's full structure.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (Clark names).")
@click.argument("wsdl", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def contract_show(*, root: Path | None, tree: bool, as_json: bool, wsdl: Path) -> int:
    """List services, ports, operations and message signatures of WSDL."""
    from gateway.contracts import load_contract  # noqa: PLC0415
    from gateway.contractview import describe_contract, outline  # noqa: PLC0415

    contract = load_contract(wsdl, root=root)
    if as_json:
        click.echo(json.dumps(describe_contract(contract, tree=tree), ensure_ascii=False, indent=2))
    else:
        click.echo("\n".join(outline(contract, tree=tree)))
    return 0


@contract_group.command("sample")
@_root_option
@click.option("--response", "part", flag_value="output", help="The operation's response instead.")
@click.option("--fault", "part", flag_value="fault", help="A SOAP fault with its detail.")
@click.option(
    "--required-only", is_flag=True, help="Leave out optional elements (default: include)."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the sample here (atomically) instead of stdout.",
)
@click.argument("wsdl", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("operation")
def contract_sample(
    *,
    root: Path | None,
    part: str | None,
    required_only: bool,
    output: Path | None,
    wsdl: Path,
    operation: str,
) -> int:
    """Print a sample request of OPERATION in WSDL (a SOAP 1.1 envelope that fits its XSD)."""
    from gateway.contracts import load_contract  # noqa: PLC0415
    from gateway.contractview import sample_message  # noqa: PLC0415

    contract = load_contract(wsdl, root=root)
    kind: Any = part or "input"
    _emit(sample_message(contract, operation, part=kind, optional=not required_only), output)
    return 0


# --------------------------------------------------------------------------- test PKI


@shep.command("testpki")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def testpki(directory: Path) -> int:
    """Generate a throw-away test PKI (CA, NCA-like signer, SIGEX key, TLS pair) in DIRECTORY."""
    from gateway.testpki import generate_test_pki  # noqa: PLC0415

    directory.mkdir(parents=True, exist_ok=True)
    pki = generate_test_pki(directory)
    click.echo(f"test PKI written to {pki.directory} (password: see gateway.testpki)")
    return 0


# --------------------------------------------------------------------------- batch


@shep.group()
def batch() -> None:
    """Submit thousands of messages with a durable journal (resumable, no duplicates)."""


def _journal_option(func: Any) -> Any:
    return click.option(
        "--journal",
        metavar="PATH|URL",
        help="SQLite journal file (default: INPUT.SERVICE.shep-journal.sqlite) or postgresql://…",
    )(func)


def _run_batch(journal: Any, settings: Any, options: Any, *, quiet: bool) -> int:
    """Send what is due in ``journal``, with a progress bar on a terminal; print a summary."""
    from gateway.batch import State, submit_batch  # noqa: PLC0415
    from gateway.config import open_client  # noqa: PLC0415

    counts = journal.counts()
    total = sum(counts.values())
    done = counts["delivered"] + counts["failed"]
    client = open_client(
        dataclasses.replace(settings, retries=0), os.environ, pool_size=options.concurrency
    )
    show = not quiet and sys.stderr.isatty()
    with client, contextlib.ExitStack() as stack:
        hook = None
        if show:
            from rich.progress import (  # noqa: PLC0415
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeRemainingColumn,
            )

            progress = stack.enter_context(
                Progress(
                    TextColumn("[bold]batch"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TaskProgressColumn(),
                    TextColumn("{task.fields[rate]:.1f} msg/s"),
                    TimeRemainingColumn(),
                    transient=False,
                )
            )
            task = progress.add_task("batch", total=total, completed=done, rate=0.0)
            started = time.monotonic()
            finished = 0

            def hook(outcome: Any) -> None:
                nonlocal finished
                if outcome.state in (State.DELIVERED, State.FAILED):
                    finished += 1
                    rate = finished / max(time.monotonic() - started, 1e-6)
                    progress.update(task, advance=1, rate=rate)

        summary = submit_batch(journal, client, options, on_outcome=hook)
    counts = summary.counts
    rate = summary.attempts / summary.elapsed if summary.elapsed else 0.0
    click.echo(
        f"batch {journal.batch().batch_id}: {counts['delivered']} delivered, "
        f"{counts['failed']} failed, {counts['pending'] + counts['retry-wait']} left "
        f"({summary.attempts} sends in {summary.elapsed:.1f} s, {rate:.1f}/s)"
        + (" — interrupted; `shep batch resume` continues" if summary.interrupted else ""),
        err=True,
    )
    for key, error in journal.last_errors(3) if counts["failed"] else []:
        click.echo(f"  failed {key}: {error}", err=True)
    if summary.interrupted:
        return 130
    return 1 if counts["failed"] else 0


def _submit_options(concurrency: int, rate: float | None, max_attempts: int) -> Any:
    from gateway.batch import SubmitOptions  # noqa: PLC0415

    return SubmitOptions(concurrency=concurrency, rate=rate, max_attempts=max_attempts)


def _sending_options(func: Any) -> Any:
    func = click.option("--quiet", is_flag=True, help="No progress bar (the summary stays).")(func)
    func = click.option(
        "--max-attempts",
        default=5,
        show_default=True,
        type=click.IntRange(min=1),
        help="Attempts per item before it is marked failed.",
    )(func)
    func = click.option(
        "--rate",
        type=click.FloatRange(min=0, min_open=True),
        metavar="MSGS_PER_S",
        help="Global send rate limit.",
    )(func)
    return click.option(
        "--concurrency",
        default=4,
        show_default=True,
        type=click.IntRange(1, 64),
        help="Messages in flight at once.",
    )(func)


@batch.command("submit")
@click.argument("source", metavar="INPUT", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--service",
    "service_id",
    required=True,
    metavar="ID",
    help="serviceId (JSONL/CSV items may name their own).",
)
@click.option("--batch-id", help="Batch id (default: derived from INPUT and --service).")
@_journal_option
@_sending_options
@_profile_options
def batch_submit(
    *,
    source: Path,
    service_id: str,
    batch_id: str | None,
    journal: str | None,
    concurrency: int,
    rate: float | None,
    max_attempts: int,
    quiet: bool,
    config: Path | None,
    profile: str | None,
) -> int:
    """Journal every item of INPUT (a directory of XML files, a .jsonl or a .csv manifest)
    and send them; re-running it resumes and never sends an item under a new messageId."""
    from gateway.batch.run import default_journal_path, ingest, open_journal  # noqa: PLC0415
    from gateway.config import load_profile  # noqa: PLC0415

    options = _submit_options(concurrency, rate, max_attempts)
    settings = load_profile(_config_path(config), profile=profile, environ=os.environ)
    journal_spec = journal or default_journal_path(source, service_id)
    store = open_journal(journal_spec)
    try:
        added = ingest(store, source, service_id=service_id, batch_id=batch_id)
        if added:
            click.echo(f"journal {journal_spec}: {added} new item(s)", err=True)
        return _run_batch(store, settings, options, quiet=quiet)
    finally:
        store.close()


@batch.command("resume")
@click.argument("journal", metavar="JOURNAL")
@_sending_options
@_profile_options
def batch_resume(
    *,
    journal: str,
    concurrency: int,
    rate: float | None,
    max_attempts: int,
    quiet: bool,
    config: Path | None,
    profile: str | None,
) -> int:
    """Continue a batch after a crash or Ctrl-C: in-flight items are resent, same messageIds."""
    from gateway.batch.run import ingest, open_journal  # noqa: PLC0415
    from gateway.config import load_profile  # noqa: PLC0415

    options = _submit_options(concurrency, rate, max_attempts)
    settings = load_profile(_config_path(config), profile=profile, environ=os.environ)
    store = _open_existing_journal(journal, open_journal)
    try:
        info = store.batch()
        if not info.ingested:  # the crash came while reading the input: finish that first
            ingest(store, Path(info.source), service_id=info.service_id, batch_id=info.batch_id)
        return _run_batch(store, settings, options, quiet=quiet)
    finally:
        store.close()


def _open_existing_journal(spec: str, open_journal: Any) -> Any:
    if "://" not in spec and not Path(spec).is_file():
        raise InputError("no such journal", file=spec)
    return open_journal(spec)


@batch.command("status")
@click.argument("journal", metavar="JOURNAL")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def batch_status(*, journal: str, as_json: bool) -> int:
    """Counts per state and the last errors of a batch."""
    from gateway.batch.run import open_journal  # noqa: PLC0415

    store = _open_existing_journal(journal, open_journal)
    try:
        info = store.batch()
        counts = store.counts()
        errors = store.last_errors(5)
    finally:
        store.close()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "batch_id": info.batch_id,
                    "service_id": info.service_id,
                    "source": info.source,
                    "ingested": info.ingested,
                    "counts": counts,
                    "last_errors": [{"key": k, "error": e} for k, e in errors],
                },
                ensure_ascii=False,
            )
        )
        return 0
    total = sum(counts.values())
    click.echo(f"batch {info.batch_id} ({info.service_id}) from {info.source}")
    click.echo(
        f"  {total} items: "
        + ", ".join(f"{n} {state}" for state, n in counts.items() if n)
        + ("" if info.ingested else " (input not fully read yet)")
    )
    for key, error in errors:
        click.echo(f"  {key}: {error}")
    return 0


@batch.command("results")
@click.argument("journal", metavar="JOURNAL")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here (atomically) instead of stdout.",
)
def batch_results(*, journal: str, fmt: str, output: Path | None) -> int:
    """Per-item outcome: key, messageId, status code, error, attempts, timings (no payloads)."""
    from gateway.batch.run import export_results, open_journal  # noqa: PLC0415

    store = _open_existing_journal(journal, open_journal)
    try:
        if output is None:
            for chunk in export_results(store, fmt):  # type: ignore[arg-type]
                sys.stdout.write(chunk)
        else:
            write_atomic_chunks(output, export_results(store, fmt))  # type: ignore[arg-type]
    finally:
        store.close()
    return 0

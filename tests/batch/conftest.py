"""A real, throw-away PostgreSQL server for the PostgreSQL journal tests.

Started once per session from Debian's binaries (``/usr/lib/postgresql/<version>/bin``,
installed by ``bin/setup``): ``initdb`` into a temporary directory, then ``pg_ctl start``
listening on 127.0.0.1 at a free port (its unix socket in that directory, not /run), trust
authentication, durability off for speed, ``pg_ctl stop`` at session end. PostgreSQL refuses
to run as root, so as root the directory is given to the ``postgres`` system user and the
server runs as it (``runuser``). Each test gets a schema of its own.

Where the server cannot be started the tests that need it skip and say why; under CI
(``CI`` set) that is an error instead, so CI never passes without having run them.
"""

from __future__ import annotations

import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

_DEBIAN_ROOT = Path("/usr/lib/postgresql")
_START_TIMEOUT_S = 30
_SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "100",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "log_min_messages": "warning",
}


@dataclass(frozen=True, slots=True)
class PgServer:
    host: str
    port: int
    user: str
    database: str

    def url(self, dbname: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"


def _server_binaries() -> Path | None:
    """The newest Debian PostgreSQL server that has initdb and pg_ctl."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.name))

    candidates = [
        path / "bin"
        for path in (_DEBIAN_ROOT.iterdir() if _DEBIAN_ROOT.is_dir() else [])
        if (path / "bin" / "initdb").is_file() and (path / "bin" / "pg_ctl").is_file()
    ]
    candidates.sort(key=lambda bindir: version(bindir.parent))
    return candidates[-1] if candidates else None


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL tests must run under CI: {reason}")
    pytest.skip(f"no PostgreSQL server for the journal tests: {reason}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    bindir = _server_binaries()
    if bindir is None:
        _unavailable(f"no initdb/pg_ctl under {_DEBIAN_ROOT}/*/bin (bin/setup installs them)")
    as_user: list[str] = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root and there is no 'postgres' user to run the server")
        as_user = ["runuser", "-u", "postgres", "--"]
    # Not under pytest's tmp_path: its directories are private to root, and the server runs
    # as 'postgres'. A short path also keeps the unix socket under its 107-byte limit.
    workdir = Path(tempfile.mkdtemp(prefix="shep-pg-"))
    if owner is not None:
        os.chown(workdir, owner.pw_uid, owner.pw_gid)
    data = workdir / "data"
    log = workdir / "server.log"

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*as_user, *argv], check=False, cwd=workdir, capture_output=True, text=True, timeout=120
        )

    started = False
    try:
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
        done = run(*initdb, "-E", "UTF8", "--locale=C", "--no-sync")
        if done.returncode != 0:
            _unavailable(f"initdb failed: {done.stderr.strip()[-500:]}")
        port = _free_port()
        settings = {
            **_SERVER_SETTINGS,
            "port": str(port),
            "unix_socket_directories": f"'{workdir}'",
        }
        with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log)]
        done = run(*pg_ctl, "-w", "-t", str(_START_TIMEOUT_S), "start")
        if done.returncode != 0:
            server_log = log.read_text(errors="replace")[-1000:] if log.exists() else ""
            _unavailable(f"pg_ctl start failed: {done.stderr.strip()} {server_log}")
        started = True
        server = PgServer(host="127.0.0.1", port=port, user="postgres", database="shep_test")
        done = run(str(bindir / "createdb"), "-h", server.host, "-p", str(port), server.database)
        if done.returncode != 0:
            _unavailable(f"createdb failed: {done.stderr.strip()}")
        yield server
    finally:
        if started:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(workdir, ignore_errors=True)


_schema_numbers = itertools.count(1)


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A URL whose tables land in a fresh, empty schema (its ``search_path``) of the test
    database: as isolated as a database per test, and much faster to make."""
    psycopg = pytest.importorskip("psycopg")
    schema = f"test_{next(_schema_numbers)}"
    with psycopg.connect(pg_server.url(pg_server.database), autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    return pg_server.url(pg_server.database) + f"?options=-csearch_path%3D{schema}"

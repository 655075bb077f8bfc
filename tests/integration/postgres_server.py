"""A throwaway PostgreSQL server for tests: Debian's binaries, a temporary data directory,
127.0.0.1 on a free port, stopped by its PID.

``initdb`` refuses to run as root, and CI runs as root: there the server runs as the
``postgres`` user that Debian's package creates (its data directory is handed to that
user). Durability is switched off (``fsync``, synchronous commits): the data lives as
long as the test session.

Where the binaries are missing the tests skip, except in CI (``CI`` set), where
``.ci/run`` installs them and a missing server is a failure, never a silent skip.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import psycopg2
import pytest

SUPERUSER = "alphadag"
START_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg2.extensions.connection:
        return psycopg2.connect(
            host=self.host, port=self.port, user=SUPERUSER, dbname=database, connect_timeout=5
        )

    def create_database(self, name: str) -> str:
        """A new empty database (stores whose table names collide need one each); its URL."""
        connection = self.connect()
        connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.url(name)


def postgres_bin_dir() -> Path | None:
    """The newest installed server's bin folder (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else None


def unavailable(reason: str) -> NoReturn:
    """Skip on a developer's machine; fail in CI, where the server must be there."""
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {reason} (apt-get install postgresql)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_user() -> tuple[int, int] | None:
    """(uid, gid) to run the server as: ourselves, or `postgres` when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        unavailable("running as root and there is no `postgres` user to run the server as")
    return entry.pw_uid, entry.pw_gid


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a server, yield it, stop it by its PID and delete its data."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        unavailable("no /usr/lib/postgresql/*/bin/initdb")
    user = _server_user()
    as_user = {"user": user[0], "group": user[1], "extra_groups": []} if user else {}
    # under /tmp when the server runs as `postgres`: a private TMPDIR of root's would
    # keep that user out of its own data directory
    data_dir = Path(tempfile.mkdtemp(prefix="alphadag-postgres-", dir="/tmp" if user else None))
    if user:
        os.chown(data_dir, *user)
    env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "HOME": str(data_dir)}
    subprocess.run(
        [
            str(bin_dir / "initdb"),
            "--pgdata",
            str(data_dir / "data"),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        env=env,
        cwd=data_dir,
        **as_user,
    )
    port = _free_port()
    log = data_dir / "server.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data_dir / "data"),
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "unix_socket_directories=",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=data_dir,
            start_new_session=True,
            **as_user,
        )
    server = PostgresServer("127.0.0.1", port)
    try:
        _wait_until_ready(server, process, log)
        yield server
    finally:
        # SIGINT is PostgreSQL's "fast" shutdown: it ends the sessions and stops
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


def _wait_until_ready(server: PostgresServer, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"PostgreSQL exited at start-up:\n{log.read_text()[-2000:]}")
        try:
            server.connect().close()
            return
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)

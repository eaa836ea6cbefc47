"""A throwaway PostgreSQL server for the tests that run against both backends.

``NEWSLETTER_TEST_DATABASE_URL`` names a server to use instead (its user may CREATE DATABASE).
Otherwise Debian's PostgreSQL binaries (``initdb``, ``pg_ctl``) start a cluster in a temporary
folder on a free loopback port, as user ``postgres`` when the tests run as root, stopped and
removed at the end of the session. Without those binaries the PostgreSQL tests are skipped with
one line, except under CI (``CI`` set), where that is a failure. Each test gets a fresh database
created from a template.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

URL_ENV = "NEWSLETTER_TEST_DATABASE_URL"
#: The variable the test projects' schedule.yaml names in ``state.database_url_env``.
PROJECT_URL_ENV = "NEWSLETTER_DATABASE_URL"
SKIP = "PostgreSQL not installed: apt-get install postgresql (tests use its initdb/pg_ctl)"
TEMPLATE = "newsletter_template"


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    return versions[0].parent if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """A server the tests may create databases on: its admin URL and how to stop it."""

    def __init__(self, admin_url: str, stop: list[list[str]] | None = None) -> None:
        self.admin_url = admin_url
        self._stop = stop or []
        self.folder: Path | None = None
        self.users = 0

    def url(self, database: str) -> str:
        return urlunsplit(urlsplit(self.admin_url)._replace(path=f"/{database}"))

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create_database(self) -> str:
        name = f"nl_{uuid.uuid4().hex[:16]}"
        self.admin(f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE}')
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        for command in self._stop:
            subprocess.run(command, check=False, capture_output=True)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def _start_cluster() -> Cluster:
    bin_dir = _bin_dir()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        if os.environ.get("CI"):
            pytest.fail(f"{SKIP} (CI is set: the PostgreSQL tests must run)")
        pytest.skip(SKIP)
    folder = Path(tempfile.mkdtemp(prefix="newsletter-pg-"))
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (folder, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
    port = _free_port()
    run = [
        [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
         "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
        [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w",
         "-o", f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
         "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200", "start"],
    ]  # fmt: skip
    stop = _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
    cluster = Cluster(f"postgresql://postgres@127.0.0.1:{port}/postgres", [stop])
    cluster.folder = folder
    for command in run:
        done = subprocess.run(_as_postgres(command), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            cluster.stop()
            pytest.fail(f"{command[0]} failed: {done.stdout}{done.stderr}{tail}")
    return cluster


_cluster: Cluster | None = None


@contextlib.contextmanager
def shared_cluster() -> Iterator[Cluster]:
    """The session's server, started by its first user and stopped when its last one ends
    (several conftests each hold it in a session fixture)."""
    global _cluster
    if _cluster is None:
        given = os.environ.get(URL_ENV, "").strip()
        cluster = Cluster(given) if given else _start_cluster()
        cluster.admin(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        cluster.admin(f"CREATE DATABASE {TEMPLATE} TEMPLATE template0 ENCODING 'UTF8'")
        _cluster = cluster
    _cluster.users += 1
    try:
        yield _cluster
    finally:
        _cluster.users -= 1
        if _cluster.users == 0:
            with contextlib.suppress(Exception):
                _cluster.admin(f"DROP DATABASE IF EXISTS {TEMPLATE}")
            _cluster.stop()
            _cluster = None


@contextlib.contextmanager
def fresh_database(cluster: Cluster) -> Iterator[str]:
    """The URL of a new, empty database, dropped afterwards."""
    name = cluster.create_database()
    try:
        yield cluster.url(name)
    finally:
        cluster.drop_database(name)

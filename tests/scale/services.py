"""PostgreSQL and Redis from the Debian packages, each a private throw-away instance on 127.0.0.1.

PostgreSQL refuses to run as root: as root, ``initdb`` and ``postgres`` run as the ``postgres`` user (Debian's
package creates it) in a temp directory that user owns. ``fsync`` is off: the cluster lives for one test.
``missing()`` says why the services cannot run here (the scale test skips with that reason); ``make scale-deps``
installs the packages when it can.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.e2e.stack import HOST, Process, StackError, free_port, wait_for

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def pg_bin_dir() -> Path | None:
    """The newest Debian PostgreSQL server's bin directory (``postgres``, ``initdb``), if installed."""
    found = sorted(
        glob.glob(PG_BIN_GLOB), key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0
    )
    for candidate in reversed(found):
        if (Path(candidate) / "postgres").is_file() and (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    return None


def _pg_user() -> str | None:
    """The user the cluster runs as: ourselves, or ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return ""
    return "postgres"


def missing() -> str | None:
    """Why PostgreSQL or Redis cannot be started here, or None."""
    if pg_bin_dir() is None:
        return "PostgreSQL server not installed (Debian package postgresql; `make scale-deps` installs it as root)"
    if _pg_user() == "":
        return "running as root but there is no postgres user to run PostgreSQL as"
    if shutil.which("redis-server") is None:
        return (
            "redis-server not installed (Debian package redis-server; `make scale-deps` installs it as root)"
        )
    return None


class Postgres:
    """``initdb`` + ``postgres`` in the foreground (a :class:`Process`, so the stack's stop logic applies)."""

    def __init__(self, log_dir: Path) -> None:
        self.bin = pg_bin_dir()
        if self.bin is None:
            raise StackError(missing() or "no PostgreSQL")
        self.user = _pg_user()
        # Not under pytest's tmp (0700 directories of root's): the postgres user must reach it.
        self.dir = Path(tempfile.mkdtemp(prefix="iot-jobs-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.log_dir = log_dir
        self.process: Process | None = None
        self.url = f"postgresql+psycopg2://{self.user or pwd.getpwuid(os.geteuid()).pw_name}@{HOST}:{self.port}/airflow"
        self.dsn = f"host={HOST} port={self.port} dbname=airflow user={self.user or pwd.getpwuid(os.geteuid()).pw_name}"

    def _as_user(self) -> dict:
        return {"user": self.user, "group": self.user, "extra_groups": []} if self.user else {}

    def start(self, timeout: float = 60) -> None:
        if self.user:
            shutil.chown(self.dir, self.user, self.user)
        init = subprocess.run(
            [str(self.bin / "initdb"), "-D", str(self.data), "--auth=trust", "-E", "UTF8", "--no-sync"],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.dir,
            **self._as_user(),
        )
        (self.log_dir / "initdb.log").write_text(init.stdout + init.stderr)
        if init.returncode:
            raise StackError(f"initdb failed:\n{init.stdout}{init.stderr}")
        cmd = [
            str(self.bin / "postgres"),
            "-D", str(self.data),
            "-k", str(self.dir),
            "-h", HOST,
            "-p", str(self.port),
            "-c", "fsync=off",
            "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off",
            "-c", "max_connections=300",
            "-c", "shared_buffers=64MB",
        ]  # fmt: skip
        self.process = Process(
            "postgres", cmd, dict(os.environ), self.log_dir, cwd=self.dir, **self._as_user()
        )
        wait_for("PostgreSQL to accept connections", self._ready, timeout)
        created = subprocess.run(
            [
                str(self.bin / "createdb"),
                "-h",
                HOST,
                "-p",
                str(self.port),
                "-U",
                self.user or pwd.getpwuid(os.geteuid()).pw_name,
                "airflow",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if created.returncode:
            raise StackError(f"createdb failed: {created.stderr}")

    def _ready(self) -> bool:
        assert self.process is not None
        if not self.process.alive():
            raise StackError("postgres exited:\n" + self.process.tail())
        return (
            subprocess.run(
                [str(self.bin / "pg_isready"), "-h", HOST, "-p", str(self.port)], capture_output=True
            ).returncode
            == 0
        )

    def stop(self) -> None:
        if self.process is not None:
            # SIGINT: "fast" shutdown (SIGTERM would wait for every client to disconnect)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.popen.pid, signal.SIGINT)
            deadline = time.monotonic() + 15
            while self.process.alive() and time.monotonic() < deadline:
                time.sleep(0.2)
            self.process.stop(grace=5)
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    """``redis-server`` on 127.0.0.1, no persistence, in the foreground."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://{HOST}:{self.port}/0"
        cmd = [
            shutil.which("redis-server") or "redis-server",
            "--port", str(self.port),
            "--bind", HOST,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
        ]  # fmt: skip
        self.process = Process("redis", cmd, dict(os.environ), log_dir)
        wait_for("Redis to listen", self._ready, 30)

    def _ready(self) -> bool:
        if not self.process.alive():
            raise StackError("redis-server exited:\n" + self.process.tail())
        import socket

        with socket.create_connection((HOST, self.port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    def stop(self) -> None:
        self.process.stop(grace=5)

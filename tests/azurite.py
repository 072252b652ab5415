"""Azurite, the Azure Storage emulator (npm ``azurite``, pinned in package.json), on 127.0.0.1 for tests.

``start_azurite(tmp_dir)`` starts the blob service on a free port (Azurite binds port 0 and prints the one it
got) and returns once it answers; ``stop()`` ends it. The session fixture ``azurite`` shares one instance:
enable it with ``pytest_plugins = ["tests.azurite"]`` (in tests/conftest.py or a test module).

``make test`` installs the package with ``npm ci`` into ./node_modules.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

import pytest
from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContainerClient, generate_container_sas

ROOT = Path(__file__).resolve().parents[1]
EXECUTABLE = ROOT / "node_modules" / ".bin" / "azurite-blob"
HOST = "127.0.0.1"
# The well-known development account every Azurite and the legacy storage emulator accept.
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_LISTENING = re.compile(r"listens on (http://[\d.]+:\d+)")


class AzuriteError(RuntimeError):
    """Azurite is not installed, did not start, or did not answer in time."""


class Azurite:
    """A running Azurite blob service."""

    account_name = ACCOUNT_NAME
    account_key = ACCOUNT_KEY

    def __init__(self, process: subprocess.Popen[str], url: str, output: list[str]) -> None:
        self.process = process
        self.url = url  # http://127.0.0.1:<port>
        self.blob_endpoint = f"{url}/{ACCOUNT_NAME}"
        self._output = output

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def service(self) -> BlobServiceClient:
        return BlobServiceClient.from_connection_string(self.connection_string)

    def container(self, name: str, *, create: bool = True) -> ContainerClient:
        """A shared-key client for container ``name`` (created unless ``create=False``)."""
        client = self.service().get_container_client(name)
        if create:
            with contextlib.suppress(ResourceExistsError):
                client.create_container()
        return client

    def container_url(self, name: str) -> str:
        return f"{self.blob_endpoint}/{name}"

    def container_sas_url(
        self, name: str, permissions: str = "rwdl", expiry_minutes: float = 60, *, create: bool = True
    ) -> str:
        """``<endpoint>/<name>?<container SAS>``, signed with the account key; creates the container first."""
        if create:
            self.container(name)
        now = datetime.now(UTC)
        token = generate_container_sas(
            ACCOUNT_NAME,
            name,
            account_key=ACCOUNT_KEY,
            permission=permissions,
            start=now - timedelta(minutes=5),
            expiry=now + timedelta(minutes=expiry_minutes),
        )
        return f"{self.container_url(name)}?{token}"

    @property
    def output(self) -> str:
        return "".join(self._output)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)

    def __enter__(self) -> Azurite:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _pump(stream: object, lines: queue.Queue[str], output: list[str]) -> None:
    for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
        output.append(line)
        lines.put(line)


def start_azurite(tmp_dir: str | os.PathLike[str], timeout: float = 60.0) -> Azurite:
    """Start Azurite's blob service on 127.0.0.1 (in-memory, any free port) and wait until it answers."""
    if not EXECUTABLE.exists():
        raise AzuriteError(f"{EXECUTABLE} is missing: run `npm ci --no-audit --no-fund` (make test does)")
    location = Path(tmp_dir)
    location.mkdir(parents=True, exist_ok=True)
    command = [
        str(EXECUTABLE),
        "--blobHost",
        HOST,
        "--blobPort",
        "0",
        "--inMemoryPersistence",  # (excludes --location; the process still runs in tmp_dir)
        "--skipApiVersionCheck",
        "--loose",
        "--disableProductStyleUrl",
        "--disableTelemetry",
        "--silent",
    ]
    process = subprocess.Popen(
        command,
        cwd=location,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: stop() ends node and anything it started
    )
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []
    threading.Thread(target=_pump, args=(process.stdout, lines, output), daemon=True).start()
    deadline = time.monotonic() + timeout
    url = None
    try:
        while url is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or process.poll() is not None:
                raise AzuriteError("Azurite did not start:\n" + "".join(output))
            with contextlib.suppress(queue.Empty):
                match = _LISTENING.search(lines.get(timeout=min(remaining, 0.5)))
                if match:
                    url = match.group(1)
        server = Azurite(process, url, output)
        while True:
            try:
                next(iter(server.service().list_containers()), None)
                return server
            except AzureError:
                if time.monotonic() > deadline:
                    raise AzuriteError("Azurite does not answer:\n" + server.output) from None
                time.sleep(0.1)
    except BaseException:
        Azurite(process, url or "", output).stop()
        raise


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """One Azurite blob service for the whole test session."""
    server = start_azurite(tmp_path_factory.mktemp("azurite"))
    try:
        yield server
    finally:
        server.stop()

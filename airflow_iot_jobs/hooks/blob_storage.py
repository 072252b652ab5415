"""Blob containers for identity import/export: short-lived least-privilege SAS URIs and streaming reads/writes.

The account comes from an Airflow connection that uses the field names of the ``wasb`` connection type
(Login = account name, Password = account key, extra ``connection_string`` / ``sas_token`` / ``account_url``),
or from container SAS URIs given directly. SAS URIs are secrets: they are masked and never returned or logged
with their query string (``strip_sas``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow.sdk import BaseHook

DEFAULT_SAS_LIFETIME = timedelta(hours=2)
UPLOAD_BLOCK_BYTES = 4 * 1024 * 1024
DOWNLOAD_CHUNK_BYTES = 4 * 1024 * 1024
EXPORT_PERMISSIONS = "wl"  # write the export, list to check the container
IMPORT_PERMISSIONS = "rwl"  # read the input, write the error log


def strip_sas(url: str) -> str:
    """The URL without its query string (the SAS token)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _mask(*secrets: str | None) -> None:
    from airflow.sdk.log import mask_secret

    for secret in secrets:
        if secret:
            mask_secret(secret)


@dataclass(frozen=True)
class BlobLocation:
    """One blob in a container reachable through ``container_uri`` (which may carry a SAS token)."""

    container_uri: str
    blob_name: str

    @property
    def url(self) -> str:
        """The blob's URL without any SAS token: safe for logs and XCom."""
        return f"{strip_sas(self.container_uri).rstrip('/')}/{self.blob_name}"


class DeviceBlobStorage(BaseHook):
    """A storage account (``wasb``-style connection) or bare container SAS URIs.

    :param wasb_conn_id: a connection with the storage account; optional when every container is given as a
        SAS URI.
    """

    conn_name_attr = "wasb_conn_id"
    default_conn_name = "wasb_default"
    conn_type = "wasb"
    hook_name = "Azure Blob Storage (IoT import/export)"

    def __init__(self, wasb_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from airflow_iot_jobs.hooks.azure_auth import quiet_azure_sdk_logging

        quiet_azure_sdk_logging()
        self.wasb_conn_id = wasb_conn_id
        self._service: Any = None
        self._account_key: str | None = None

    # ------------------------------------------------------------------ account access

    @property
    def service(self) -> Any:
        if self._service is None:
            if not self.wasb_conn_id:
                raise ValueError(
                    "wasb_conn_id: needed to create containers and SAS URIs; or pass container SAS URIs"
                )
            from azure.storage.blob import BlobServiceClient

            conn = self.get_connection(self.wasb_conn_id)
            extra = conn.extra_dejson
            connection_string = extra.get("connection_string") or extra.get("connectionString")
            account_url = extra.get("account_url") or (
                conn.host if (conn.host or "").startswith("http") else None
            )
            _mask(connection_string, conn.password, extra.get("sas_token"))
            if connection_string:
                self._service = BlobServiceClient.from_connection_string(connection_string)
                self._account_key = self._service.credential.account_key if self._service.credential else None
            elif conn.login and conn.password:
                url = account_url or f"https://{conn.login}.blob.core.windows.net"
                self._service = BlobServiceClient(
                    url, credential={"account_name": conn.login, "account_key": conn.password}
                )
                self._account_key = conn.password
            elif extra.get("sas_token") and account_url:
                self._service = BlobServiceClient(account_url, credential=extra["sas_token"])
            else:
                raise ValueError(
                    f"connection {self.wasb_conn_id!r}: give a storage connection string (extra "
                    "'connection_string'), or Login = account name and Password = account key, or extra "
                    "'sas_token' with extra 'account_url'"
                )
        return self._service

    def container_uri(
        self, container: str, permissions: str, lifetime: timedelta = DEFAULT_SAS_LIFETIME
    ) -> str:
        """Create the container if needed; return a container SAS URI that expires after ``lifetime``."""
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import generate_container_sas

        client = self.service.get_container_client(container)
        with contextlib.suppress(ResourceExistsError):
            client.create_container()
        if not self._account_key:
            raise ValueError(
                f"connection {self.wasb_conn_id!r}: making SAS URIs needs the account key; give container SAS "
                "URIs instead"
            )
        token = generate_container_sas(
            self.service.account_name,
            container,
            account_key=self._account_key,
            permission=permissions,
            start=datetime.now(UTC) - timedelta(minutes=5),
            expiry=datetime.now(UTC) + lifetime,
        )
        _mask(token)
        return f"{client.url}?{token}"

    # ------------------------------------------------------------------ streaming I/O

    @staticmethod
    def container_client(container_uri: str) -> Any:
        from azure.storage.blob import ContainerClient

        # 4 MiB downloads: the SDK's 32 MiB first GET makes streaming reads hold far more memory than needed.
        return ContainerClient.from_container_url(
            container_uri, max_single_get_size=DOWNLOAD_CHUNK_BYTES, max_chunk_get_size=DOWNLOAD_CHUNK_BYTES
        )

    def upload_lines(self, location: BlobLocation, lines: Iterable[str]) -> int:
        """Write lines to a block blob in 4 MB blocks (bounded memory); returns the line count."""
        from azure.storage.blob import BlobBlock

        blob = self.container_client(location.container_uri).get_blob_client(location.blob_name)
        blocks: list[BlobBlock] = []
        buffer = bytearray()
        count = 0

        def flush() -> None:
            block_id = f"{len(blocks):08d}"
            blob.stage_block(block_id, bytes(buffer))
            blocks.append(BlobBlock(block_id=block_id))
            buffer.clear()

        for line in lines:
            buffer += line.rstrip("\n").encode() + b"\n"
            count += 1
            if len(buffer) >= UPLOAD_BLOCK_BYTES:
                flush()
        if buffer or not blocks:
            flush()
        blob.commit_block_list(blocks)
        return count

    def iter_lines(self, location: BlobLocation) -> Iterator[str]:
        """The blob's lines, downloaded chunk by chunk (bounded memory); a missing blob yields nothing."""
        from azure.core.exceptions import ResourceNotFoundError

        blob = self.container_client(location.container_uri).get_blob_client(location.blob_name)
        try:
            stream = blob.download_blob()
        except ResourceNotFoundError:
            return
        tail = b""
        for chunk in stream.chunks():
            tail += chunk
            *complete, tail = tail.split(b"\n")
            for raw in complete:
                if raw.strip():
                    yield raw.decode()
        if tail.strip():
            yield tail.decode()

    def last_modified(self, location: BlobLocation) -> datetime | None:
        """When the blob was last written, or None when it does not exist."""
        from azure.core.exceptions import ResourceNotFoundError

        blob = self.container_client(location.container_uri).get_blob_client(location.blob_name)
        try:
            return blob.get_blob_properties().last_modified
        except ResourceNotFoundError:
            return None

    def iter_records(self, location: BlobLocation) -> Iterator[dict[str, Any]]:
        """JSON-lines records (e.g. an exported ``devices.txt``), one at a time."""
        for line in self.iter_lines(location):
            yield json.loads(line)

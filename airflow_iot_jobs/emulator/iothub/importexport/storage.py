"""The blob containers an import/export job names: open them, validate them as the service does on create,
and stream blobs in and out without ever holding a whole blob in memory.

``keyBased`` jobs reach the container through the SAS token in its URI, exactly as given. ``identityBased``
jobs carry no SAS: the real hub then uses its managed identity; the emulator uses the storage account
credentials it was started with (``storage_connection_string``), or refuses the job like a hub whose identity
has no role on the container.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError
from azure.storage.blob import BlobBlock, BlobClient, ContainerClient

KEY_BASED = "keyBased"
IDENTITY_BASED = "identityBased"

BLOCK_SIZE = 1024 * 1024  # 1 MiB blocks: a 1,000,000-device export is ~500 of the 50,000 a blob may have
# Small, bounded transfers: the first GET of a download is at most one chunk (the SDK default is 32 MiB).
_TRANSFER = {"max_single_get_size": BLOCK_SIZE, "max_chunk_get_size": BLOCK_SIZE}
JOB_CLIENT_OPTIONS: dict[str, Any] = {
    "connection_timeout": 10,
    "read_timeout": 120,
    "retry_total": 3,
    "retry_backoff_factor": 0.2,
    **_TRANSFER,
}
# Validation on create answers the HTTP request, so it must fail fast.
PROBE_CLIENT_OPTIONS: dict[str, Any] = {
    "connection_timeout": 5,
    "read_timeout": 15,
    "retry_total": 0,
    **_TRANSFER,
}

# All block ids of one blob must have the same length: the probe's matches BlockBlobWriter's "block-%08d".
_PROBE_BLOCK_ID = base64.b64encode(b"probe-00000000").decode("ascii")


class ContainerAccessError(Exception):
    """A container cannot be used; ``str()`` is a message fit for the client (never contains a SAS)."""


class BlobMissing(ContainerAccessError):
    """The container is fine but the named blob does not exist."""


@dataclass(frozen=True)
class StorageAccount:
    """Shared-key credentials of one storage account (what ``identityBased`` jobs are given access with)."""

    name: str
    key: str

    @classmethod
    def from_connection_string(cls, text: str) -> StorageAccount:
        fields: dict[str, str] = {}
        for part in text.split(";"):
            name, sep, value = part.strip().partition("=")
            if sep:
                fields[name.strip().lower()] = value.strip()
        name, key = fields.get("accountname", ""), fields.get("accountkey", "")
        if not name or not key:
            raise ValueError("storage connection string needs AccountName and AccountKey")
        try:
            base64.b64decode(key, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("storage connection string AccountKey is not base64") from None
        return cls(name, key)


def redact(uri: str) -> str:
    """The URI without its query string (the SAS), for messages and logs."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "<unparseable URI>"
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def open_container(
    uri: str,
    auth_type: str,
    account: StorageAccount | None,
    label: str,
    options: dict[str, Any],
) -> ContainerClient:
    """A client for the container ``uri`` names (no network I/O). ``label`` is "input" or "output"."""
    try:
        parts = urlsplit(uri.strip())
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.netloc
        or not parts.path.strip("/")
    ):
        raise ContainerAccessError(
            f"The {label} blob container URI '{redact(uri)}' is not a valid blob container URI "
            "(expected https://<account>.blob.core.windows.net/<container>?<SAS>)"
        )
    credential: AzureNamedKeyCredential | None = None
    url = uri.strip()
    if auth_type == IDENTITY_BASED:
        if account is None:
            raise ContainerAccessError(
                f"The IoT hub's managed identity has no access to the {label} blob container "
                f"'{redact(uri)}': the emulator has no storage credentials "
                "(start it with storage_connection_string / --storage-connection-string)"
            )
        credential = AzureNamedKeyCredential(account.name, account.key)
        url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    try:
        return ContainerClient.from_container_url(url, credential=credential, **options)
    except ValueError as exc:
        raise ContainerAccessError(
            f"The {label} blob container URI '{redact(uri)}' is not valid: {exc}"
        ) from None


def _code(exc: HttpResponseError) -> str:
    code = exc.error_code  # a str, or a StorageErrorCode (a str enum)
    return str(getattr(code, "value", code) or exc.reason or "error")


def describe_error(exc: AzureError) -> str:
    if isinstance(exc, HttpResponseError):
        return f"the storage service answered {exc.status_code} {_code(exc)}"
    return "the storage service could not be reached"


def _failure(exc: AzureError, action: str, label: str, container: ContainerClient) -> ContainerAccessError:
    where = redact(container.url)
    if isinstance(exc, HttpResponseError):
        if _code(exc) == "ContainerNotFound":
            return ContainerAccessError(f"The {label} blob container '{where}' does not exist")
        if exc.status_code in (401, 403):
            return ContainerAccessError(
                f"Unauthorized to {action} {label} blob container '{where}': {describe_error(exc)} "
                "(check the SAS token's signature, expiry and permissions)"
            )
    return ContainerAccessError(f"Cannot {action} {label} blob container '{where}': {describe_error(exc)}")


def check_readable(container: ContainerClient, blob_name: str, label: str) -> None:
    """Can the job read ``blob_name``? A missing blob is fine here (the job fails later, like the service)."""
    try:
        container.get_blob_client(blob_name).get_blob_properties()
    except ResourceNotFoundError as exc:
        if _code(exc) == "BlobNotFound":
            return
        raise _failure(exc, "read from", label, container) from None
    except AzureError as exc:
        raise _failure(exc, "read from", label, container) from None


def check_writable(container: ContainerClient, blob_name: str, label: str) -> None:
    """Can the job write ``blob_name``? Stages one uncommitted block: invisible, discarded by the next commit."""
    try:
        container.get_blob_client(blob_name).stage_block(_PROBE_BLOCK_ID, b"\n")
    except AzureError as exc:
        raise _failure(exc, "write to", label, container) from None


class BlockBlobWriter:
    """Writes one block blob as staged blocks of at most ``block_size`` bytes; ``commit()`` publishes it.

    Until ``commit()`` nothing is visible (a cancelled job leaves the previous blob, if any, untouched).
    """

    def __init__(self, blob: BlobClient, block_size: int = BLOCK_SIZE) -> None:
        self.blob = blob
        self.block_size = block_size
        self.bytes_written = 0
        self._buffer = bytearray()
        self._block_ids: list[str] = []

    def write(self, data: bytes) -> None:
        self._buffer += data
        self.bytes_written += len(data)
        while len(self._buffer) >= self.block_size:
            self._stage(bytes(memoryview(self._buffer)[: self.block_size]))  # one copy, then drop it
            del self._buffer[: self.block_size]

    def _stage(self, data: bytes) -> None:
        block_id = base64.b64encode(f"block-{len(self._block_ids):08d}".encode()).decode("ascii")
        self.blob.stage_block(block_id, data, length=len(data))
        self._block_ids.append(block_id)

    def commit(self) -> None:
        if self._buffer:
            self._stage(bytes(self._buffer))
            self._buffer.clear()
        self.blob.commit_block_list([BlobBlock(block_id=block_id) for block_id in self._block_ids])


class BlobLines:
    """Iterate a blob's lines (bytes, without line endings) chunk by chunk.

    ``consumed`` counts the bytes of the lines handed out so far, against the blob's ``size``.
    """

    def __init__(self, blob: BlobClient, label: str, container: ContainerClient) -> None:
        self.blob = blob
        try:
            self._download = blob.download_blob(max_concurrency=1)
        except ResourceNotFoundError as exc:
            if _code(exc) == "BlobNotFound":
                raise BlobMissing(
                    f"The blob '{blob.blob_name}' was not found in the {label} blob container "
                    f"'{redact(container.url)}'"
                ) from None
            raise _failure(exc, "read from", label, container) from None
        except AzureError as exc:
            raise _failure(exc, "read from", label, container) from None
        self.size: int = self._download.size or 0
        self.consumed = 0

    def __iter__(self) -> Iterator[bytes]:
        pending = bytearray()
        first = True
        for chunk in self._download.chunks():
            pending += chunk
            start = 0
            while True:
                end = pending.find(b"\n", start)
                if end < 0:
                    break
                line = bytes(pending[start:end])
                self.consumed += end + 1 - start
                start = end + 1
                if first:
                    line, first = line.removeprefix(b"\xef\xbb\xbf"), False
                yield line.rstrip(b"\r")
            del pending[:start]
        if pending:
            line = bytes(pending)
            self.consumed += len(pending)
            if first:
                line = line.removeprefix(b"\xef\xbb\xbf")
            yield line.rstrip(b"\r")

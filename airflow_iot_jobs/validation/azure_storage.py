"""Azure Storage naming rules for containers and blobs, checked before the storage account or a hub is called."""

from __future__ import annotations

import re

_CONTAINER = re.compile(r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
MAX_BLOB_NAME = 1024


def validate_container_name(value: object, field: str = "container") -> str:
    """Azure's rule: 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit."""
    if not isinstance(value, str) or not _CONTAINER.fullmatch(value):
        raise ValueError(
            f"{field}: {value!r} is not a valid container name (3 to 63 lowercase letters, digits and single "
            "hyphens, starting and ending with a letter or digit)"
        )
    return value


def validate_blob_name(value: object, field: str = "blob_name") -> str:
    if not isinstance(value, str) or not value.strip() or value.endswith("/") or len(value) > MAX_BLOB_NAME:
        raise ValueError(
            f"{field}: {str(value)[:60]!r} must be a blob name of 1 to {MAX_BLOB_NAME} characters not ending in '/'"
        )
    return value

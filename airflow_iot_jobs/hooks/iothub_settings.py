"""Where an IoT hub is and how to authenticate, read from an Airflow connection (type ``azure_iot_hub``)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, repr=False)
class IoTHubSettings:
    """Built from an Airflow connection. Never logged (repr hides everything secret)."""

    hostname: str
    endpoint: str
    connection_string: str | None = None
    policy_name: str | None = None
    shared_access_key: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    subscription_id: str | None = None
    resource_group: str | None = None

    def __repr__(self) -> str:
        return f"IoTHubSettings(hostname={self.hostname!r}, endpoint={self.endpoint!r})"

    @property
    def hub_name(self) -> str:
        return self.hostname.split(".", 1)[0]

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.connection_string, self.shared_access_key, self.client_secret) if s]

    @classmethod
    def from_connection(cls, conn: Any, extra: dict[str, Any]) -> IoTHubSettings:
        conn_id = conn.conn_id
        field = "Password" if conn.password else "extra 'connection_string'"
        connection_string = conn.password or extra.get("connection_string")
        parts: dict[str, str] = {}
        if connection_string:
            parts = parse_connection_string(connection_string, conn_id, field)
        hostname = parts.get("HostName") or conn.host
        if not hostname:
            raise ValueError(
                f"connection {conn_id!r}: give an IoT Hub connection string (Password, or extra "
                "'connection_string') or the hub host name (Host) for Microsoft Entra ID auth"
            )
        endpoint = (extra.get("endpoint_url") or f"https://{hostname}").rstrip("/")
        return cls(
            hostname=hostname,
            endpoint=endpoint,
            connection_string=connection_string or None,
            policy_name=parts.get("SharedAccessKeyName"),
            shared_access_key=parts.get("SharedAccessKey"),
            tenant_id=extra.get("tenant_id"),
            client_id=extra.get("client_id") or conn.login or None,
            client_secret=extra.get("client_secret"),
            subscription_id=extra.get("subscription_id"),
            resource_group=extra.get("resource_group"),
        )


def parse_connection_string(text: str, conn_id: str, field: str = "Password") -> dict[str, str]:
    """``HostName=…;SharedAccessKeyName=…;SharedAccessKey=…``, checked part by part; errors name the connection
    and the field, never the key."""
    parts: dict[str, str] = {}
    for item in text.strip().split(";"):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(
                f"connection {conn_id!r}: the connection string ({field}) has a part without '='"
            )
        parts[name.strip()] = value.strip()
    missing = [k for k in ("HostName", "SharedAccessKeyName", "SharedAccessKey") if not parts.get(k)]
    if missing:
        raise ValueError(
            f"connection {conn_id!r}: the connection string ({field}) lacks {', '.join(missing)}"
        )
    try:
        if not base64.b64decode(parts["SharedAccessKey"], validate=True):
            raise ValueError
    except (binascii.Error, ValueError):
        raise ValueError(
            f"connection {conn_id!r}: SharedAccessKey in the connection string ({field}) is not valid base64; "
            "copy the whole key from the hub's Shared access policies page"
        ) from None
    return parts

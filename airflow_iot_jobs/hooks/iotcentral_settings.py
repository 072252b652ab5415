"""Where an IoT Central application is and how to authenticate, read from an Airflow connection
(type ``azure_iot_central``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DEFAULT_BASE_DOMAIN = "azureiotcentral.com"
API_TOKEN_PREFIX = "SharedAccessSignature "


@dataclass(frozen=True, repr=False)
class IoTCentralSettings:
    """Built from an Airflow connection. Never logged (repr hides everything secret)."""

    subdomain: str
    base_domain: str
    endpoint: str  # https://<subdomain>.<base_domain>, or the extra endpoint_url
    api_token: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None

    def __repr__(self) -> str:
        return f"IoTCentralSettings(subdomain={self.subdomain!r}, endpoint={self.endpoint!r})"

    @property
    def app_url(self) -> str:
        """The application's own UI."""
        return f"https://{self.subdomain}.{self.base_domain}"

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.api_token, self.client_secret) if s]

    @classmethod
    def from_connection(cls, conn: Any, extra: dict[str, Any]) -> IoTCentralSettings:
        conn_id = conn.conn_id
        host = (conn.host or "").strip()
        if "//" in host:
            host = urlsplit(host).hostname or ""
        if not host:
            raise ValueError(
                f"connection {conn_id!r}: Host must name the application, as its subdomain ('myapp') or its "
                "host name ('myapp.azureiotcentral.com')"
            )
        subdomain, _, domain = host.partition(".")
        base_domain = domain or extra.get("base_domain") or DEFAULT_BASE_DOMAIN
        endpoint = (extra.get("endpoint_url") or f"https://{subdomain}.{base_domain}").rstrip("/")
        token = (conn.password or "").strip() or None
        if token and not token.startswith(API_TOKEN_PREFIX):
            raise ValueError(
                f"connection {conn_id!r}: Password must be a whole IoT Central API token, starting with "
                "'SharedAccessSignature sr=' (copy it as the application showed it when the token was made)"
            )
        return cls(
            subdomain=subdomain,
            base_domain=base_domain,
            endpoint=endpoint,
            api_token=token,
            tenant_id=extra.get("tenant_id"),
            client_id=extra.get("client_id") or conn.login or None,
            client_secret=extra.get("client_secret"),
        )

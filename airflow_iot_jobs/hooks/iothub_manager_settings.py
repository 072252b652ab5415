"""Where an IoTHub Manager service is and how to call it, read from an Airflow connection (type
``iothub_manager``): Host = the service's base URL, Password = an optional bearer JWT, extra ``headers``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_iot_jobs.hooks.http_settings import base_url, parse_extra_headers, secret_header_values

#: the header the solution's reverse proxy adds to outside requests; with it the service checks the bearer token
SOURCE_HEADER = "X-Source"
DEFAULT_SOURCE = "external"


@dataclass(frozen=True, repr=False)
class IoTHubManagerSettings:
    """Built from an Airflow connection. Never logged (repr shows the endpoint only)."""

    endpoint: str  # http://remote-monitoring:9002, https://…/iothubmanager: the routes /v1/… go under it
    token: str | None = None
    source: str = DEFAULT_SOURCE
    extra_headers: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"IoTHubManagerSettings(endpoint={self.endpoint!r}, bearer={'yes' if self.token else 'no'})"

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.token, *secret_header_values(self.extra_headers)) if s]

    def headers(self) -> dict[str, str]:
        """Extra headers, then auth as the reverse proxy sends it: ``X-Source`` and ``Authorization: Bearer``."""
        headers = dict(self.extra_headers)
        if self.token:
            headers[SOURCE_HEADER] = self.source
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    @classmethod
    def from_connection(cls, conn: Any, extra: dict[str, Any]) -> IoTHubManagerSettings:
        host = base_url(
            conn, "http://remote-monitoring:9002 or https://<solution>.azurewebsites.net/iothubmanager"
        )
        endpoint = host.removesuffix("/v1")  # the routes' own prefix, if the URL was copied with it
        token = (conn.password or "").strip()
        token = token.removeprefix("Bearer ").strip() or None
        return cls(
            endpoint=endpoint,
            token=token,
            source=str(extra.get("x_source") or DEFAULT_SOURCE),
            extra_headers=parse_extra_headers(extra.get("headers"), conn.conn_id),
        )

"""Where an IoTHub Manager service is and how to call it, read from an Airflow connection (type
``iothub_manager``): Host = the service's base URL, Password = an optional bearer JWT, extra ``headers``."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

#: the header the solution's reverse proxy adds to outside requests; with it the service checks the bearer token
SOURCE_HEADER = "X-Source"
DEFAULT_SOURCE = "external"
#: extra header names whose values are registered with the secrets masker
_SECRET_HEADER = re.compile(r"auth|key|token|secret|cookie|signature|password", re.IGNORECASE)


def _extra_headers(raw: object, conn_id: str) -> dict[str, str]:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ValueError(
                f"connection {conn_id!r}: extra 'headers' must be a JSON object of header names to values"
            ) from None
    if not isinstance(raw, Mapping) or not all(isinstance(k, str) and k for k in raw):
        raise ValueError(
            f"connection {conn_id!r}: extra 'headers' must be a JSON object of header names to values"
        )
    return {name: str(value) for name, value in raw.items()}


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
        hidden = [
            value for name, value in self.extra_headers.items() if _SECRET_HEADER.search(name) and value
        ]
        return [s for s in (self.token, *hidden) if s]

    def headers(self) -> dict[str, str]:
        """Extra headers, then auth as the reverse proxy sends it: ``X-Source`` and ``Authorization: Bearer``."""
        headers = dict(self.extra_headers)
        if self.token:
            headers[SOURCE_HEADER] = self.source
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    @classmethod
    def from_connection(cls, conn: Any, extra: dict[str, Any]) -> IoTHubManagerSettings:
        conn_id = conn.conn_id
        host = (conn.host or "").strip().rstrip("/")
        if not host:
            raise ValueError(
                f"connection {conn_id!r}: Host must be the service's base URL, e.g. http://remote-monitoring:9002 "
                "or https://<solution>.azurewebsites.net/iothubmanager"
            )
        if "://" not in host:  # a URI-style connection: iothub-manager://host:9002/http (schema: the scheme)
            schema = (conn.schema or "").strip().lower()
            host = f"{schema if schema in ('http', 'https') else 'https'}://{host}"
        parts = urlsplit(host)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"connection {conn_id!r}: Host {host!r} is not an http(s) URL")
        if conn.port and parts.port is None:
            host = parts._replace(netloc=f"{parts.netloc}:{conn.port}").geturl()
        endpoint = host.removesuffix("/v1")  # the routes' own prefix, if the URL was copied with it
        token = (conn.password or "").strip()
        token = token.removeprefix("Bearer ").strip() or None
        return cls(
            endpoint=endpoint,
            token=token,
            source=str(extra.get("x_source") or DEFAULT_SOURCE),
            extra_headers=_extra_headers(extra.get("headers"), conn_id),
        )

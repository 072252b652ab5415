"""Connection fields every plain-HTTP backend reads the same way: a base URL in Host, extra headers."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

#: extra header names whose values are registered with the secrets masker
SECRET_HEADER = re.compile(r"auth|key|token|secret|cookie|signature|password", re.IGNORECASE)


def parse_extra_headers(raw: object, conn_id: str) -> dict[str, str]:
    """The extra ``headers``: a JSON object of header names to values (a dict, or its JSON text)."""
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


def secret_header_values(headers: Mapping[str, str]) -> list[str]:
    return [value for name, value in headers.items() if SECRET_HEADER.search(name) and value]


def base_url(conn: Any, examples: str) -> str:
    """Host as an http(s) base URL without a trailing slash; a URI-style connection (``scheme://host:port/http``)
    gives its scheme in ``schema`` and its port in ``port``."""
    conn_id = conn.conn_id
    host = (conn.host or "").strip().rstrip("/")
    if not host:
        raise ValueError(f"connection {conn_id!r}: Host must be the service's base URL, e.g. {examples}")
    if "://" not in host:
        schema = (conn.schema or "").strip().lower()
        host = f"{schema if schema in ('http', 'https') else 'https'}://{host}"
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"connection {conn_id!r}: Host {host!r} is not an http(s) URL")
    if conn.port and parts.port is None:
        host = parts._replace(netloc=f"{parts.netloc}:{conn.port}").geturl()
    return host

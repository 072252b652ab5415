"""Where a ``@softchef/cdk-iot-device-management`` Job API is and how to call it, read from an Airflow connection
(type ``iot_device_management_api``).

Host: the API's base URL with its stage (``https://<api-id>.execute-api.<region>.amazonaws.com/prod``). Extra
``auth``: ``none`` (the construct's default: the API is open), ``iam`` (requests signed with SigV4 for
``execute-api``; the keys in Login / Password, or those of an ``aws`` connection named by extra ``aws_conn_id``,
or boto3's default chain; extra ``region``, else the one in the host name) or ``cognito`` (Password: a Cognito
ID token, sent as ``Authorization`` as API Gateway's Cognito authorizer expects). Extra ``headers``: more headers
(e.g. ``{"x-api-key": "…"}``), masked in logs when named like a key or token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_iot_jobs.hooks.http_settings import base_url, parse_extra_headers, secret_header_values

AUTH_MODES = ("none", "iam", "cognito")
#: ``<api-id>.execute-api.<region>.amazonaws.com`` (and .com.cn): the region an IAM signature is scoped to
_EXECUTE_API_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


@dataclass(frozen=True, repr=False)
class DeviceManagementApiSettings:
    """Built from an Airflow connection. Never logged (repr shows the endpoint and the auth mode only)."""

    endpoint: str
    auth: str = "none"
    id_token: str | None = None
    region: str | None = None
    aws_conn_id: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    extra_headers: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"DeviceManagementApiSettings(endpoint={self.endpoint!r}, auth={self.auth!r})"

    @property
    def secrets(self) -> list[str]:
        values = (
            self.id_token,
            self.secret_key,
            self.session_token,
            *secret_header_values(self.extra_headers),
        )
        return [s for s in values if s]

    def headers(self) -> dict[str, str]:
        """Extra headers, and the Cognito ID token (IAM signatures are added per request by the hook)."""
        headers = dict(self.extra_headers)
        if self.auth == "cognito" and self.id_token:
            headers["Authorization"] = self.id_token
        return headers

    @classmethod
    def from_connection(cls, conn: Any, extra: dict[str, Any]) -> DeviceManagementApiSettings:
        conn_id = conn.conn_id
        endpoint = base_url(conn, "https://<api-id>.execute-api.<region>.amazonaws.com/prod")
        auth = str(extra.get("auth") or "none").strip().lower()
        if auth not in AUTH_MODES:
            raise ValueError(
                f"connection {conn_id!r}: extra 'auth' must be one of {', '.join(AUTH_MODES)}, got {auth!r}"
            )
        password = (conn.password or "").strip() or None
        region = str(extra.get("region") or extra.get("region_name") or "").strip() or _region_of(endpoint)
        settings: dict[str, Any] = {}
        if auth == "cognito":
            if not password:
                raise ValueError(
                    f"connection {conn_id!r}: auth 'cognito' needs the Cognito ID token in Password"
                )
            settings["id_token"] = password.removeprefix("Bearer ").strip()
        elif auth == "iam":
            if not region:
                raise ValueError(
                    f"connection {conn_id!r}: auth 'iam' signs for one region: set extra 'region' (the host "
                    f"{urlsplit(endpoint).hostname!r} does not name one)"
                )
            login = (conn.login or "").strip() or None
            if bool(login) != bool(password):
                raise ValueError(
                    f"connection {conn_id!r}: auth 'iam' takes both Login (access key id) and Password (secret "
                    "access key), or neither (then extra 'aws_conn_id' or boto3's default credentials)"
                )
            settings.update(
                access_key=login,
                secret_key=password,
                session_token=str(extra.get("aws_session_token") or "").strip() or None,
                aws_conn_id=str(extra.get("aws_conn_id") or "").strip() or None,
            )
        return cls(
            endpoint=endpoint,
            auth=auth,
            region=region,
            extra_headers=parse_extra_headers(extra.get("headers"), conn_id),
            **settings,
        )


def _region_of(endpoint: str) -> str | None:
    match = _EXECUTE_API_HOST.search(urlsplit(endpoint).hostname or "")
    return match.group(1) if match else None

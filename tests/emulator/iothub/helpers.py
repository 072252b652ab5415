"""Helpers for the emulator tests: SAS tokens built here from the wire contract §3 (deliberately not with the
emulator's own helper), a thin requests client, job bodies and error assertions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import requests

from airflow_iot_jobs.emulator.iothub import IoTHubEmulator

API_VERSION = "2021-04-12"


def _signature(resource: str, expiry: int, key: str) -> str:
    digest = hmac.new(base64.b64decode(key), f"{resource}\n{expiry}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sas_sdk_style(host: str, key: str, policy: str = "iothubowner", expiry: int | None = None) -> str:
    """azure-iot-hub ``sastoken.py``: sr=quote_plus(host), sig=quote(b64) ('/' raw), order sr sig se skn."""
    expiry = int(time.time() + 3600) if expiry is None else expiry
    sr = quote_plus(host)
    sig = quote(_signature(sr, expiry, key))
    return f"SharedAccessSignature sr={sr}&sig={sig}&se={expiry}&skn={policy}"


def sas_cli_style(host: str, key: str, policy: str = "iothubowner", expiry: int | None = None) -> str:
    """Docs Python sample / az CLI: urlencode (quote_plus everywhere, '/' becomes %2F)."""
    expiry = int(time.time() + 600) if expiry is None else expiry
    fields = {"sr": host, "sig": _signature(quote_plus(host), expiry, key), "se": expiry, "skn": policy}
    return "SharedAccessSignature " + urlencode(fields)


def sas_old_order(host: str, key: str, policy: str = "iothubowner", expiry: int | None = None) -> str:
    """The older documented field order: sig, se, skn, sr."""
    expiry = int(time.time() + 600) if expiry is None else expiry
    sr = quote_plus(host)
    sig = quote_plus(_signature(sr, expiry, key))
    return f"SharedAccessSignature sig={sig}&se={expiry}&skn={policy}&sr={sr}"


class HubClient:
    """requests against one emulator, authenticated with an SDK-style SAS token."""

    def __init__(self, hub: IoTHubEmulator, token: str | None = None) -> None:
        self.hub = hub
        self.base = hub.endpoint
        self.session = requests.Session()
        now = hub.timeline.now()
        self.session.headers["Authorization"] = token or sas_sdk_style(
            hub.hostname, hub.key, expiry=int(now + 400 * 86400)
        )

    def request(self, method: str, path: str, *, api_version: str | None = API_VERSION, **kwargs: Any):
        params = dict(kwargs.pop("params", None) or {})
        if api_version is not None:
            params["api-version"] = api_version
        return self.session.request(method, self.base + path, params=params, timeout=30, **kwargs)

    def put_job(self, job_id: str, body: dict[str, Any]) -> requests.Response:
        return self.request("PUT", f"/jobs/v2/{job_id}", json=body)

    def get_job(self, job_id: str) -> requests.Response:
        return self.request("GET", f"/jobs/v2/{job_id}")

    def cancel(self, job_id: str) -> requests.Response:
        return self.request("POST", f"/jobs/v2/{job_id}/cancel")

    def query(self, text: str, *, page_size: int | None = None, continuation: str | None = None):
        headers = {}
        if page_size is not None:
            headers["x-ms-max-item-count"] = str(page_size)
        if continuation is not None:
            headers["x-ms-continuation"] = continuation
        return self.request("POST", "/devices/query", json={"query": text}, headers=headers)

    def query_all(self, text: str, page_size: int = 100) -> list[Any]:
        items: list[Any] = []
        token = None
        while True:
            response = self.query(text, page_size=page_size, continuation=token)
            assert response.status_code == 200, response.text
            items.extend(response.json())
            token = response.headers.get("x-ms-continuation")
            if not token:
                return items


def method_job(
    job_id: str, method: str = "reboot", condition: str = "*", payload: Any = None, **extra: Any
) -> dict[str, Any]:
    c2d: dict[str, Any] = {"methodName": method, "responseTimeoutInSeconds": 30, "connectTimeoutInSeconds": 5}
    if payload is not None:
        c2d["payload"] = payload
    body = {
        "jobId": job_id,
        "type": "scheduleDeviceMethod",
        "queryCondition": condition,
        "cloudToDeviceMethod": c2d,
    }
    body.update(extra)
    return body


def twin_job(job_id: str, patch: dict[str, Any], condition: str = "*", **extra: Any) -> dict[str, Any]:
    body = {
        "jobId": job_id,
        "type": "scheduleUpdateTwin",
        "queryCondition": condition,
        "updateTwin": {"etag": "*", **patch},
    }
    body.update(extra)
    return body


def assert_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers.get("iothub-errorcode") == code
    body = response.json()
    assert body["Message"].startswith(f"ErrorCode:{code};")
    assert body["ExceptionMessage"].startswith("Tracking ID:")
    assert "Traceback" not in response.text
    return body

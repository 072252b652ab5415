"""A small IoT Central client for the emulator tests: every response it receives is checked against the spec
extract (status code declared for the operation, body valid against the operation's response schema with
``jsonschema``, ``x-ms-error-code`` on errors, no body on 204)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import requests

from airflow_iot_jobs.emulator.iotcentral import IoTCentralEmulator
from airflow_iot_jobs.emulator.iotcentral.urls import ROUTES

SPEC_PATH = Path(__file__).resolve().parent / "spec" / "iotcentral-2022-07-31-jobs-extract.json"
API_VERSION = "2022-07-31"
TEMPLATES = (
    "dtmi:airflowIotJobs:gateway100;1",
    "dtmi:airflowIotJobs:gateway200;1",
    "dtmi:airflowIotJobs:sensorX;1",
)


@cache
def spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text())


def schema_for(definition: str) -> dict[str, Any]:
    """A JSON schema whose ``#/definitions/...`` refs resolve inside the extract."""
    return {"$ref": f"#/definitions/{definition}", "definitions": spec()["definitions"]}


def validate(instance: Any, definition: str) -> None:
    jsonschema.Draft4Validator(schema_for(definition)).validate(instance)


def check_response(method: str, template: str, response: requests.Response) -> None:
    """``response`` is one the spec declares for ``method template``."""
    responses = spec()["paths"][template][method.lower()]["responses"]
    declared = responses.get(str(response.status_code))
    if declared is None:
        assert response.status_code >= 400, f"{method} {template}: {response.status_code} is not declared"
        declared = responses["default"]
        assert response.headers.get("x-ms-error-code") == response.json()["error"]["code"]
    if "schema" in declared:
        assert response.headers["Content-Type"].startswith("application/json")
        jsonschema.Draft4Validator({**declared["schema"], "definitions": spec()["definitions"]}).validate(
            response.json()
        )
    else:
        assert response.content == b"", f"{method} {template}: {response.status_code} must have no body"


class CentralClient:
    def __init__(self, app: IoTCentralEmulator, token: str | None = None) -> None:
        self.app = app
        self.session = requests.Session()
        self.session.headers["Authorization"] = app.api_token if token is None else token
        self.checked: list[tuple[str, str, int]] = []

    def call(
        self,
        method: str,
        template: str,
        *,
        json_body: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        url: str | None = None,
        **path: str,
    ) -> requests.Response:
        """``method template`` (a spec path, ``{name}`` filled from ``path``), checked against the spec."""
        target = url or self.app.endpoint + "/api" + template.format(**path)
        query = {"api-version": API_VERSION} if params is None else params
        response = self.session.request(
            method, target, params=query, json=json_body, data=data, headers=headers, timeout=10
        )
        check_response(method, template, response)
        self.checked.append((method, template, response.status_code))
        return response

    def all_pages(self, template: str, **path: str) -> list[dict[str, Any]]:
        """Every item of a paged list, following absolute nextLinks (re-sending api-version, as the az CLI does)."""
        items: list[dict[str, Any]] = []
        response = self.call("GET", template, **path)
        while True:
            body = response.json()
            items.extend(body["value"])
            if "nextLink" not in body:
                return items
            response = self.call("GET", template, url=body["nextLink"], **path)

    # -- conveniences ------------------------------------------------------------------------------

    def group(self, group_id: str, where: str | None = None, **extra: Any) -> dict[str, Any]:
        text = "SELECT * FROM devices" + ("" if where is None else f" WHERE {where}")
        body = {"displayName": group_id, "filter": text, **extra}
        response = self.call("PUT", "/deviceGroups/{deviceGroupId}", json_body=body, deviceGroupId=group_id)
        assert response.status_code == 200, response.text
        return response.json()

    def job(self, job_id: str, body: dict[str, Any]) -> requests.Response:
        return self.call("PUT", "/jobs/{jobId}", json_body=body, jobId=job_id)

    def get_job(self, job_id: str) -> dict[str, Any]:
        response = self.call("GET", "/jobs/{jobId}", jobId=job_id)
        assert response.status_code == 200, response.text
        return response.json()

    def rows(self, job_id: str) -> list[dict[str, Any]]:
        return self.all_pages("/jobs/{jobId}/devices", jobId=job_id)


def command_job(
    group: str, command: str = "reboot", template: str = TEMPLATES[0], **extra: Any
) -> dict[str, Any]:
    return {
        "displayName": "test",
        "group": group,
        "data": [{"type": "command", "target": template, "path": command}],
        **extra,
    }


__all__ = ["API_VERSION", "ROUTES", "TEMPLATES", "CentralClient", "check_response", "command_job", "validate"]

"""The emulator's IoT Hub routes are the service's published ones: every route matches a URL template of the
azure-iot-hub SDK's generated operations (built from the service's REST model), with the verb the REST spec
gives it when the spec is at hand (``../shared/reference/specs`` beside a checkout)."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest

from airflow_iot_jobs.emulator.iothub.urls import URL_PATTERNS

SPEC = (
    Path(__file__).resolve().parents[4] / "shared" / "reference" / "specs" / "iothub-service-2021-04-12.json"
)


def templates_of(*operation_classes: type) -> set[str]:
    return {
        function.metadata["url"]
        for operations in operation_classes
        for _, function in inspect.getmembers(operations, inspect.isfunction)
        if isinstance(getattr(function, "metadata", None), dict)
    }


def template_of(pattern: str) -> str:
    return re.sub(r"\(\?P<\w+>\[\^/\]\+\)", "{id}", pattern).removesuffix("/?")


def test_every_route_is_a_published_url_template():
    """Every jobs and query route is served; besides them only the twin routes a rollout uses."""
    from azure.iot.hub.protocol.operations import DevicesOperations, JobsOperations, QueryOperations

    served = {template_of(pattern) for _, pattern, _ in URL_PATTERNS}
    jobs_and_queries = templates_of(JobsOperations, QueryOperations)
    assert jobs_and_queries <= served
    assert served - jobs_and_queries == {"/twins/{id}"}
    assert served <= jobs_and_queries | templates_of(DevicesOperations)


@pytest.mark.skipif(
    not SPEC.exists(), reason="the REST spec is not beside this checkout (../shared/reference)"
)
def test_every_route_has_the_verb_of_the_rest_spec():
    paths = json.loads(SPEC.read_text())["paths"]
    for method, pattern, name in URL_PATTERNS:
        template = template_of(pattern)
        assert method.lower() in paths[template], f"{name}: {method} {template} is not in the spec"

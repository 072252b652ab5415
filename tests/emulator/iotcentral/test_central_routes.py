"""The route table is the spec extract's ``paths``: same templates, verbs and operationIds, under ``/api``."""

from __future__ import annotations

import re

from airflow_iot_jobs.emulator.iotcentral.urls import BASE_PATH, ROUTES, pattern_of
from tests.emulator.iotcentral.helpers import spec


def test_the_table_is_the_spec_paths() -> None:
    assert spec()["basePath"] == BASE_PATH
    published = {
        (method.upper(), path, operation["operationId"])
        for path, item in spec()["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    }
    assert {(method, path, op) for method, path, op, _ in ROUTES} == published


def test_patterns_match_their_own_template_only() -> None:
    for _, template, _, _ in ROUTES:
        concrete = BASE_PATH + re.sub(r"\{\w+\}", "x-1", template)
        matches = {t for _, t, _, _ in ROUTES if re.fullmatch(pattern_of(t), concrete)}
        assert matches == {template}
        assert re.fullmatch(pattern_of(template), concrete + "/")

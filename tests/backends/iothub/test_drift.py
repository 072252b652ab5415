"""Each IoT Hub rule is defined once and the provider and the emulator agree on it (issue 9, item 7)."""

from __future__ import annotations

import pytest

from airflow_iot_jobs.emulator.iothub import responses
from airflow_iot_jobs.emulator.iothub.importexport import import_lines
from airflow_iot_jobs.hooks.iothub import IoTHubHook
from airflow_iot_jobs.registry_records import validate_import_record
from airflow_iot_jobs.validation import iothub as rules

DOCUMENTED_IMPORT_MODES = {
    "create",
    "update",
    "updateIfMatchETag",
    "delete",
    "deleteIfMatchETag",
    "createOrUpdate",
    "createOrUpdateIfMatchETag",
    "updateTwin",
    "updateTwinIfMatchETag",
}


def test_one_list_of_import_modes_and_it_is_the_documented_one():
    assert set(rules.IMPORT_MODES) == DOCUMENTED_IMPORT_MODES
    assert import_lines.IMPORT_MODES_BY_LOWER is rules.IMPORT_MODES_BY_LOWER


def test_the_operator_accepts_create_or_update_if_match_etag():
    record = validate_import_record(
        {"id": "d1", "importMode": "createOrUpdateIfMatchETag", "eTag": "AAAA"}, 1, None
    )
    assert record["importMode"] == "createOrUpdateIfMatchETag"
    with pytest.raises(ValueError, match="needs an eTag"):
        validate_import_record({"id": "d1", "importMode": "createOrUpdateIfMatchETag"}, 1, None)


def test_twin_limits_are_defined_once():
    assert responses.MAX_TAGS_BYTES is rules.MAX_TAGS_BYTES
    assert responses.MAX_DESIRED_BYTES is rules.MAX_DESIRED_BYTES
    assert responses.MAX_TWIN_DEPTH is rules.MAX_TWIN_DEPTH
    assert import_lines.MAX_TAGS_BYTES is rules.MAX_TAGS_BYTES


def test_job_id_length_is_one_constant_on_both_sides():
    assert IoTHubHook.max_job_id_length == responses.MAX_JOB_ID_LENGTH == rules.MAX_JOB_ID_LENGTH == 128
    IoTHubHook.validate_job_id("j" * 128)
    with pytest.raises(ValueError, match="at most 128 characters"):
        IoTHubHook.validate_job_id("j" * 129)

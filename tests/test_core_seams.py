"""The seams a new backend plugs into (issue 9): checked without any backend's wire."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_iot_jobs.backends import IOTHUB, Backend
from airflow_iot_jobs.hooks.base import JobsHook
from airflow_iot_jobs.jobs import ErrorKind, JobServiceError

PACKAGE = Path(__file__).resolve().parent.parent / "airflow_iot_jobs"
NEUTRAL = [
    "jobs.py",
    "waiting.py",
    "polling.py",
    "retries.py",
    "reporting.py",
    "operators/base.py",
    "sensors/base.py",
    "triggers/base.py",
    "hooks/base.py",
    "hooks/http_base.py",
]
IOTHUB_WORDS = re.compile(
    r"JobQuotaExceeded|ThrottlingMaxActiveJobCountExceeded|JobAlreadyExists\b|JobNotFound|iothub-errorcode|"
    r"scheduleDeviceMethod|scheduleUpdateTwin|enqueued|\"queued\"|\"scheduled\"|"
    r"IoTHub|azure_iot_hub|query_condition"
)

FAKE = Backend(
    name="Fake service",
    conn_type="fake",
    conn_param="fake_conn_id",
    default_conn_id="fake_default",
    hook="tests.test_core_seams.FakeHook",
    trigger="tests.test_core_seams.FakeTrigger",
    modules={},
    doc_url="https://example.invalid",
    hook_params={"region_name": None},
    supports_cancel=False,
)


@pytest.mark.parametrize("module", NEUTRAL)
def test_neutral_modules_name_no_iot_hub_code_or_status_word(module):
    text = (PACKAGE / module).read_text()
    assert not IOTHUB_WORDS.findall(text), module


def test_a_hook_missing_part_of_the_contract_fails_when_its_class_is_defined():
    with pytest.raises(
        TypeError, match=r"does not implement the JobsHook contract: aprogress, failed_devices"
    ):

        class HalfHook(JobsHook):
            backend = IOTHUB

            def progress(self, job_id):  # pragma: no cover - never called
                raise NotImplementedError

            def cancel(self, job_id): ...
            async def acancel(self, job_id): ...
            def count_devices(self, target): ...


def test_a_hook_without_cancel_is_complete_when_its_backend_cannot_cancel():
    class NoCancelHook(JobsHook):
        backend = FAKE

        def progress(self, job_id): ...
        async def aprogress(self, job_id): ...
        def failed_devices(self, job_id, limit=100): ...
        def count_devices(self, target): ...

    assert NoCancelHook.conn_name_attr == "fake_conn_id"
    assert NoCancelHook.default_conn_name == "fake_default"


def test_operators_refuse_a_cancel_the_backend_cannot_perform_at_parse():
    from airflow_iot_jobs.operators.base import BaseJobOperator

    class FakeOperator(BaseJobOperator):
        backend = FAKE

        def __init__(self, *, fake_conn_id="fake_default", region_name=None, **kwargs):
            super().__init__(**kwargs)
            self.fake_conn_id = fake_conn_id
            self.region_name = region_name

    with pytest.raises(ValueError, match=r"^cancel_on_failure: Fake service has no way to cancel a job"):
        FakeOperator(task_id="t", cancel_on_failure=True)
    operator = FakeOperator(task_id="t", region_name="eu-west-1")
    assert operator.hook_params == {"fake_conn_id": "fake_default", "region_name": "eu-west-1"}


def test_the_trigger_serializes_exactly_the_hook_params():
    from airflow_iot_jobs.triggers.iothub import IoTHubJobTrigger

    trigger = IoTHubJobTrigger(job_id="j", hook_params={"iothub_conn_id": "hub_a"}, end_time=1.0)
    path, kwargs = trigger.serialize()
    assert path == "airflow_iot_jobs.triggers.iothub.IoTHubJobTrigger"
    assert kwargs["hook_params"] == {"iothub_conn_id": "hub_a"}
    rebuilt = IoTHubJobTrigger(**kwargs)
    assert rebuilt.hook().iothub_conn_id == "hub_a"


@pytest.mark.parametrize(
    ("kind", "transient", "busy", "permanent"),
    [
        (ErrorKind.THROTTLED, True, False, False),
        (ErrorKind.TRANSIENT, True, False, False),
        (ErrorKind.BUSY, False, True, False),
        (ErrorKind.NOT_FOUND, False, False, True),
        (ErrorKind.ALREADY_EXISTS, False, False, True),
        (ErrorKind.PERMANENT, False, False, True),
    ],
)
def test_one_place_decides_what_is_transient(kind, transient, busy, permanent):
    from airflow_iot_jobs.retries import is_transient_fault

    err = JobServiceError(400, "Code", "message", kind=kind)
    assert (err.transient, err.busy, err.permanent) == (transient, busy, permanent)
    assert is_transient_fault(err) is transient


def test_job_operators_and_sensors_do_not_import_hook_modules_at_dag_parse():
    code = (
        "import sys, airflow_iot_jobs.operators.iothub, airflow_iot_jobs.sensors.iothub, "
        "airflow_iot_jobs.operators.iotcentral, airflow_iot_jobs.sensors.iotcentral; "
        "print(sorted(m for m in sys.modules if m.startswith('airflow_iot_jobs.hooks') "
        "or m.startswith('airflow_iot_jobs.triggers') or m.startswith('airflow_iot_jobs.query')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"

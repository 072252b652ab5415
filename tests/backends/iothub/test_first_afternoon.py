"""What a new user hit on their first afternoon (issue 10), each as a real DAG run against the emulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from airflow.sdk import DAG

from airflow_iot_jobs.operators.iothub import IoTHubDeviceMethodJobOperator, IoTHubTwinUpdateJobOperator
from airflow_iot_jobs.waiting import FAILURE_XCOM_KEY
from tests.dag_runs import run_dag

START = datetime(2026, 1, 1, tzinfo=UTC)
FAST = {"poll_interval": 0.3}


def dag_named(request: pytest.FixtureRequest) -> DAG:
    return DAG(dag_id=request.node.name.replace("[", "_").replace("]", ""), schedule=None, start_date=START)


@pytest.fixture
def logs(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture):
    def read() -> str:
        captured = capfd.readouterr()
        return captured.out + captured.err + caplog.text

    return read


def test_a_condition_that_matches_no_device_fails_naming_it_and_creates_no_job(hub, request, logs):
    with dag_named(request) as dag:
        IoTHubDeviceMethodJobOperator(
            task_id="reboot", query_condition="tags.stie = 'ams'", method_name="reboot", **FAST
        )
    result = run_dag(dag)

    assert result.state == "failed"
    assert hub.state.jobs == {}
    text = logs()
    assert "no device matches query condition \"tags.stie = 'ams'\"; no job was created" in text
    assert "allow_no_devices=True" in text


def test_the_same_dag_with_allow_no_devices_succeeds(hub, request):
    with dag_named(request) as dag:
        IoTHubDeviceMethodJobOperator(
            task_id="reboot",
            query_condition="tags.stie = 'ams'",
            method_name="reboot",
            allow_no_devices=True,
            **FAST,
        )
    result = run_dag(dag)

    assert result.state == "success", result.states
    assert result.xcoms["reboot"]["targeted"] == 0
    assert result.xcoms["reboot"]["status"] == "completed"


def test_a_count_threshold_says_devices_and_warns_over_a_large_fleet(make_hub, request, logs):
    make_hub(devices=600, speed=50.0, offline_rate=0.0, failure_rate=0.0, max_active_jobs=5)
    with dag_named(request) as dag:
        IoTHubDeviceMethodJobOperator(
            task_id="ping", query_condition="*", method_name="ping", success_threshold="5", **FAST
        )
    result = run_dag(dag)

    assert result.state == "success"
    text = logs()
    assert "success_threshold 5 is a count of 5 devices, and the job targets 600; write '5%'" in text
    assert "meeting success_threshold 5 devices" in text
    assert "judged by success ≥ 5 devices" in text


def test_a_threshold_failure_leaves_the_result_and_failed_devices_in_xcom(make_hub, request, logs):
    hub = make_hub(devices=200, speed=50.0, offline_rate=0.0, failure_rate=0.3, max_active_jobs=5)
    with dag_named(request) as dag:
        IoTHubDeviceMethodJobOperator(task_id="reboot", query_condition="*", method_name="reboot", **FAST)
    result = run_dag(dag)

    assert result.state == "failed"
    assert "reboot" not in result.xcoms
    pushed = result.other_xcoms["reboot"][FAILURE_XCOM_KEY]
    job = hub.state.get_job(pushed["job_id"])
    assert pushed["failed"] == job["deviceJobStatistics"]["failedCount"] > 20
    assert len(pushed["failed_devices"]) == min(pushed["failed"], 100)
    assert {"device_id", "code", "description"} <= set(pushed["failed_devices"][0])
    text = logs()
    # one device per line, 20 at most, then how many more and where to find them
    shown = [
        line for line in text.splitlines() if line.startswith("  device-") and "DeviceMethodFailed" in line
    ]
    assert 1 <= len({line.strip() for line in shown}) <= 20
    assert f"… and {pushed['failed'] - 20:,} more (see XCom failed_devices)" in text


def test_the_progress_line_shows_elapsed_time_and_the_thresholds(hub, request, logs):
    with dag_named(request) as dag:
        IoTHubDeviceMethodJobOperator(
            task_id="reboot",
            query_condition="tags.site = 'ams'",
            method_name="reboot",
            success_threshold="95%",
            failure_threshold="2%",
            **FAST,
        )
    assert run_dag(dag).state == "success"
    lines = [line for line in logs().splitlines() if "judged by success ≥ 95 %, failure > 2 %" in line]
    assert lines and all(" elapsed" in line for line in lines)


def test_dry_run_counts_and_plans_but_launches_nothing(hub, request):
    with dag_named(request) as dag:
        IoTHubDeviceMethodJobOperator(
            task_id="reboot", query_condition="tags.site = 'ams'", method_name="reboot", dry_run=True, **FAST
        )
    result = run_dag(dag)

    assert result.state == "success"
    plan = result.xcoms["reboot"]
    assert plan["dry_run"] is True
    assert plan["devices"] == sum(
        1 for d in hub.fleet.devices() if hub.fleet.doc(d.device_id)["tags"]["site"] == "ams"
    )
    assert plan["job_id"].startswith("reboot-")
    assert plan["target"] == "query condition \"tags.site = 'ams'\""
    assert hub.state.jobs == {}


def test_device_ids_target_exactly_those_devices(hub, request):
    chosen = hub.fleet.ids()[:7]
    with dag_named(request) as dag:
        IoTHubTwinUpdateJobOperator(task_id="tag", device_ids=chosen, tags={"pilot": "yes"}, **FAST)
    result = run_dag(dag)

    assert result.state == "success", result.states
    assert result.xcoms["tag"]["targeted"] == 7
    tagged = [d.device_id for d in hub.fleet.devices() if hub.fleet.doc(d.device_id)["tags"].get("pilot")]
    assert tagged == chosen


def test_too_many_device_ids_are_refused_before_any_call():
    with pytest.raises(ValueError, match=r"^device_ids: 2,000 device ids make a query of [\d,]+ characters"):
        IoTHubDeviceMethodJobOperator(
            task_id="t", device_ids=[f"device-{n:05d}" for n in range(2000)], method_name="reboot"
        ).build_request()


def test_max_devices_is_templated_and_the_rendered_job_id_is_the_one_used(hub, request):
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with dag_named(request) as dag:
        IoTHubDeviceMethodJobOperator(
            task_id="reboot",
            query_condition="*",
            method_name="reboot",
            max_devices="{{ params.limit }}",
            params={"limit": 10},
            **FAST,
        )
    result = run_dag(dag)

    assert result.state == "failed"  # 300 devices > 10
    assert hub.state.jobs == {}
    with create_session() as session:
        row = session.scalars(
            select(RenderedTaskInstanceFields).where(RenderedTaskInstanceFields.dag_id == dag.dag_id)
        ).one()
    assert row.rendered_fields["max_devices"] == "10"
    assert str(row.rendered_fields["job_id"]).startswith("reboot-")


def test_a_connection_key_that_is_not_base64_names_the_connection_and_field(hub, monkeypatch):
    from airflow_iot_jobs.hooks.iothub import IoTHubHook

    bad = (
        hub.connection_string.rsplit("=", 1)[0].rsplit("SharedAccessKey=", 1)[0]
        + "SharedAccessKey=not*base64"
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_BAD_KEY_HUB",
        json.dumps({"conn_type": "azure_iot_hub", "password": bad, "extra": {"endpoint_url": hub.endpoint}}),
    )
    with pytest.raises(ValueError) as excinfo:
        IoTHubHook(iothub_conn_id="bad_key_hub").progress("job-1")
    message = str(excinfo.value)
    assert message.startswith("connection 'bad_key_hub': SharedAccessKey in the connection string (Password)")
    assert "not*base64" not in message


def test_a_failure_before_the_launch_logs_no_extra_link_error(hub, request, logs):
    with dag_named(request) as dag:
        IoTHubDeviceMethodJobOperator(
            task_id="reboot", query_condition="*", method_name="reboot", max_devices=1, **FAST
        )
    assert run_dag(dag).state == "failed"
    text = logs()
    assert "XCom not found" not in text
    assert "Failed to push an xcom for task operator extra link" not in text


def test_azure_sdk_http_logging_stays_quiet(hub):
    import logging

    from airflow_iot_jobs.hooks.iothub import IoTHubHook

    IoTHubHook()
    assert logging.getLogger("azure").getEffectiveLevel() >= logging.WARNING


def test_a_deferred_wait_logs_its_final_progress_line_once(hub, request, logs):
    with dag_named(request) as dag:
        IoTHubDeviceMethodJobOperator(
            task_id="reboot",
            query_condition="tags.site = 'sea'",
            method_name="reboot",
            deferrable=True,
            **FAST,
        )
    result = run_dag(dag)
    assert result.state == "success", result.states
    final = [
        line
        for line in logs().splitlines()
        if f"job {result.xcoms['reboot']['job_id']}:" in line
        and "[completed]" in line
        and "judged by" in line
    ]
    assert len(final) == 1, final


def test_dry_run_on_an_import_counts_the_records_and_uploads_nothing(hub, request):
    from airflow_iot_jobs.operators.iothub import IoTHubImportDevicesOperator

    records = [{"id": f"new-{n}", "importMode": "create"} for n in range(3)]
    with dag_named(request) as dag:
        IoTHubImportDevicesOperator(
            task_id="import", devices=records, input_container_uri="http://127.0.0.1:9/none", dry_run=True
        )
    result = run_dag(dag)

    assert result.state == "success", result.states
    assert result.xcoms["import"] == {
        "dry_run": True,
        "job_id": None,
        "job_type": "import",
        "target": "the import records",
        "devices": 3,
    }
    assert hub.import_export.list() == []


def test_container_uris_are_templated_so_a_params_form_can_set_them():
    from airflow_iot_jobs.operators.iothub import IoTHubExportDevicesOperator, IoTHubImportDevicesOperator

    export = IoTHubExportDevicesOperator(task_id="export", container_uri="{{ params.uri }}")
    export.render_template_fields({"params": {"uri": "https://acct.blob.core.windows.net/exports?sv=x"}})
    assert export.container_uri == "https://acct.blob.core.windows.net/exports?sv=x"

    imported = IoTHubImportDevicesOperator(
        task_id="import",
        devices=[{"id": "d1", "importMode": "create"}],
        input_container_uri="{{ params.input }}",
        output_container_uri="{{ params.output }}",
    )
    imported.render_template_fields(
        {"params": {"input": "https://a/in?sv=1", "output": "https://a/out?sv=2"}}
    )
    assert (imported.input_container_uri, imported.output_container_uri) == (
        "https://a/in?sv=1",
        "https://a/out?sv=2",
    )


def test_a_templated_sas_uri_shows_masked_in_the_rendered_fields(hub, request):
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_iot_jobs.operators.iothub import IoTHubExportDevicesOperator

    canary = "CanarySig0123456789abcdefXYZ"
    with dag_named(request) as dag:
        IoTHubExportDevicesOperator(
            task_id="export",
            container_uri="{{ params.uri }}",
            params={"uri": f"ftp://acct.example/exports?sv=2024&sig={canary}"},  # refused: not http(s)
        )
    assert run_dag(dag).state == "failed"
    with create_session() as session:
        row = session.scalars(
            select(RenderedTaskInstanceFields).where(RenderedTaskInstanceFields.dag_id == dag.dag_id)
        ).one()
    rendered = json.dumps(row.rendered_fields)
    assert canary not in rendered
    assert "ftp://acct.example/exports" in rendered

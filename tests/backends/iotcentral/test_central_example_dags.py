"""The IoT Central example DAGs (``example_dags/iotcentral_*.py``), run as they are (dag.test()) against the IoT
Central emulator on 127.0.0.1; what they did is read back from the emulator's own state."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from airflow_iot_jobs.operators.iotcentral import filter_group_id
from airflow_iot_jobs.waiting import FAILURE_XCOM_KEY
from tests.dag_runs import run_dag

EXAMPLES = Path(__file__).resolve().parents[3] / "example_dags"
NAMES = ("iotcentral_nightly_settings", "iotcentral_fleet_command")
GW100 = "dtmi:airflowIotJobs:gateway100;1"
AMS_GATEWAYS = f'SELECT * FROM devices WHERE $template = "{GW100}" AND $provisioned = true AND site = "ams"'
CANCELLED_BY_THRESHOLD = "cancellation threshold was crossed"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def matching(app, device_filter: str) -> list[str]:
    """The devices a filter selects, as the emulator decides it."""
    from airflow_iot_jobs.emulator.iotcentral.devices import filter_record
    from airflow_iot_jobs.query.iotcentral import matcher

    condition = matcher(device_filter)
    return sorted(d.device_id for d in app.fleet.devices() if condition.matches(filter_record(d.doc)))


def properties(app) -> dict[str, dict]:
    return {d.device_id: dict(d.doc["properties"]) for d in app.fleet.devices()}


def last_batch_start(devices: int, percent: int) -> int:
    size = -(-devices * percent // 100)  # the batch size in devices, rounded up
    return (devices - 1) // size * size


def command_conf(**overrides) -> dict:
    conf = {
        "device_filter": AMS_GATEWAYS,
        "device_group_id": None,
        "device_template": GW100,
        "command": "firmwareUpdate",
        "payload": {"version": "2.1.0"},
        "batch": "25%",
        "cancellation_threshold": 10,
        "cancel_per_batch": True,
        "success_threshold": "90%",
        "max_devices": 500,
        "dry_run": False,
    }
    return {**conf, **overrides}


def jobs_created(app) -> list[tuple[str, str, int]]:
    return [r for r in app.request_log if r[0] == "PUT" and r[1].startswith("/api/jobs/")]


# ---------------------------------------------------------------------------------------------------- parsing


def test_the_dags_parse_with_no_import_errors_and_target_what_the_emulator_has():
    from airflow.dag_processing.dagbag import DagBag

    from airflow_iot_jobs.emulator.fleet import KNOWN_METHODS
    from airflow_iot_jobs.emulator.iotcentral.devices import TEMPLATES

    for name in NAMES:
        bag = DagBag(dag_folder=str(EXAMPLES / f"{name}.py"))
        assert bag.import_errors == {}, bag.import_errors
        assert list(bag.dags) == [name]

    nightly, command = load(NAMES[0]), load(NAMES[1])
    assert nightly.dag.schedule == "0 2 * * *" and nightly.dag.catchup is False
    job = nightly.dag.task_dict["set_telemetry_interval"]
    assert (
        job.data[0]["target"] in TEMPLATES.values() and job.iotcentral_conn_id == "azure_iot_central_default"
    )

    assert command.dag.schedule is None
    form = command.dag.params
    assert set(form.get_param("command").schema["enum"]) == set(KNOWN_METHODS)
    assert set(form.get_param("device_template").schema["examples"]) == set(TEMPLATES.values())
    assert {t.iotcentral_conn_id for t in command.dag.tasks if hasattr(t, "iotcentral_conn_id")} == {
        "azure_iot_central_default"
    }


def test_parsing_the_dags_imports_no_http_client_of_ours():
    heavy = (
        "airflow_iot_jobs.hooks",
        "airflow_iot_jobs.triggers",
        "airflow_iot_jobs.emulator",
        "lark",
        "azure",
    )
    code = (
        "import sys, runpy, airflow.sdk; before = set(sys.modules); "
        + "; ".join(f"runpy.run_path({str(EXAMPLES / f'{name}.py')!r})" for name in NAMES)
        + "; new = set(sys.modules) - before; "
        + f"print(sorted(m for m in new if any(m == h or m.startswith(h + '.') for h in {heavy!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


# ------------------------------------------------------------------------------------------ nightly settings


def test_nightly_settings_writes_the_property_on_the_freezers_group_in_batches(make_central):
    app = make_central(devices=400)
    nightly = load("iotcentral_nightly_settings")
    freezers = matching(app, nightly.FREEZERS)
    before = properties(app)
    night = datetime(2026, 11, 22, 2, tzinfo=UTC)

    result = run_dag(nightly.dag, logical_date=night, run_after=night)

    assert result.state == "success", result.states
    assert result.states == {"ensure_freezers_group": "success", "set_telemetry_interval": "success"}
    group = app.state.groups["freezers"]
    assert group.body["filter"] == nightly.FREEZERS and group.body["displayName"] == "Freezers"
    xcom = result.xcoms["set_telemetry_interval"]
    job = app.state.jobs[xcom["job_id"]]
    assert job.body["group"] == "freezers"
    assert job.body["data"] == [
        {
            "type": "property",
            "target": nightly.FREEZER_TEMPLATE,
            "path": "telemetryIntervalSeconds",
            "value": 300,
        }
    ]
    assert job.body["batch"] == {"type": "percentage", "value": 10}
    assert job.body["cancellationThreshold"] == {"type": "percentage", "value": 5, "batch": True}
    assert job.body["displayName"] == "Nightly settings 2026-11-22"
    assert job.wire_status() == "complete"
    assert sorted(job.rows.device_ids) == freezers and len(freezers) >= 50
    assert job.batch_start == last_batch_start(len(freezers), 10) > 0, "ran in 10 % batches"
    assert xcom["targeted"] == xcom["succeeded"] == len(freezers)
    after = properties(app)
    assert {after[d]["telemetryIntervalSeconds"] for d in freezers} == {300}
    assert {d: p for d, p in after.items() if d not in freezers} == {
        d: p for d, p in before.items() if d not in freezers
    }, "only the group's devices were touched"


def test_nightly_settings_batch_past_the_cancellation_threshold_cancels_and_fails(make_central, logs):
    app = make_central(devices=400, offline_rate=0.3)  # offline devices fail a property job
    nightly = load("iotcentral_nightly_settings")
    freezers = matching(app, nightly.FREEZERS)
    night = datetime(2026, 11, 23, 2, tzinfo=UTC)

    result = run_dag(nightly.dag, logical_date=night, run_after=night)
    text = logs()

    assert result.states == {"ensure_freezers_group": "success", "set_telemetry_interval": "failed"}
    assert result.state == "failed"
    assert result.tries["set_telemetry_interval"] == 1, "a threshold failure is not retried"
    pushed = result.other_xcoms["set_telemetry_interval"][FAILURE_XCOM_KEY]
    job = app.state.jobs[pushed["job_id"]]
    assert job.wire_status() == "cancelled" and "a batch" in job.reason
    assert pushed["status"] == "cancelled" and pushed["targeted"] == len(freezers)
    first_batch = -(-len(freezers) // 10)
    assert 0 < pushed["succeeded"] + pushed["failed"] <= first_batch, "later batches never ran"
    assert CANCELLED_BY_THRESHOLD in text and pushed["job_id"] in text


# -------------------------------------------------------------------------------------------- fleet command


def test_fleet_command_from_the_form_reaches_the_devices_of_the_filter(make_central):
    app = make_central(devices=400)
    selected = matching(app, AMS_GATEWAYS)
    conf = command_conf()

    result = run_dag(load("iotcentral_fleet_command").dag, run_conf=conf)

    assert result.state == "success", result.states
    assert result.states == {"command": "success"}
    xcom = result.xcoms["command"]
    job = app.state.jobs[xcom["job_id"]]
    group = filter_group_id(AMS_GATEWAYS)
    assert job.body["group"] == group and app.state.groups[group].body["filter"] == AMS_GATEWAYS
    assert job.body["data"] == [
        {"type": "command", "target": GW100, "path": "firmwareUpdate", "value": {"version": "2.1.0"}}
    ]
    assert job.body["batch"] == {"type": "percentage", "value": 25}
    assert job.body["cancellationThreshold"] == {"type": "percentage", "value": 10, "batch": True}
    assert job.body["displayName"].startswith("firmwareUpdate from Airflow (")
    assert sorted(job.rows.device_ids) == selected and len(selected) >= 10
    assert job.batch_start == last_batch_start(len(selected), 25) > 0
    assert xcom["status"] == "complete" and xcom["targeted"] == xcom["succeeded"] == len(selected)
    updated = sorted(d for d, p in properties(app).items() if p["firmware"] == "2.1.0")
    assert updated == selected, "the command reached exactly the devices the filter selects"


def test_fleet_command_dry_run_over_a_group_counts_and_creates_nothing(make_central):
    from airflow_iot_jobs.hooks.iotcentral import IoTCentralHook

    app = make_central(devices=300)
    IoTCentralHook().put_device_group("ams-gateways", {"displayName": "AMS", "filter": AMS_GATEWAYS})
    conf = command_conf(device_filter=None, device_group_id="ams-gateways", dry_run=True)

    result = run_dag(load("iotcentral_fleet_command").dag, run_conf=conf)

    assert result.states == {"command": "success"}
    plan = result.xcoms["command"]
    assert plan["dry_run"] is True and plan["devices"] == len(matching(app, AMS_GATEWAYS)) > 0
    assert app.state.jobs == {} and jobs_created(app) == []


def test_fleet_command_over_max_devices_creates_no_job(make_central, logs):
    app = make_central(devices=300)
    conf = command_conf(command="reboot", payload={}, max_devices=3)

    result = run_dag(load("iotcentral_fleet_command").dag, run_conf=conf)

    assert result.states["command"] == "failed" and result.state == "failed"
    assert app.state.jobs == {} and jobs_created(app) == []
    assert "more than max_devices=3" in logs()


def test_fleet_command_batch_past_the_cancellation_threshold_cancels_and_fails(make_central, logs):
    app = make_central(devices=400, failure_rate=0.5)
    selected = matching(app, AMS_GATEWAYS)
    conf = command_conf(command="reboot", payload={}, batch="5")

    result = run_dag(load("iotcentral_fleet_command").dag, run_conf=conf)
    text = logs()

    assert result.states["command"] == "failed" and result.state == "failed"
    pushed = result.other_xcoms["command"][FAILURE_XCOM_KEY]
    job = app.state.jobs[pushed["job_id"]]
    assert job.body["batch"] == {"type": "number", "value": 5}
    assert job.wire_status() == "cancelled" and "a batch" in job.reason
    assert pushed["status"] == "cancelled" and pushed["failed"] > 0 and pushed["failed_devices"]
    assert pushed["succeeded"] + pushed["failed"] < len(selected), "later batches never ran"
    assert CANCELLED_BY_THRESHOLD in text


@pytest.mark.parametrize(
    "devices",
    [
        pytest.param({"device_filter": None, "device_group_id": None}, id="neither"),
        pytest.param({"device_filter": AMS_GATEWAYS, "device_group_id": "ams"}, id="both"),
    ],
)
def test_fleet_command_needs_exactly_one_of_filter_and_group(make_central, devices, logs):
    app = make_central(devices=50)

    result = run_dag(load("iotcentral_fleet_command").dag, run_conf=command_conf(**devices))

    assert result.states == {"command": "failed"} and result.state == "failed"
    assert app.request_log == []
    assert "device_group_id / device_filter: give exactly one of them to select the devices" in logs()


def test_fleet_command_with_the_forms_defaults_pings_the_provisioned_gw100_gateways(make_central):
    app = make_central(devices=200)
    command = load("iotcentral_fleet_command")
    defaults = command.dag.params.dump()

    result = run_dag(command.dag)

    assert result.state == "success", result.states
    job = app.state.jobs[result.xcoms["command"]["job_id"]]
    assert sorted(job.rows.device_ids) == matching(app, defaults["device_filter"]) != []
    assert job.body["data"][0]["path"] == "ping" and job.body["data"][0]["target"] == GW100
    assert job.body["batch"] == {"type": "percentage", "value": 10}
    assert job.body["cancellationThreshold"] == {"type": "percentage", "value": 5, "batch": True}


def test_fleet_command_refuses_a_command_outside_the_form(make_central):
    from airflow.sdk.exceptions import ParamValidationError

    app = make_central(devices=50)
    with pytest.raises(ParamValidationError, match="'selfDestruct' is not one of"):
        run_dag(load("iotcentral_fleet_command").dag, run_conf=command_conf(command="selfDestruct"))
    assert app.request_log == []

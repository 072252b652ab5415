"""The IoTHub Manager example DAGs: they parse light, and run as they are (dag.test()) against the emulator."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

from tests.dag_runs import run_dag

EXAMPLES = Path(__file__).resolve().parents[3] / "example_dags"
NAMES = ("iothub_manager_monthly_job_report", "iothub_manager_fleet_command")


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_dags_parse_with_no_import_errors():
    from airflow.dag_processing.dagbag import DagBag

    for name in NAMES:
        bag = DagBag(dag_folder=str(EXAMPLES / f"{name}.py"))
        assert bag.import_errors == {}, bag.import_errors
        assert list(bag.dags) == [name]
    report, command = (load(name).dag for name in NAMES)
    assert report.schedule == "@monthly" and report.task_dict["job_report"].from_time == "NOW-P30D"
    assert command.schedule is None and command.params.get_param("method_name").value == "ping"
    assert {
        t.iothub_manager_conn_id for t in (report.task_dict["job_report"], command.task_dict["fleet_command"])
    } == {"iothub_manager_default"}


def test_parsing_the_dags_imports_no_hook_trigger_emulator_or_sdk():
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


def test_the_fleet_command_from_the_params_form(make_manager):
    manager = make_manager(devices=300, auth=True)
    conf = {
        "query_condition": "tags.ring = 'early' AND tags.floor <= 2",
        "method_name": "firmwareUpdate",
        "payload": {"version": "2.1.0"},
        "success_threshold": "90%",
        "failure_threshold": "5%",
        "response_timeout": 60,
        "max_execution_time": "PT2H",
    }
    result = run_dag(load("iothub_manager_fleet_command").dag, run_conf=conf)

    assert result.state == "success", result.states
    xcom = result.xcoms["fleet_command"]
    job = manager.state.get_job(xcom["job_id"])
    assert job["queryCondition"] == conf["query_condition"]
    assert job["cloudToDeviceMethod"]["payload"] == {"version": "2.1.0"}
    assert job["cloudToDeviceMethod"]["responseTimeoutInSeconds"] == 60
    assert job["maxExecutionTimeInSeconds"] == 7200
    assert xcom["targeted"] > 0 and xcom["succeeded"] >= 0.9 * xcom["targeted"]


def test_the_monthly_report_counts_the_last_30_days(make_manager, monkeypatch, tmp_path):
    from airflow_iot_jobs.hooks.iothub_manager import IoTHubManagerHook

    make_manager(devices=100, failure_rate=0.1)
    hook = IoTHubManagerHook()
    hook.create_device_method_job("monthly-reboot", "*", "reboot")
    while not hook.progress("monthly-reboot").terminal:
        time.sleep(0.1)
    monkeypatch.setenv("IOT_JOBS_REPORT_DIR", str(tmp_path))
    module = load("iothub_manager_monthly_job_report")
    result = run_dag(module.dag)

    assert result.state == "success", result.states
    summary = result.xcoms["job_report"]
    assert summary["total"] == 1 and summary["by_type"] == {"ScheduleDeviceMethod": 1}
    assert summary["by_status"] == {"Completed": 1}
    assert [f["job_id"] for f in summary["failures"]] == ["monthly-reboot"]  # some devices failed
    assert result.xcoms["flag_failures"] == 1
    (written,) = tmp_path.glob("jobs-*.jsonl")
    assert [json.loads(line)["JobId"] for line in written.read_text().splitlines()] == ["monthly-reboot"]

"""The IoTHub Manager DAG in the README, as written, against the emulator: a method job through ``/v1/jobs`` meets
its threshold, and the report operator counts it under its type and status. Only the dag id and the wait's poll
interval are changed (the README keeps the 30 s default)."""

from __future__ import annotations

from tests.dag_runs import run_dag
from tests.readme_dags import readme_dag


def test_the_readme_dag_runs_a_method_job_and_reports_it(make_manager):
    manager = make_manager(devices=120, auth=True)
    dag = readme_dag(
        "iothub-manager-readme-dag",
        {
            'DAG("remote_monitoring_reboot"': 'DAG("readme_manager"',
            'success_threshold="95%",': 'success_threshold="95%", poll_interval=0.3, max_poll_interval=0.5,',
        },
    )
    result = run_dag(dag)

    assert result.state == "success", result.states
    job = result.xcoms["reboot"]
    ams = [d for d in manager.fleet.devices() if d.doc["tags"].get("site") == "ams"]
    assert 0 < job["targeted"] == len(ams) and job["succeeded"] >= 0.95 * len(ams)
    posts = [r for r in manager.request_log if r[0] == "POST" and r[1] == "/v1/jobs"]
    assert posts and all(status == 200 for *_, status in posts), "the job went through the service"
    report = result.xcoms["report"]
    assert report["total"] == 1
    assert report["by_type"] == {"ScheduleDeviceMethod": 1}
    assert report["by_status"] == {"Completed": 1}
    assert report["failures"] == []

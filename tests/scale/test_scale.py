"""Issue 15's production-scale scenario on a real distributed deployment (see tests/scale/scenario.py): 100
fleet-command runs over three backends at tier S1 through the REST API, CeleryExecutor with two workers, two
triggerers, one of them SIGKILLed while it holds deferred waits. Marked ``scale`` and ``slow``; `make scale` runs
it alone and prints the measured table."""

from __future__ import annotations

import json

import pytest

from tests.scale import services
from tests.scale.scenario import analyse, run_scenario, save, table

pytestmark = [pytest.mark.scale, pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> dict:
    reason = services.missing()
    if reason:
        pytest.skip(reason)
    outcome = run_scenario(tmp_path_factory.mktemp("airflow-scale"), deferrable=True, kill_triggerer=True)
    result = analyse(outcome)
    path = save(result, "scale-deferrable.json", outcome)
    print("\n" + table([result]))
    print(f"\n{json.dumps({k: v for k, v in result.items() if k != 'triggerer_footprint'}, default=str)}")
    print(f"(written to {path})")
    return result


def test_every_run_reaches_its_end_state(figures):
    assert figures["runs_triggered"] >= 100
    assert figures["runs_expected_failed"] > 0  # the load has runs that must fail, not only successes
    assert figures["wrong_runs"] == {}
    assert figures["runs_correct"] == figures["runs_triggered"]


def test_exactly_one_remote_job_per_task_instance(figures):
    assert figures["foreign_jobs"] == []
    assert figures["duplicate_jobs"] == 0
    assert figures["jobs_on_services"] == figures["task_instances_with_a_job"] == figures["runs_triggered"]


def test_the_surviving_triggerer_took_over_the_orphaned_triggers(figures):
    assert figures["killed_triggerer"] is not None, "no triggerer held triggers to be killed"
    assert figures["triggers_orphaned_by_kill"] > 0
    assert figures["triggers_taken_over"] == figures["triggers_orphaned_by_kill"]
    # ... only once the dead triggerer's heartbeat had expired, and no live triggerer lost its triggers before
    assert figures["takeover_seconds_after_kill"][0] > 0
    assert figures["triggers_moved_between_live_triggerers"] == 0, figures["max_triggerer_heartbeat_age_s"]


def test_no_worker_slot_held_while_waiting(figures):
    # waits really happened in the triggerers, many at once (one S1 job slot per hub: most runs queue for it)
    assert figures["peak_deferred_tasks"] >= 10  # 16 to 25 in the runs measured so far
    assert figures["max_worker_slots_in_use_while_waiting"] == 0, figures[
        "longest_running_stretch_while_waiting_s"
    ]


def test_no_secret_in_any_log(figures):
    assert figures["log_files_searched"] > 100
    assert figures["secrets_in_logs"] == []

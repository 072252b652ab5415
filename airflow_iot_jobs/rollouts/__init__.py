"""Staged fleet rollouts: one job per wave, gates between waves, a soak, a plan — as one task group.

::

    from airflow_iot_jobs.rollouts import fleet_rollout

    fleet_rollout(
        group_id="firmware",
        job=IoTHubDeviceMethodJobOperator,
        job_kwargs={"method_name": "firmwareUpdate", "payload": {"version": "2.1.0"}, "cancel_on_failure": True},
        target="tags.site = 'ams'",
        waves=["1%", "10%", "50%", "100%"],
        wave_thresholds={"success_threshold": "95%", "failure_threshold": "2%"},
        soak=timedelta(minutes=30),
    )

The grid shows ``firmware.plan``, ``firmware.wave_1`` … ``firmware.wave_4`` with a ``firmware.soak_<n>`` after
every wave but the last, and ``firmware.verdict``. See :mod:`~airflow_iot_jobs.rollouts.waves` for what a wave
spec means and :mod:`~airflow_iot_jobs.rollouts.targeting` for how each backend's wave targets its devices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_iot_jobs.jobs import is_template
from airflow_iot_jobs.rollouts.waves import parse_waves

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, TaskGroup

__all__ = ["fleet_rollout"]

THRESHOLD_KEYS = ("success_threshold", "failure_threshold")
#: each backend's target keyword on its job operator (IoT Central: a filter or a device group id)
TARGET_KEYWORDS = {
    "azure_iot_hub": "query_condition",
    "iothub_manager": "query_condition",
    "aws": "targets",
    "iot_device_management_api": "targets",
}


def target_keyword(backend: Any, target: Any) -> str:
    if backend.conn_type == "azure_iot_central":
        is_filter = isinstance(target, str) and target.strip().upper().startswith("SELECT")
        return "device_filter" if is_filter else "device_group_id"
    return TARGET_KEYWORDS[backend.conn_type]


def per_wave_thresholds(wave_thresholds: Any, count: int) -> list[dict[str, Any]]:
    """One thresholds dict per wave: none (the job's own), one for all, or a list with one per wave."""
    if wave_thresholds is None:
        return [{} for _ in range(count)]
    if isinstance(wave_thresholds, Mapping):
        items = [wave_thresholds] * count
    elif isinstance(wave_thresholds, Sequence) and not isinstance(wave_thresholds, str):
        if len(wave_thresholds) != count:
            raise ValueError(
                f"wave_thresholds: one per wave ({count}), or one dict for all, got {len(wave_thresholds)}"
            )
        items = list(wave_thresholds)
    else:
        raise ValueError("wave_thresholds: a dict (success_threshold / failure_threshold) or a list of them")
    for i, item in enumerate(items):
        unknown = set(item) - set(THRESHOLD_KEYS) if isinstance(item, Mapping) else {"?"}
        if unknown:
            raise ValueError(f"wave_thresholds[{i}]: only {', '.join(THRESHOLD_KEYS)}, got {item!r}")
    return [dict(item) for item in items]


def fleet_rollout(
    *,
    group_id: str,
    job: type[BaseOperator],
    job_kwargs: Mapping[str, Any] | None = None,
    target: Any = None,
    waves: Sequence[Any] = ("1%", "10%", "50%", "100%"),
    wave_thresholds: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    wave_tag: str | None = None,
    soak: timedelta | None = None,
    health_check: Callable[[Any, dict[str, Any]], Any] | None = None,
    health_sensor: Callable[[str, int], BaseOperator] | None = None,
    max_devices: int | None = None,
    dry_run: bool | str = False,
    rollout_key: str | None = None,
    wave_count: int | None = None,
) -> TaskGroup:
    """A staged rollout of one device job, as a task group of the DAG being defined.

    :param group_id: the task group's id (and the rollout's name in logs and the verdict).
    :param job: a job operator class of any backend, e.g. ``IoTHubDeviceMethodJobOperator``,
        ``IoTCentralJobOperator``, ``AwsIoTJobOperator``, ``DeviceManagementApiJobOperator``,
        ``IoTHubManagerMethodJobOperator``.
    :param job_kwargs: its keyword arguments for every wave (connection, method / document, ``cancel_on_failure``,
        ``deferrable``, ``max_devices`` — applied per wave —, …), without the target and without ``job_id``.
    :param target: the whole fleet to roll out to, in the backend's own words (IoT Hub: a query condition;
        IoT Central: a device group id or a ``SELECT * FROM devices WHERE …`` filter; AWS: thing / thing-group
        names or ARNs; the Device Management API: ARNs). Omit it to give it in ``job_kwargs``.
    :param waves: shares (cumulative, ``["1%", "10%", "50%", "100%"]``), counts (``[100, 1000, None]``: 100,
        then 1,000 more, then the rest), or tag values with ``wave_tag`` (``["ring0", "ring1", "ring2"]``).
    :param wave_thresholds: ``{"success_threshold", "failure_threshold"}`` for every wave, or a list with one
        per wave; ``None``: the job's own thresholds.
    :param wave_tag: the device tag whose values name the waves (IoT Hub and IoTHub Manager twin tags).
    :param soak: how long to wait after each wave but the last before judging it healthy (deferred).
    :param health_check: ``f(context, wave_result) -> bool``, run after the soak; false or an exception stops
        the rollout. :param health_sensor: ``f(task_id, wave_number) -> operator`` (e.g. a sensor), placed after
        each soak as one more gate.
    :param max_devices: refuse the rollout (no job created) when all waves together would touch more devices.
    :param dry_run: plan only: resolve the target, log and push the wave plan, create no job (templated).
    :param rollout_key: orders the devices into waves; default ``<dag_id>.<group_id>``, so every run of the DAG
        puts the same devices in the same waves.
    :param wave_count: with ``waves`` given as a template (``"{{ params.waves }}"``, rendered by the plan into a
        list or a comma-separated string): the number of wave tasks the grid shows; the rendered list must have
        that many waves.
    """
    from airflow.sdk import TaskGroup
    from airflow.sdk.definitions._internal.contextmanager import DagContext

    from airflow_iot_jobs.rollouts.tasks import (
        Rollout,
        RolloutSoakOperator,
        RolloutVerdictOperator,
        rollout_class,
    )

    if isinstance(waves, str) and is_template(waves):
        if not isinstance(wave_count, int) or isinstance(wave_count, bool) or wave_count < 1:
            raise ValueError(
                "wave_count: waves given as a template need wave_count, the number of wave tasks"
            )
        labels_of = [f"wave {i + 1} of {wave_count}" for i in range(wave_count)]
    else:
        specs = parse_waves(list(waves), wave_tag)
        if wave_count is not None and wave_count != len(specs):
            raise ValueError(f"wave_count: {wave_count}, but waves lists {len(specs)}")
        wave_count = len(specs)
        labels_of = [f"wave {i + 1} of {len(specs)} ({spec.label})" for i, spec in enumerate(specs)]
    backend = getattr(job, "backend", None)
    if backend is None or not hasattr(job, "build_request"):
        raise ValueError(
            f"job: {getattr(job, '__name__', job)!r} is not a job operator class of this provider"
        )
    from airflow_iot_jobs.rollouts.targeting import targeting_for

    if wave_tag and not targeting_for(backend).has_tags:
        raise ValueError(
            f"wave_tag: {backend.name} devices carry no tags a rollout can read; use shares or counts"
        )
    kwargs = dict(job_kwargs or {})
    if "job_id" in kwargs:
        raise ValueError("job_kwargs: job_id is derived per wave (each wave's task instance owns its job)")
    if target is not None:
        kwargs[target_keyword(backend, target)] = target
    thresholds = per_wave_thresholds(wave_thresholds, wave_count)
    dag = DagContext.get_current()
    key = rollout_key or f"{dag.dag_id if dag else ''}.{group_id}"
    labels = tuple(labels_of)
    prefix = f"{group_id}."
    wave_ids = tuple(f"{prefix}wave_{i + 1}" for i in range(wave_count))
    rollout = Rollout(
        group_id=group_id,
        key=key,
        waves=waves if isinstance(waves, str) else tuple(waves),
        wave_tag=wave_tag,
        labels=labels,
        thresholds=tuple(thresholds),
        max_devices=max_devices,
        plan_task_id=f"{prefix}plan",
        wave_task_ids=wave_ids,
    )
    operator = rollout_class(job)

    with TaskGroup(group_id=group_id, tooltip=f"staged rollout in {wave_count} waves") as group:
        plan = operator(task_id="plan", **{**kwargs, "dry_run": True})
        plan.rollout, plan.wave_index = rollout, None
        gates: list[tuple[str, str]] = [(rollout.plan_task_id, "its plan")]
        previous: Any = plan
        for i in range(wave_count):
            wave = operator(
                task_id=f"wave_{i + 1}",
                **{**kwargs, **thresholds[i], "dry_run": dry_run},
                trigger_rule="all_done" if i else "all_success",
            )
            wave.rollout, wave.wave_index, wave.gate_ids = rollout, i, tuple(gates)
            previous >> wave
            gates.append((wave_ids[i], labels[i]))
            previous = wave
            if i == wave_count - 1:
                break
            if soak or health_check:
                soaked = RolloutSoakOperator(
                    task_id=f"soak_{i + 1}",
                    soak=soak or timedelta(0),
                    wave_task_id=wave_ids[i],
                    wave_label=labels[i],
                    health_check=health_check,
                    dry_run=dry_run,
                    gates=tuple(gates),
                    trigger_rule="all_done",
                )
                previous >> soaked
                gates.append((f"{prefix}soak_{i + 1}", f"{labels[i]}, its soak"))
                previous = soaked
            if health_sensor is not None:
                sensor = health_sensor(f"health_{i + 1}", i + 1)
                previous >> sensor
                gates.append((f"{prefix}health_{i + 1}", f"{labels[i]}, its health sensor"))
                previous = sensor
        verdict = RolloutVerdictOperator(
            task_id="verdict", rollout=rollout, gates=tuple(gates), trigger_rule="all_done"
        )
        previous >> verdict
    return group

"""The tasks of a rollout: the plan, one job per wave (the backend's own job operator, narrowed to its wave), a soak
between waves, and the verdict. Every task after the plan first checks the gates before it: if an earlier wave or
soak did not pass, it is skipped with the reason, and the verdict fails the DAG run with one line."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_iot_jobs.operators.base import check_flag
from airflow_iot_jobs.waiting import FAILURE_XCOM_KEY

if TYPE_CHECKING:
    from airflow.sdk import Context

#: the XCom key a soak (health check) pushes its breach under, before it fails
BREACH_XCOM_KEY = "rollout_breach"
MAX_NAMED_DEVICES = 5


@dataclass(frozen=True)
class Rollout:
    """What every task of one rollout knows (plain data: built at DAG parse)."""

    group_id: str
    key: str  # orders the devices: the same waves on every run of this DAG
    waves: tuple[Any, ...] | str  # a template string: rendered by the plan
    wave_tag: str | None
    labels: tuple[str, ...]
    thresholds: tuple[dict[str, Any], ...]
    max_devices: int | None
    plan_task_id: str
    wave_task_ids: tuple[str, ...]
    gates: tuple[tuple[str, ...], ...] = field(default=())  # per task index: the gate task ids before it


def breach_line(ti: Any, task_id: str, label: str) -> str:
    """Why a gate task did not pass, in one line (from what it pushed before failing)."""
    result = ti.xcom_pull(task_ids=task_id, key=FAILURE_XCOM_KEY)
    if result:
        failures = result.get("failed_devices") or []
        names = ", ".join(f["device_id"] for f in failures[:MAX_NAMED_DEVICES])
        more = " …" if result.get("failed", 0) > MAX_NAMED_DEVICES else ""
        which = f" ({names}{more})" if names else ""
        return (
            f"{label}: {result.get('failed', 0):,} of {result.get('targeted', 0):,} devices failed{which} in job "
            f"{result.get('job_id')} [{result.get('status')}]"
        )
    said = ti.xcom_pull(task_ids=task_id, key=BREACH_XCOM_KEY)
    return f"{label}: {said}" if said else f"{label} did not pass (see task {task_id})"


def gate_states(ti: Any, task_ids: Sequence[str]) -> dict[str, str]:
    """The states of the gate tasks in this DAG run (the execution API's view, not XCom: a sensor returns nothing)."""
    states = ti.get_task_states(dag_id=ti.dag_id, task_ids=list(task_ids), run_ids=[ti.run_id])
    return {task: str(state) for task, state in (states.get(ti.run_id) or {}).items()}


def first_failed(states: dict[str, str], gates: Sequence[tuple[str, str]]) -> int | None:
    """The index of the first gate ``(task_id, label)`` that did not succeed (failed, skipped or stopped)."""
    return next((i for i, (task_id, _) in enumerate(gates) if states.get(task_id) != "success"), None)


def first_breach(ti: Any, gates: Sequence[tuple[str, str]]) -> str | None:
    """That gate, in one line (``None``: every gate passed)."""
    if not gates:
        return None
    index = first_failed(gate_states(ti, [task_id for task_id, _ in gates]), gates)
    return None if index is None else breach_line(ti, *gates[index])


class GatedTask:
    """Skips itself, with the reason, when an earlier gate of the rollout did not pass."""

    gate_ids: tuple[tuple[str, str], ...] = ()

    def check_gates(self, context: Context) -> None:
        reason = first_breach(context["ti"], self.gate_ids)
        if reason:
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException(f"not launched: the rollout stopped at {reason}")


class RolloutMixin(GatedTask):
    """Mixed in front of a backend's job operator class: the plan (``wave_index`` None) or one wave."""

    rollout: Rollout
    wave_index: int | None = None
    log: Any

    def execute(self, context: Context) -> Any:
        if self.wave_index is None:
            return self.make_plan(context)
        return self.run_wave(context)

    # ------------------------------------------------------------------ the plan

    def targeting(self) -> Any:
        from airflow_iot_jobs.rollouts.targeting import targeting_for

        return targeting_for(self.backend)  # type: ignore[attr-defined]

    def make_plan(self, context: Context) -> dict[str, Any]:
        from airflow_iot_jobs.rollouts.waves import assign, parse_waves
        from airflow_iot_jobs.waiting import fail_fast_on_permanent_errors

        specs = parse_waves(self.rendered_waves(context), self.rollout.wave_tag)
        if len(specs) != len(self.rollout.wave_task_ids):
            raise ValueError(
                f"waves: {len(specs)} waves rendered, but the rollout has {len(self.rollout.wave_task_ids)} wave tasks "
                "(wave_count)"
            )
        targeting = self.targeting()
        if any(s.kind == "tag" for s in specs) and not targeting.has_tags:
            raise ValueError(f"waves: {self.backend.name} rollouts take shares or counts, not tag values")  # type: ignore[attr-defined]
        request = self.build_request()  # type: ignore[attr-defined]
        with fail_fast_on_permanent_errors():
            devices = targeting.devices(self, request)
        waves, left = assign(devices, specs, self.rollout.key, self.rollout.wave_tag)
        plan = {
            "rollout": self.rollout.group_id,
            "target": self.describe_target(request),  # type: ignore[attr-defined]
            "devices": len(devices),
            "waves": [
                {
                    "wave": i + 1,
                    "selection": spec.label,
                    "kind": spec.kind,
                    "count": len(ids),
                    "devices": ids,
                    **self.rollout.thresholds[i],
                }
                for i, (spec, ids) in enumerate(zip(specs, waves, strict=True))
            ],
            "not_in_any_wave": left,
            "targeting": self.targeting_context(targeting, request, devices, waves, left),
        }
        self.log_plan(plan)
        self.check_sizes(plan)
        return plan

    def targeting_context(
        self, targeting: Any, request: dict[str, Any], devices: Any, waves: list[list[str]], left: list[str]
    ) -> dict[str, Any]:
        """What the waves need from the backend; a wave the backend cannot target fails the plan (no retry)."""
        from airflow.sdk.exceptions import AirflowFailException

        try:
            from airflow_iot_jobs.rollouts.targeting import Assignment

            return targeting.context(self, request, Assignment(devices, waves, left, self.rollout.key))
        except ValueError as err:
            raise AirflowFailException(str(err)) from None

    def rendered_waves(self, context: Context) -> list[Any]:
        """The waves: the list given, or the template rendered (a list, JSON text or ``"1%, 10%, 100%"``)."""
        waves: Any = self.rollout.waves
        if isinstance(waves, str):
            import json

            waves = self.render_template(waves, context)  # type: ignore[attr-defined]
            if isinstance(waves, str):
                try:
                    waves = json.loads(waves)
                except ValueError:
                    waves = [w.strip() for w in waves.split(",")]
        if not isinstance(waves, list | tuple):
            return waves
        return [_form_value(w) for w in waves]

    def log_plan(self, plan: dict[str, Any]) -> None:
        lines = [f"{'wave':>4}  {'selection':<14} {'devices':>8}  thresholds"]
        for wave in plan["waves"]:
            thresholds = ", ".join(
                f"{k} {v}" for k, v in wave.items() if k.endswith("_threshold") and v is not None
            )
            lines.append(
                f"{wave['wave']:>4}  {wave['selection']:<14} {wave['count']:>8,}  {thresholds or '-'}"
            )
        left = plan["not_in_any_wave"]
        if left:
            named = ", ".join(left[:MAX_NAMED_DEVICES]) + (" …" if len(left) > MAX_NAMED_DEVICES else "")
            lines.append(f"not in any wave: {len(left):,} device(s) ({named})")
        self.log.info(
            "rollout %s over %s: %s device(s) in %s waves\n%s",
            plan["rollout"],
            plan["target"],
            f"{plan['devices']:,}",
            len(plan["waves"]),
            "\n".join(lines),
        )

    def check_sizes(self, plan: dict[str, Any]) -> None:
        from airflow.sdk.exceptions import AirflowFailException

        total = sum(w["count"] for w in plan["waves"])
        limit = self.rollout.max_devices
        if limit is not None and total > limit:
            raise AirflowFailException(
                f"max_devices: rollout {plan['rollout']} would touch {total:,} devices, more than "
                f"max_devices={limit:,}; no job was created"
            )
        per_wave = self.max_devices  # type: ignore[attr-defined]
        if per_wave is not None:
            for wave in plan["waves"]:
                if wave["count"] > int(per_wave):
                    raise AirflowFailException(
                        f"max_devices: wave {wave['wave']} ({wave['selection']}) would touch {wave['count']:,} devices, "
                        f"more than the job's max_devices={int(per_wave):,}; no job was created"
                    )

    # ------------------------------------------------------------------ one wave

    def run_wave(self, context: Context) -> Any:
        self.check_gates(context)
        wave, devices = self.narrow_to_wave(context)
        if not devices:
            self.log.info("wave %s (%s) has no devices: nothing to launch", wave["wave"], wave["selection"])
            return {"wave": wave["wave"], "job_id": None, "targeted": 0, "succeeded": 0, "failed": 0}
        if check_flag(self.dry_run, "dry_run"):  # type: ignore[attr-defined]
            # the plan already counted and checked the job's parameters; a wave's target may not exist yet
            self.log.info(
                "dry run: wave %s (%s) would launch one job over %s device(s); nothing was created",
                wave["wave"],
                wave["selection"],
                f"{len(devices):,}",
            )
            return {"dry_run": True, "wave": wave["wave"], "job_id": None, "devices": len(devices)}
        return super().execute(context)  # type: ignore[misc]

    def execute_launch(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resumed after waiting for a launch slot: a new task object, narrowed to its wave again."""
        self.narrow_to_wave(context)
        return super().execute_launch(context, event)  # type: ignore[misc]

    def narrow_to_wave(self, context: Context) -> tuple[dict[str, Any], list[str]]:
        """Point the job at exactly this wave's devices (the plan's list; the last wave: re-read now). Returns the
        wave and its devices (none: nothing to launch, the job is left as it was)."""
        plan = context["ti"].xcom_pull(task_ids=self.rollout.plan_task_id)
        wave = plan["waves"][self.wave_index]
        devices = list(wave["devices"])
        if wave["kind"] == "rest":
            devices = self.rest_now(plan, devices)
        if not devices:
            return wave, devices
        self.log.info(
            "wave %s of %s (%s): %s device(s)",
            wave["wave"],
            len(plan["waves"]),
            wave["selection"],
            len(devices),
        )
        self.targeting().narrow(self, devices, plan.get("targeting") or {}, self.wave_index)
        return wave, devices

    def rest_now(self, plan: dict[str, Any], planned: list[str]) -> list[str]:
        """The last wave takes every device of the target not in an earlier wave, read now: a device that joined
        the fleet since the plan is in it (a device that left is not)."""
        earlier = {d for w in plan["waves"][: self.wave_index] for d in w["devices"]}
        request = self.build_request()  # type: ignore[attr-defined]
        now = [d for d in self.targeting().devices(self, request) if d not in earlier]
        joined = sorted(set(now) - set(planned))
        if joined:
            self.log.info(
                "%s device(s) joined since the plan and are in this wave: %s", len(joined), joined[:10]
            )
        return now


def _form_value(wave: Any) -> Any:
    """A wave as a form sends it: ``"100"`` is a count, ``""`` / ``"null"`` / ``"rest"`` the rest."""
    if isinstance(wave, str):
        text = wave.strip()
        if text.lower() in ("", "null", "none"):
            return None
        if text.isdigit():
            return int(text)
    return wave


@functools.cache
def rollout_class(job: type) -> type:
    """The job operator class with the rollout behaviour in front (one class per job class, per process). Its
    target names the whole fleet, so a per-job limit on targets (AWS: 100) applies to each wave's job, not to it."""
    namespace: dict[str, Any] = {"__module__": job.__module__, "__doc__": job.__doc__}
    if getattr(job, "max_job_targets", None) is not None:
        namespace["max_job_targets"] = None
    return type(job.__name__, (RolloutMixin, job), namespace)


class RolloutSoakOperator(GatedTask, BaseOperator):
    """Waits ``soak`` after a wave (deferred: no worker slot), then runs ``health_check(context, wave_result)``:
    a false answer (or an exception) stops the rollout before the next wave."""

    template_fields: Sequence[str] = ("dry_run",)
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        soak: timedelta,
        wave_task_id: str,
        wave_label: str,
        health_check: Callable[[Any, dict[str, Any]], Any] | None = None,
        dry_run: bool | str = False,
        gates: tuple[tuple[str, str], ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.soak = soak
        self.wave_task_id = wave_task_id
        self.wave_label = wave_label
        self.health_check = health_check
        self.dry_run = dry_run
        self.gate_ids = gates

    def execute(self, context: Context) -> dict[str, Any]:
        self.check_gates(context)
        if check_flag(self.dry_run, "dry_run") or not self.soak:
            return self.judge(context)
        from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

        self.log.info("soaking %s for %s before the next wave", self.wave_label, self.soak)
        self.defer(trigger=TimeDeltaTrigger(self.soak), method_name="execute_complete")

    def execute_complete(self, context: Context, event: Any = None) -> dict[str, Any]:
        return self.judge(context)

    def judge(self, context: Context) -> dict[str, Any]:
        if self.health_check is None or check_flag(self.dry_run, "dry_run"):
            return {"soaked": str(self.soak), "healthy": True}
        wave_result = context["ti"].xcom_pull(task_ids=self.wave_task_id) or {}
        try:
            healthy = self.health_check(context, wave_result)
        except Exception as err:  # the check's own words are the reason
            healthy, reason = False, f"its health check raised {type(err).__name__}: {err}"
        else:
            reason = "its health check answered False after the soak"
        if not healthy:
            from airflow.sdk.exceptions import AirflowFailException

            context["ti"].xcom_push(key=BREACH_XCOM_KEY, value=reason)
            raise AirflowFailException(f"{self.wave_label}: {reason}")
        return {"soaked": str(self.soak), "healthy": True}


class RolloutVerdictOperator(BaseOperator):
    """Ends the rollout: fails the DAG run with one line naming the wave that stopped it, how many devices failed
    and which; else returns each wave's job and counts."""

    ui_color = "#f0f0f0"

    def __init__(self, *, rollout: Rollout, gates: tuple[tuple[str, str], ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rollout = rollout
        self.gate_ids = gates

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        plan_id = self.rollout.plan_task_id
        states = gate_states(ti, [plan_id, *(task_id for task_id, _ in self.gate_ids)])
        if states.get(plan_id) == "skipped":
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException(f"rollout {self.rollout.group_id} did not run (its plan was skipped)")
        plan = ti.xcom_pull(task_ids=plan_id)
        if plan is None:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(
                f"rollout {self.rollout.group_id}: the plan failed; no wave was launched"
            )
        index = first_failed(states, self.gate_ids)
        if index is not None:
            from airflow.sdk.exceptions import AirflowFailException

            later = [
                label
                for task_id, label in self.gate_ids[index + 1 :]
                if task_id in self.rollout.wave_task_ids
            ]
            not_launched = f"; not launched: {', '.join(later)}" if later else ""
            reason = breach_line(ti, *self.gate_ids[index])
            raise AirflowFailException(f"rollout {self.rollout.group_id} stopped at {reason}{not_launched}")
        summary = []
        for wave, task_id in zip(plan["waves"], self.rollout.wave_task_ids, strict=True):
            result = ti.xcom_pull(task_ids=task_id) or {}
            summary.append(
                {
                    "wave": wave["wave"],
                    "selection": wave["selection"],
                    "job_id": result.get("job_id"),
                    "targeted": result.get("targeted", result.get("devices")),
                    "succeeded": result.get("succeeded"),
                    "failed": result.get("failed"),
                }
            )
        self.log.info(
            "rollout %s done: %s waves, %s devices", self.rollout.group_id, len(summary), plan["devices"]
        )
        return {
            "rollout": self.rollout.group_id,
            "waves": summary,
            "not_in_any_wave": plan["not_in_any_wave"],
        }

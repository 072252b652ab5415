"""Print the outcome of the latest run of a DAG: run state, each task's state and its returned XCom."""

from __future__ import annotations

import sys


def main(dag_id: str) -> int:
    from airflow.models import DagRun, TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(1)
        ).first()
        if run is None:
            print(f"no run of {dag_id} found")
            return 1
        print(f"run {run.run_id}: {run.state}")
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
        ).all()
        for ti in sorted(tis, key=lambda t: t.start_date or t.queued_dttm or run.start_date):
            row = session.scalars(
                select(XComModel).where(
                    XComModel.dag_run_id == run.id,
                    XComModel.task_id == ti.task_id,
                    XComModel.key == "return_value",
                )
            ).first()
            value = XComModel.deserialize_value(row) if row is not None else None
            print(f"  {ti.task_id:<24} {ti.state!s:<10} {summary(value)}")
        return 0 if run.state == "success" else 1


def summary(value: object) -> str:
    if not isinstance(value, dict) or "job_id" not in value:
        return "" if value is None else str(value)[:120]
    targeted = value.get("targeted") or 0
    share = f" ({100.0 * value['succeeded'] / targeted:.1f} %)" if targeted else ""
    text = (
        f"job {value['job_id']}: {value['succeeded']:,}/{targeted:,} succeeded{share}, "
        f"{value['failed']:,} failed [{value['status']}]"
    )
    if value.get("failed_devices"):
        first = value["failed_devices"][0]
        text += f"; e.g. {first['device_id']} {first['code']}"
    return text


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

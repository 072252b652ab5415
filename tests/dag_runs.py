"""Run a DAG for real with dag.test() and read back what happened from the metadata DB."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunResult:
    state: str
    states: dict[str, str] = field(default_factory=dict)
    xcoms: dict[str, Any] = field(default_factory=dict)
    other_xcoms: dict[tuple[str, str], Any] = field(
        default_factory=dict
    )  # (task_id, key) for keys not return_value
    tries: dict[str, int] = field(default_factory=dict)


def run_dag(dag: Any, **kwargs: Any) -> RunResult:
    from airflow.models import DagRun, TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    register(dag)
    dag_run = dag.test(**kwargs)
    with create_session() as session:
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag.dag_id, DagRun.run_id == dag_run.run_id)
        ).one()
        result = RunResult(state=str(run.state))
        for ti in session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag.dag_id, TaskInstance.run_id == run.run_id)
        ):
            result.states[ti.task_id] = str(ti.state)
            result.tries[ti.task_id] = ti.try_number
        for row in session.scalars(select(XComModel).where(XComModel.dag_run_id == run.id)):
            if row.key == "return_value":
                result.xcoms[row.task_id] = XComModel.deserialize_value(row)
            else:
                result.other_xcoms.setdefault(row.task_id, {})[row.key] = XComModel.deserialize_value(row)
    return result


def register(dag: Any) -> None:
    """Serialise a DAG defined inside a test into the metadata DB, as the DAG processor would for a file
    (dag.test() only finds DAGs whose serialised version exists)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
        session.flush()
        update_dag_parsing_results_in_db(
            "dags-folder", None, [LazyDeserializedDAG.from_dag(dag)], {}, None, set(), session=session
        )

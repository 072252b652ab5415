"""``python -m benchmarks._parse_one <dag file> [--structure] [--stand-in]``: parse one DAG file in a fresh
interpreter.

With ``--stand-in`` the same file is parsed with every provider operator and sensor replaced by an
``EmptyOperator`` stand-in (the modules ``airflow_iot_jobs.operators.*`` / ``airflow_iot_jobs.sensors.*`` are served
by a finder that hands out the stand-in for any name): the baseline a DAG would cost without this provider.

Airflow's DAG processor already has ``airflow.sdk`` imported when it parses a file, and before it forks the
parsing process it pre-imports every ``airflow.*`` module the file imports (``[dag_processor]
parsing_pre_import_modules``, on by default; ``airflow_iot_jobs`` is not ``airflow.*`` so it is not
pre-imported). Both happen first and are not timed; then the file is loaded the way the processor loads it (a
module from a file path) and timed. Prints the seconds, the modules the file added to ``sys.modules``, and with ``--structure`` the
DAG's id, schedule, start date, tasks and edges (to build its EmptyOperator twin).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.util
import sys
import time
from pathlib import Path

from benchmarks._common import emit, isolate_airflow, stop_on_signals

STAND_IN_PREFIXES = ("airflow_iot_jobs.operators.", "airflow_iot_jobs.sensors.")


class _StandIns(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves provider operator/sensor modules whose every attribute is an EmptyOperator stand-in."""

    def find_spec(self, name, path, target=None):  # noqa: ANN001 - importlib protocol
        if name.startswith(STAND_IN_PREFIXES):
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):  # noqa: ANN001
        return None

    def exec_module(self, module) -> None:  # noqa: ANN001
        import inspect

        from airflow.providers.standard.operators.empty import EmptyOperator
        from airflow.sdk import BaseOperator

        accepted = set(inspect.signature(BaseOperator.__init__).parameters) - {"self", "kwargs"}

        class StandIn(EmptyOperator):
            def __init__(self, **kwargs) -> None:  # noqa: ANN003
                super().__init__(**{k: v for k, v in kwargs.items() if k in accepted})

        module.__getattr__ = lambda name: StandIn


def main() -> int:
    path = Path(sys.argv[1])
    isolate_airflow()
    if "--stand-in" in sys.argv:
        sys.meta_path.insert(0, _StandIns())
    import airflow.sdk  # noqa: F401  (the processor's own import, not the file's cost)
    from airflow.sdk import DAG  # noqa: F401
    from airflow.utils.file import iter_airflow_imports

    for name in iter_airflow_imports(str(path)):  # what _pre_import_airflow_modules does
        with contextlib.suppress(Exception):  # the processor logs and goes on too
            importlib.import_module(name)

    before = set(sys.modules)
    started = time.perf_counter()
    spec = importlib.util.spec_from_file_location(f"unusual_prefix_bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    seconds = time.perf_counter() - started
    result = {"seconds": seconds, "modules": sorted(set(sys.modules) - before - {spec.name})}
    if "--structure" in sys.argv:
        from airflow.sdk import DAG

        dags = [v for v in vars(module).values() if isinstance(v, DAG)]
        dag = dags[0]
        schedule = getattr(dag, "schedule", None)
        result["dag"] = {
            "dag_id": dag.dag_id,
            "schedule": schedule if isinstance(schedule, str) or schedule is None else None,
            "start_date": dag.start_date.isoformat() if dag.start_date else None,
            "tasks": [t.task_id for t in dag.tasks],
            "edges": [[up, t.task_id] for t in dag.tasks for up in sorted(t.upstream_task_ids)],
        }
    emit(result)
    return 0


if __name__ == "__main__":
    stop_on_signals()
    sys.exit(main())

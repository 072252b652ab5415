"""Shared by the fuzz suites (tests/contract/test_fuzz.py and the backends' own, tests/backends/<backend>/): the
hypothesis settings, ``Targets`` (the emulators that must see zero requests) and ``refused`` (the oracle: an error
that names the field and the rule, and no request), and the generic strategies."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.harness.reliability import FIGURES

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    # The same inputs on every run (CI); FUZZ_RANDOM=1 explores new ones (hypothesis prints how to reproduce).
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


class Targets:
    """The emulator and the stand-ins for other services (a blob store): all must see zero requests."""

    def __init__(self, emulator: Any, storage: Any = None) -> None:
        self.emulator = emulator
        self.storage = storage

    def requests(self) -> int:
        return len(self.emulator.request_log) + (0 if self.storage is None else len(self.storage.request_log))


def context(task_id: str) -> dict[str, Any]:
    ti = SimpleNamespace(
        dag_id="fuzz",
        run_id="manual__fuzz",
        task_id=task_id,
        map_index=-1,
        try_number=1,
        xcom_push=lambda *args, **kwargs: None,
    )
    return {"ti": ti, "task_instance": ti, "run_id": "manual__fuzz", "params": {}}


def refused(
    targets: Targets,
    build: Callable[[], Any],
    field: str,
    rule: str | None = None,
    *,
    known_bug: bool = False,
) -> str:
    """Build the operator (DAG parse) and, if that passes, execute it: an error naming ``field`` (and matching
    ``rule``) must come out, and no request may reach the emulator or the blob service. ``known_bug``: a case marked
    xfail for a reported library bug (its requests are counted apart)."""
    from airflow.exceptions import AirflowException

    FIGURES.fuzzed_inputs += 1
    FIGURES.invalid_inputs_checked += 1
    before = targets.requests()
    error: BaseException | None = None
    try:
        operator = build()
        operator.execute(context(operator.task_id))
    except (ValueError, TypeError, AirflowException) as err:
        error = err
    except Exception as err:  # noqa: BLE001 - reported below with the request count
        error = err
    sent = targets.requests() - before
    if known_bug:
        FIGURES.requests_in_known_bugs += sent
    else:
        FIGURES.requests_for_invalid_input += sent
    assert sent == 0, f"{sent} request(s) sent for an invalid {field}: {error!r}"
    assert error is not None, f"an invalid {field} was accepted"
    message = str(error)
    assert isinstance(error, ValueError | TypeError | AirflowException), f"{type(error).__name__}: {message}"
    assert field in message, f"the error does not name {field!r}: {message}"
    assert len(message) > len(field) + 12, f"the error does not state the rule: {message}"
    if rule is not None:
        assert re.search(rule, message), f"the error does not state the rule /{rule}/: {message}"
    return message


def not_template(value: Any) -> bool:
    return not (isinstance(value, str) and ("{{" in value or "{%" in value))


text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60).filter(not_template)
junk = st.one_of(
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)

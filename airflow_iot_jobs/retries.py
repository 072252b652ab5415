"""Short retries of transient faults on calls that are safe to repeat (reads, cancels, PUT with a fixed id).

Which faults are transient is the error's own :attr:`~airflow_iot_jobs.jobs.JobServiceError.transient` (5xx, no
answer, request-rate throttling). "Busy" (a launch slot taken) can last minutes and is waited out by the operator
with its own deadline; every other error fails at once.
"""

from __future__ import annotations

import logging
from typing import Any

from tenacity import (
    AsyncRetrying,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from airflow_iot_jobs.jobs import JobServiceError

ATTEMPTS = 4
log = logging.getLogger(__name__)


def is_transient_fault(err: BaseException) -> bool:
    return isinstance(err, JobServiceError) and err.transient


_backoff = wait_exponential(multiplier=0.5, max=8.0) + wait_random(0, 0.5)


def _wait(state: Any) -> float:
    """The service's Retry-After when it gives one, else exponential backoff with jitter."""
    err = state.outcome.exception() if state.outcome else None
    retry_after = getattr(err, "retry_after", None)
    return float(retry_after) if retry_after else _backoff(state)


def _log_retry(state: Any) -> None:
    """Say why the task is waiting: the service's answer, and when the call goes out again."""
    err = state.outcome.exception() if state.outcome else None
    sleep = state.next_action.sleep if state.next_action else 0.0
    log.warning(
        "IoT service call failed (%s); retrying in %.1f s (attempt %d of %d)",
        err,
        sleep,
        state.attempt_number + 1,
        ATTEMPTS,
    )


def _options() -> dict[str, Any]:
    return {
        "retry": retry_if_exception(is_transient_fault),
        "wait": _wait,
        "before_sleep": _log_retry,
        "stop": stop_after_attempt(ATTEMPTS),
        "reraise": True,
    }


def retrying() -> Retrying:
    return Retrying(**_options())


def async_retrying() -> AsyncRetrying:
    return AsyncRetrying(**_options())

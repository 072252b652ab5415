"""What every backend hook answers, whatever its wire: the shared waiting code needs nothing else.

The contract is checked when a hook class is *defined*: a concrete subclass that misses a method, or names no
:class:`~airflow_iot_jobs.backends.Backend`, fails at import with the names it lacks — not later in the
triggerer, out of sight of the task that deferred.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseHook

from airflow_iot_jobs.jobs import DeviceFailure, JobProgress

if TYPE_CHECKING:
    from airflow_iot_jobs.backends import Backend

#: the methods a concrete hook must implement (async ones are awaited by triggers)
CONTRACT = ("progress", "aprogress", "cancel", "acancel", "failed_devices", "count_devices")


class JobsHook(BaseHook):
    """A hook over one IoT jobs service.

    Concrete hooks set ``backend`` and implement :data:`CONTRACT`; intermediate bases are declared with
    ``class X(JobsHook, abstract=True)``. ``count_devices`` takes the backend's own target description (IoT Hub:
    a query condition; AWS: target ARNs; IoT Central: a device group). Job ids follow ``job_id_pattern`` and
    ``max_job_id_length``, the backend's own rule.
    """

    backend: ClassVar[Backend]
    job_id_pattern: ClassVar[re.Pattern[str]] = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-._]*")
    job_id_rule: ClassVar[str] = "letters, digits, '-', '.' and '_', starting with a letter or digit"
    max_job_id_length: ClassVar[int] = 64
    #: counting a target costs a request per page of devices (IoT Central, AWS): a launch that only needs to
    #: know "none", or "more than max_devices", stops counting there (``count_devices(target, at_most=…)``)
    counts_by_paging: ClassVar[bool] = False

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if abstract:
            return
        if not hasattr(cls, "backend"):
            raise TypeError(f"{cls.__name__} must name its backend (an airflow_iot_jobs.backends.Backend)")
        optional = {
            "cancel": not cls.backend.supports_cancel,
            "acancel": not cls.backend.supports_cancel,
            "count_devices": not cls.backend.supports_count,
        }
        missing = [
            name
            for name in CONTRACT
            if getattr(getattr(cls, name), "__contract__", False) and not optional.get(name)
        ]
        if missing:
            raise TypeError(f"{cls.__name__} does not implement the JobsHook contract: {', '.join(missing)}")
        cls.conn_name_attr = cls.backend.conn_param
        cls.default_conn_name = cls.backend.default_conn_id
        cls.conn_type = cls.backend.conn_type
        cls.hook_name = cls.backend.name

    @classmethod
    def validate_job_id(cls, value: object, field: str = "job_id") -> str:
        if not isinstance(value, str) or not value:
            raise ValueError(f"{field}: must be a non-empty string, got {value!r}")
        if len(value) > cls.max_job_id_length:
            raise ValueError(f"{field}: must be at most {cls.max_job_id_length} characters, got {len(value)}")
        if not cls.job_id_pattern.fullmatch(value):
            raise ValueError(f"{field}: {value!r} may contain only {cls.job_id_rule}")
        return value

    @property
    def supports_cancel(self) -> bool:
        return self.backend.supports_cancel

    @property
    def supports_count(self) -> bool:
        """``count_devices`` works for this hook (a backend that cannot count may count through a second
        connection, ``backend.cancel_through``)."""
        return self.backend.supports_count

    def progress(self, job_id: str) -> JobProgress:
        raise NotImplementedError

    async def aprogress(self, job_id: str) -> JobProgress:
        raise NotImplementedError

    def cancel(self, job_id: str) -> JobProgress:
        """Ask the service to cancel the job; its progress afterwards."""
        raise NotImplementedError

    async def acancel(self, job_id: str) -> JobProgress:
        raise NotImplementedError

    def failed_devices(self, job_id: str, limit: int = 100) -> list[DeviceFailure]:
        raise NotImplementedError

    def count_devices(self, target: Any, at_most: int | None = None) -> int:
        """The devices ``target`` selects; a hook that ``counts_by_paging`` may stop at ``at_most``."""
        raise NotImplementedError

    async def aactive_jobs(self) -> int | None:
        """How many jobs hold one of the service's launch slots now (what its "too many active jobs" answer
        counts), or ``None``: this service cannot tell. Optional: the launch-slot trigger waits for this number
        to drop; without it, it waits a backoff interval and lets the task try the launch again."""
        return None

    def portal_url(self, job_id: str | None = None) -> str | None:
        """The most specific page of the service's own UI for this job (an extra link); ``None``: no link."""
        return None

    async def aclose(self) -> None:
        """Release async resources (connection pools) held since the first async call."""


for _name in CONTRACT:
    getattr(JobsHook, _name).__contract__ = True

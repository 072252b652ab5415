"""What every backend hook answers, whatever its wire: the shared waiting code needs nothing else."""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar

from airflow.sdk import BaseHook

from airflow_iot_jobs.jobs import DeviceFailure, JobProgress


class JobsHook(BaseHook):
    """A hook over one IoT jobs service.

    ``conn_name_attr`` names the constructor keyword that takes the connection id, so triggers can rebuild the
    hook from their serialised kwargs without knowing the backend.
    """

    conn_name_attr: ClassVar[str]

    @abstractmethod
    def progress(self, job_id: str) -> JobProgress: ...

    @abstractmethod
    async def aprogress(self, job_id: str) -> JobProgress: ...

    @abstractmethod
    def cancel_job(self, job_id: str) -> dict: ...

    @abstractmethod
    async def acancel_job(self, job_id: str) -> dict: ...

    async def aclose(self) -> None:
        """Release async resources (connection pools) held since the first async call."""

    @abstractmethod
    def failed_devices(self, job_id: str, limit: int = 100) -> list[DeviceFailure]: ...

    @abstractmethod
    def count_devices(self, query_condition: str) -> int: ...

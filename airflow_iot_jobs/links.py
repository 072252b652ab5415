"""Extra links: plain URLs stored in XCom at execute time (no connection lookup when the UI asks)."""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.sdk import BaseOperatorLink


class _StoredUrlLink(BaseOperatorLink):
    key: ClassVar[str]

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        try:
            return XCom.get_value(ti_key=ti_key, key=self.key) or ""
        except Exception:  # a missing XCom must never break the task page
            return ""

    @classmethod
    def persist(cls, context: Any, url: str) -> None:
        context["ti"].xcom_push(key=cls.key, value=url)


class IoTHubJobLink(_StoredUrlLink):
    """Opens the job's IoT hub in the Azure portal."""

    name = "IoT Hub jobs (Azure portal)"
    key = "iothub_portal_url"

"""What every Azure backend hook does the same way: settings read from its Airflow connection (sync, or async
without a blocking call), secrets registered with the masker, the endpoint, Microsoft Entra ID tokens."""

from __future__ import annotations

from typing import Any, ClassVar

from airflow_iot_jobs.hooks.azure_auth import EntraAuth, quiet_azure_sdk_logging
from airflow_iot_jobs.hooks.http_base import ConnectionHttpJobsHook


class AzureJobsHook(ConnectionHttpJobsHook, abstract=True):
    """``settings_class.from_connection(conn, extra)`` builds the backend's settings (with ``endpoint``,
    ``secrets``, ``tenant_id``, ``client_id``, ``client_secret``); ``entra_scope`` is its token resource."""

    entra_scope: ClassVar[str]
    api_version: ClassVar[str]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        quiet_azure_sdk_logging()
        self._entra: EntraAuth | None = None

    def fixed_params(self) -> dict[str, str]:
        return {"api-version": self.api_version}

    def entra(self, settings: Any) -> EntraAuth:
        if self._entra is None:
            self._entra = EntraAuth(
                self.entra_scope, settings.tenant_id, settings.client_id, settings.client_secret
            )
        return self._entra

    async def aclose(self) -> None:
        await super().aclose()
        if self._entra is not None:
            await self._entra.aclose()

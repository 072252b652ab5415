"""What every Azure backend hook does the same way: settings read from its Airflow connection (sync, or async
without a blocking call), secrets registered with the masker, the endpoint, Microsoft Entra ID tokens."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from airflow_iot_jobs.hooks.azure_auth import EntraAuth, quiet_azure_sdk_logging
from airflow_iot_jobs.hooks.http_base import HttpJobsHook


class AzureJobsHook(HttpJobsHook, abstract=True):
    """``settings_class.from_connection(conn, extra)`` builds the backend's settings (with ``endpoint``,
    ``secrets``, ``tenant_id``, ``client_id``, ``client_secret``); ``entra_scope`` is its token resource."""

    settings_class: ClassVar[Any]
    entra_scope: ClassVar[str]
    api_version: ClassVar[str]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        quiet_azure_sdk_logging()
        self._settings: Any = None
        self._entra: EntraAuth | None = None

    @property
    def conn_id(self) -> str:
        return getattr(self, self.backend.conn_param)

    @property
    def settings(self) -> Any:
        if self._settings is None:
            conn = self.get_connection(self.conn_id)
            self._settings = self.settings_class.from_connection(conn, conn.extra_dejson)
            from airflow.sdk.log import mask_secret

            for secret in self._settings.secrets:
                mask_secret(secret)
        return self._settings

    async def asettings(self) -> Any:
        if self._settings is None:
            from airflow.sdk import BaseHook

            conn = await BaseHook.aget_connection(self.conn_id)
            # json.loads, not conn.extra_dejson: the property masks secrets through a sync supervisor call.
            extra = json.loads(conn.extra) if conn.extra else {}
            self._settings = self.settings_class.from_connection(conn, extra)
        return self._settings

    def endpoint(self) -> str:
        return self.settings.endpoint

    async def aendpoint(self) -> str:
        return (await self.asettings()).endpoint

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

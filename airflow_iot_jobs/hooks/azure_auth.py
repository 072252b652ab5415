"""Microsoft Entra ID tokens for every Azure backend (IoT Hub, IoT Central), sync and async, and quiet SDK logs."""

from __future__ import annotations

import logging
import time
from typing import Any

ENTRA_EXTRA = "Microsoft Entra ID auth needs azure-identity: pip install 'airflow-iot-jobs[entra]'"
TOKEN_MARGIN_SECONDS = 300


def quiet_azure_sdk_logging() -> None:
    """The Azure SDKs log every HTTP request and response at INFO; keep them at WARNING unless the user set a
    level on the ``azure`` logger themselves."""
    logger = logging.getLogger("azure")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


class EntraAuth:
    """Bearer tokens for one scope: a service principal (tenant, client id, secret), else
    ``DefaultAzureCredential`` (managed identity, workload identity, az login). Tokens are reused until five
    minutes before they expire."""

    def __init__(
        self, scope: str, tenant_id: str | None, client_id: str | None, client_secret: str | None
    ) -> None:
        self.scope = scope
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self._credential: Any = None
        self._acredential: Any = None
        self._token: tuple[str, float] | None = None

    def _fresh(self) -> str | None:
        if self._token and self._token[1] - TOKEN_MARGIN_SECONDS > time.time():
            return self._token[0]
        return None

    def header(self) -> str:
        if (token := self._fresh()) is None:
            if self._credential is None:
                self._credential = self._build(self._identity_module(aio=False))
            token = self._keep(self._credential.get_token(self.scope))
        return f"Bearer {token}"

    async def aheader(self) -> str:
        if (token := self._fresh()) is None:
            if self._acredential is None:
                self._acredential = self._build(self._identity_module(aio=True))
            token = self._keep(await self._acredential.get_token(self.scope))
        return f"Bearer {token}"

    def _keep(self, access: Any) -> str:
        self._token = (access.token, float(access.expires_on))
        return access.token

    @staticmethod
    def _identity_module(aio: bool) -> Any:
        try:
            if aio:
                from azure.identity import aio as identity
            else:
                from azure import identity
        except ImportError as err:
            raise RuntimeError(ENTRA_EXTRA) from err
        return identity

    def _build(self, identity: Any) -> Any:
        if self.tenant_id and self.client_id and self.client_secret:
            return identity.ClientSecretCredential(self.tenant_id, self.client_id, self.client_secret)
        return identity.DefaultAzureCredential(managed_identity_client_id=self.client_id)

    async def aclose(self) -> None:
        if self._acredential is not None:
            await self._acredential.close()
            self._acredential = None

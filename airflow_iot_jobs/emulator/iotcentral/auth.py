"""IoT Central API tokens (reference §1.5): ``Authorization: SharedAccessSignature sr=<app id>&sig=<signature>&
skn=<token id>&se=<expiry, epoch ms>``; the whole value, ``SharedAccessSignature `` included, is the token that
``PUT /api/apiTokens/{id}`` returns once.

The service looks the token up by ``skn`` and checks that it belongs to this application (``sr``), has not expired
(``se``) and carries the token's signature; fields may come in any order. ``Bearer <AAD token>`` is the other
scheme; the emulator cannot check an AAD token, so it accepts any only when ``allow_bearer`` is set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from airflow_iot_jobs.emulator.iotcentral.errors import unauthorized

TOKEN_ID = "emulator-operator"
TOKEN_DAYS = 365  # "valid for about 1 year"


@dataclass(frozen=True)
class ApiToken:
    app_id: str
    token_id: str
    signature: str
    expiry_ms: int

    @classmethod
    def issue(cls, now: float, app_id: str | None = None, token_id: str = TOKEN_ID) -> ApiToken:
        """A new random token for the application (random app id when None), valid for a year."""
        app = app_id or str(uuid.uuid4())
        expiry = int((now + TOKEN_DAYS * 86400) * 1000)
        key = os.urandom(32)
        digest = hmac.new(key, f"{app}\n{token_id}\n{expiry}".encode(), hashlib.sha256).digest()
        return cls(app, token_id, base64.b64encode(digest).decode("ascii"), expiry)

    @classmethod
    def parse(cls, value: str) -> ApiToken:
        """A token from its header value; ValueError when it is not one."""
        scheme, _, rest = value.strip().partition(" ")
        if scheme != "SharedAccessSignature" or not rest.strip():
            raise ValueError("not a SharedAccessSignature")
        fields: dict[str, str] = {}
        for part in rest.strip().split("&"):
            name, sep, field_value = part.partition("=")
            if not sep or not name or not field_value or name in fields:
                raise ValueError("malformed SharedAccessSignature")
            fields[name] = unquote(field_value)
        missing = [n for n in ("sr", "sig", "skn", "se") if n not in fields]
        if missing:
            raise ValueError(f"SharedAccessSignature lacks {', '.join(missing)}")
        try:
            expiry = int(fields["se"])
        except ValueError:
            raise ValueError("SharedAccessSignature has a malformed expiry") from None
        return cls(fields["sr"], fields["skn"], fields["sig"], expiry)

    @property
    def value(self) -> str:
        """The whole Authorization header value."""
        return f"SharedAccessSignature sr={self.app_id}&sig={self.signature}&skn={self.token_id}&se={self.expiry_ms}"


@dataclass(frozen=True)
class Principal:
    name: str  # the token id, or "bearer"


class ApiTokenAuthenticator:
    def __init__(self, token: ApiToken, now: Callable[[], float], allow_bearer: bool = False) -> None:
        self.token = token
        self._now = now
        self.allow_bearer = allow_bearer

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller, or raise 401."""
        if not authorization or not authorization.strip():
            raise unauthorized("Authorization header is missing.")
        scheme, _, rest = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            if self.allow_bearer and rest.strip():
                return Principal("bearer")
            raise unauthorized("Bearer tokens are not accepted by this application.")
        try:
            given = ApiToken.parse(authorization)
        except ValueError as exc:
            raise unauthorized(f"Invalid API token: {exc}.") from None
        if given.token_id != self.token.token_id:
            raise unauthorized(f"Unknown API token '{given.token_id}'.")
        if given.app_id != self.token.app_id:
            raise unauthorized("The API token belongs to another application.")
        if given.expiry_ms != self.token.expiry_ms or given.expiry_ms <= self._now() * 1000:
            raise unauthorized("The API token has expired or is not this token.")
        if not hmac.compare_digest(given.signature.encode(), self.token.signature.encode()):
            raise unauthorized("The API token signature is invalid.")
        return Principal(given.token_id)

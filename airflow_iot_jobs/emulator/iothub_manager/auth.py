"""The service's auth (reference §4.5): only "external" requests, those carrying the reverse proxy's ``X-Source``
header, are checked; they need ``Authorization: Bearer <JWT>``. Requests without ``X-Source`` are trusted as
service-to-service ("temporary solution for public preview").

The real service validates the JWT against its OpenID configuration (signing keys, issuer, audience, lifetime,
an allowed alg list) and asks the user-management service which actions the token's roles allow. The emulator
signs its own tokens with HS256 (standard library ``hmac``) and checks the same things: signature with its key,
``alg`` in the allowed list (``none`` never), ``iss``, ``aud``, ``exp`` / ``nbf`` with ASP.NET's default
5 minute clock skew. Roles map to actions here: ``admin`` may do everything, ``readOnly`` only ``ReadAll``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

ISSUER = "https://sts.windows.net/emulated-tenant/"
AUDIENCE = "emulated-remote-monitoring"
ALLOWED_ALGORITHMS = ("HS256",)
CLOCK_SKEW_SECONDS = 300  # TokenValidationParameters.ClockSkew default
TOKEN_LIFETIME_SECONDS = 365 * 86400

#: role -> allowed actions (what the auth service's GetAllowedActionsAsync would answer)
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(
        {
            "ReadAll",
            "CreateDevices",
            "UpdateDevices",
            "DeleteDevices",
            "CreateDeviceGroups",
            "UpdateDeviceGroups",
            "DeleteDeviceGroups",
            "CreateRules",
            "UpdateRules",
            "DeleteRules",
            "CreateJobs",
            "UpdateSimManagement",
            "AcquireToken",
            "CreateDeployments",
            "DeleteDeployments",
            "CreatePackages",
            "DeletePackages",
        }
    ),
    "readOnly": frozenset({"ReadAll"}),
}


class AuthenticationFailed(Exception):
    """-> 401 ``{"Error": "Authentication required"}``."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Principal:
    subject: str
    actions: frozenset[str]


class JwtAuthority:
    """Issues and validates the emulator's JWTs."""

    def __init__(
        self,
        now: Callable[[], float],
        key: bytes | None = None,
        issuer: str = ISSUER,
        audience: str = AUDIENCE,
    ) -> None:
        self.key = key if key is not None else os.urandom(32)
        self.issuer = issuer
        self.audience = audience
        self._now = now

    def issue(
        self,
        roles: Iterable[str] = ("admin",),
        lifetime: float = TOKEN_LIFETIME_SECONDS,
        *,
        issuer: str | None = None,
        audience: str | None = None,
        not_before: float | None = None,
        algorithm: str = "HS256",
        key: bytes | None = None,
        subject: str = "emulator-user",
    ) -> str:
        """A signed token (the keywords make wrong ones for tests: another issuer, audience, key, an expired
        or not-yet-valid lifetime, ``algorithm="none"``)."""
        now = int(self._now())
        header = {"alg": algorithm, "typ": "JWT"}
        claims: dict[str, Any] = {
            "iss": self.issuer if issuer is None else issuer,
            "aud": self.audience if audience is None else audience,
            "sub": subject,
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, subject)),
            "name": subject,
            "roles": list(roles),
            "iat": now,
            "nbf": int(now if not_before is None else not_before),
            "exp": int(now + lifetime),
        }
        signing_input = (
            _b64(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64(json.dumps(claims, separators=(",", ":")).encode())
        )
        if algorithm == "none":
            return signing_input + "."
        signature = hmac.new(key or self.key, signing_input.encode("ascii"), hashlib.sha256).digest()
        return signing_input + "." + _b64(signature)

    def validate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise AuthenticationFailed("no Authorization header")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("not a bearer token")
        parts = token.strip().split(".")
        if len(parts) != 3:
            raise AuthenticationFailed("malformed JWT")
        try:
            header = json.loads(_unb64(parts[0]))
            claims = json.loads(_unb64(parts[1]))
            signature = _unb64(parts[2])
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise AuthenticationFailed("malformed JWT") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise AuthenticationFailed("malformed JWT")
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise AuthenticationFailed(f"alg {header.get('alg')!r} is not allowed")
        expected = hmac.new(self.key, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, signature):
            raise AuthenticationFailed("bad signature")
        if claims.get("iss") != self.issuer:
            raise AuthenticationFailed("wrong issuer")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.audience not in audiences:
            raise AuthenticationFailed("wrong audience")
        now = self._now()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, int | float) or isinstance(exp, bool) or exp + CLOCK_SKEW_SECONDS <= now:
            raise AuthenticationFailed("expired or no exp")
        if isinstance(nbf, int | float) and not isinstance(nbf, bool) and nbf - CLOCK_SKEW_SECONDS > now:
            raise AuthenticationFailed("not yet valid")
        roles = claims.get("roles") or []
        if isinstance(roles, str):
            roles = [roles]
        actions = frozenset().union(*(ROLE_ACTIONS.get(str(role), frozenset()) for role in roles))
        return Principal(str(claims.get("sub", "")), actions)

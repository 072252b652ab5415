"""Shared-access-signature validation, following the algorithm in the wire contract §3.

Token generators disagree on field order and percent-encoding (``quote`` vs ``quote_plus``, upper or
lower hex), so nothing here compares token strings literally: the signature is recomputed over every
plausible spelling of the signed resource URI and compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, quote_plus, unquote

from airflow_iot_jobs.emulator.iothub.errors import IoTHubError, unauthorized

OWNER_POLICY = "iothubowner"

# Rights of the built-in policies; a route asks for any one of a set of rights.
POLICY_RIGHTS: dict[str, frozenset[str]] = {
    "iothubowner": frozenset({"RegistryRead", "RegistryWrite", "ServiceConnect", "DeviceConnect"}),
    "service": frozenset({"ServiceConnect"}),
    "registryRead": frozenset({"RegistryRead"}),
    "registryReadWrite": frozenset({"RegistryRead", "RegistryWrite"}),
}


def derive_policy_key(owner_key: str, policy: str) -> str:
    """A stable key for a secondary policy, derived from the owner key (so one ``--key`` fixes them all)."""
    if policy == OWNER_POLICY:
        return owner_key
    digest = hmac.new(base64.b64decode(owner_key), f"policy:{policy}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign(resource_uri: str, expiry: int, key: str) -> str:
    """Base64 HMAC-SHA256 of ``"<resource_uri>\\n<expiry>"`` with the base64-decoded ``key``."""
    message = f"{resource_uri}\n{expiry}".encode()
    return base64.b64encode(hmac.new(base64.b64decode(key), message, hashlib.sha256).digest()).decode("ascii")


@dataclass(frozen=True)
class Principal:
    name: str  # policy name, or "bearer"
    rights: frozenset[str]

    def has_any(self, rights: frozenset[str] | set[str]) -> bool:
        return bool(self.rights & rights)


_HEX_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


def _signed_variants(sr_raw: str) -> set[str]:
    decoded = unquote(sr_raw)
    variants = {sr_raw, decoded}
    for text in (decoded, decoded.lower()):
        for encoded in (quote_plus(text), quote(text, safe=""), quote(text)):
            variants.add(encoded)
            variants.add(_HEX_ESCAPE.sub(lambda m: m.group(0).lower(), encoded))
            variants.add(encoded.lower())
    return variants


def _split_resource(uri: str) -> tuple[str, list[str]]:
    text = uri.strip().lower()
    for scheme in ("https://", "http://", "amqps://"):
        if text.startswith(scheme):
            text = text[len(scheme) :]
    host, _, path = text.partition("/")
    return host, [segment for segment in path.split("/") if segment]


class SasAuthenticator:
    def __init__(
        self,
        hostname: str,
        policies: Mapping[str, str],
        now: Callable[[], float],
        allow_bearer: bool = False,
    ) -> None:
        self.hostname = hostname
        self.policies = dict(policies)
        self._now = now
        self.allow_bearer = allow_bearer

    def authenticate(self, authorization: str | None, path: str) -> Principal:
        """The caller's principal, or raise a 401 :class:`IoTHubError`."""
        if not authorization or not authorization.strip():
            raise unauthorized("Authorization header is missing")
        scheme, _, rest = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            if self.allow_bearer and rest.strip():
                return Principal("bearer", POLICY_RIGHTS[OWNER_POLICY])
            raise unauthorized("Bearer tokens are not accepted by this hub")
        if scheme != "SharedAccessSignature":
            raise unauthorized("Authorization header is not a SharedAccessSignature")
        fields = self._parse(rest.strip())
        return self._validate(fields, path)

    @staticmethod
    def _parse(text: str) -> dict[str, str]:
        fields: dict[str, str] = {}
        for part in text.split("&"):
            name, sep, value = part.partition("=")
            if not sep or not name or not value:
                raise unauthorized("Malformed SharedAccessSignature")
            if name in fields:
                raise unauthorized(f"Duplicate field '{name}' in SharedAccessSignature")
            fields[name] = value
        missing = [name for name in ("sr", "sig", "se", "skn") if name not in fields]
        if missing:
            raise unauthorized(f"SharedAccessSignature lacks {', '.join(missing)}")
        return fields

    def _validate(self, fields: dict[str, str], path: str) -> Principal:
        try:
            expiry = int(fields["se"])
        except ValueError:
            raise unauthorized("SharedAccessSignature has a malformed expiry") from None
        if expiry <= self._now():
            raise unauthorized("SharedAccessSignature has expired")
        policy = unquote(fields["skn"])
        key = self.policies.get(policy)
        if key is None:
            raise unauthorized(f"Unknown shared access policy '{policy}'")
        host, scope = _split_resource(unquote(fields["sr"]))
        request_segments = [s for s in unquote(path).lower().split("/") if s]
        if host != self.hostname.lower() or request_segments[: len(scope)] != scope:
            raise unauthorized("SharedAccessSignature resource URI does not match this hub")
        try:
            given = base64.b64decode(unquote(fields["sig"]), validate=True)
        except (binascii.Error, ValueError):
            raise unauthorized("SharedAccessSignature has a malformed signature") from None
        secret = base64.b64decode(key)
        matched = False
        for variant in sorted(_signed_variants(fields["sr"])):
            expected = hmac.new(secret, f"{variant}\n{fields['se']}".encode(), hashlib.sha256).digest()
            matched |= hmac.compare_digest(expected, given)
        if not matched:
            raise unauthorized("SharedAccessSignature signature is invalid")
        return Principal(policy, POLICY_RIGHTS.get(policy, frozenset({"ServiceConnect"})))


def require(principal: Principal, rights: set[str]) -> None:
    if not principal.has_any(frozenset(rights)):
        raise IoTHubError(
            401, "IotHubUnauthorizedAccess", 401002, f"Policy '{principal.name}' lacks {sorted(rights)}"
        )

"""Device identity data the simulated twin does not carry: the ``authentication`` block (keys, thumbprints).

Every simulated device has SAS keys derived from the fleet seed and the device id (stable across runs, no
storage per device). An import can set explicit keys or thumbprints, or have the hub mint new keys; those
devices get an entry here. The identity eTag lives on the twin as ``deviceEtag`` (the service's twin
``deviceEtag`` equals the identity eTag).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
from typing import Any

AUTH_TYPES = ("sas", "selfSigned", "certificateAuthority", "none")


def derive_key(seed: int, device_id: str, slot: str, generation: int) -> str:
    """A deterministic 256-bit base64 device key."""
    digest = hmac.new(
        f"iothub-emulator-device-keys|{seed}".encode(),
        f"{device_id}|{slot}|{generation}".encode(),
        hashlib.sha256,
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def next_device_etag(current: str | None) -> str:
    """Identity eTags are base64 of a decimal counter ("MQ==" is "1"); count up, restart when unreadable."""
    try:
        value = int(base64.b64decode(current or "", validate=True).decode("ascii")) + 1
    except (binascii.Error, ValueError, UnicodeDecodeError):
        value = 1
    return base64.b64encode(str(value).encode("ascii")).decode("ascii")


def sas_authentication(primary: str | None, secondary: str | None) -> dict[str, Any]:
    return {
        "symmetricKey": {"primaryKey": primary, "secondaryKey": secondary},
        "x509Thumbprint": {"primaryThumbprint": None, "secondaryThumbprint": None},
        "type": "sas",
    }


class IdentityStore:
    """Authentication blocks by device id: derived from the seed unless an import replaced them."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._explicit: dict[str, dict[str, Any]] = {}
        self._generation: dict[str, int] = {}

    def _derived(self, device_id: str) -> dict[str, Any]:
        generation = self._generation.get(device_id, 0)
        return sas_authentication(
            derive_key(self.seed, device_id, "primary", generation),
            derive_key(self.seed, device_id, "secondary", generation),
        )

    def authentication(self, device_id: str) -> dict[str, Any]:
        """A copy of the device's ``authentication`` block, as the registry returns it."""
        explicit = self._explicit.get(device_id)
        if explicit is not None:
            return copy.deepcopy(explicit)
        return self._derived(device_id)

    def set_authentication(self, device_id: str, authentication: dict[str, Any]) -> None:
        if authentication == self._derived(device_id):  # re-importing an export: nothing to remember
            self._explicit.pop(device_id, None)
        else:
            self._explicit[device_id] = copy.deepcopy(authentication)

    def regenerate(self, device_id: str) -> None:
        """The hub mints new SAS keys (an import line without keys)."""
        self._explicit.pop(device_id, None)
        self._generation[device_id] = self._generation.get(device_id, 0) + 1

    def forget(self, device_id: str) -> None:
        """The device was deleted; a later device with the same id gets new keys."""
        self.regenerate(device_id)

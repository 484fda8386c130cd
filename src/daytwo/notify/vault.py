"""Channel secrets at rest: encrypted with a key derived from the server's secret key.

A secret is given once, stored as a Fernet token (AES-128-CBC + HMAC-SHA256) and never shown
again; or it stays outside the ledger, named as an environment variable read at delivery.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.fernet import Fernet, InvalidToken

from daytwo.errors import ConfigError

_CONTEXT = b"daytwo.notify.channel-secrets.v1"


def _fernet(server_key: bytes) -> Fernet:
    derived = hashlib.sha256(_CONTEXT + server_key).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(server_key: bytes, secret: str) -> str:
    return _fernet(server_key).encrypt(secret.encode()).decode()


def open_sealed(server_key: bytes, token: str, *, channel: str) -> str:
    try:
        return _fernet(server_key).decrypt(token.encode()).decode()
    except InvalidToken:
        raise ConfigError(
            f"Channel {channel!r}: its secret cannot be decrypted with this server's key "
            "(DAYTWO_SESSION_SECRET changed?); set the secret again."
        ) from None


def from_env(name: str, *, channel: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"Channel {channel!r}: the environment variable {name} is not set.")
    return value

"""Client secrets: generated with 256 bits of entropy, stored only as a salted scrypt hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets

# Modest cost: secrets are random, not passwords, so the hash guards a leaked table, and the
# token endpoint stays fast.
_N, _R, _P = 2**12, 8, 1


def new_client_id() -> str:
    return "c_" + secrets.token_hex(12)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(
        secret.encode(), salt=bytes.fromhex(salt_hex), n=_N, r=_R, p=_P, dklen=32
    )
    return hmac.compare_digest(digest.hex(), digest_hex)

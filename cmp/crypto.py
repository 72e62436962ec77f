"""Encryption of secrets we must read back later (webhook signing secrets), with Fernet.

The Fernet key is derived with HKDF-SHA256 from FIELD_ENCRYPTION_KEY (or, when that is unset, SECRET_KEY),
so any long random string works as a key. FIELD_ENCRYPTION_KEY may hold several keys separated by commas:
the first encrypts, all of them decrypt, which lets an operator rotate the key (put the new key first,
re-save the secrets, then drop the old one). Secrets that only need checking (API keys) are hashed instead.
"""

import base64
import os
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

HKDF_INFO = b"cmp field encryption v1"
HKDF_SALT = b"cmp.crypto"


class DecryptionError(Exception):
    """The value was not encrypted with any of the configured keys, or was altered."""


def _configured_keys() -> tuple[str, ...]:
    raw = getattr(settings, "FIELD_ENCRYPTION_KEY", "") or os.environ.get("FIELD_ENCRYPTION_KEY", "")
    keys = tuple(key.strip() for key in raw.split(",") if key.strip())
    return keys or (settings.SECRET_KEY,)


def _derive(secret: str) -> Fernet:
    material = HKDF(algorithm=hashes.SHA256(), length=32, salt=HKDF_SALT, info=HKDF_INFO).derive(
        secret.encode()
    )
    return Fernet(base64.urlsafe_b64encode(material))


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([_derive(key) for key in keys])


def encrypt(value: str) -> str:
    """The value encrypted and authenticated, as URL-safe text (a Fernet token)."""
    return _fernet(_configured_keys()).encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet(_configured_keys()).decrypt(token.encode()).decode()
    except (InvalidToken, ValueError, TypeError) as error:
        raise DecryptionError("The value cannot be decrypted with the configured keys.") from error

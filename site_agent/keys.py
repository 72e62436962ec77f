"""Secret API keys for buyer agents: `ar_sk_live_` + 40 random base62 characters + a 6-character checksum.

The checksum (CRC32 of the random part, in base62) lets us reject a mistyped or truncated key without a
database lookup. Only the SHA-256 of a key and its first characters are ever stored.
"""

import hashlib
import re
import secrets
import string
import zlib

KEY_PREFIX = "ar_sk_live_"
RANDOM_LENGTH = 40
CHECKSUM_LENGTH = 6
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 6
BASE62 = string.digits + string.ascii_letters
KEY_PATTERN = re.compile(
    rf"^{KEY_PREFIX}(?P<random>[0-9A-Za-z]{{{RANDOM_LENGTH}}})(?P<checksum>[0-9A-Za-z]{{{CHECKSUM_LENGTH}}})$"
)


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, remainder = divmod(number, 62)
        digits.append(BASE62[remainder])
    return "".join(reversed(digits)).rjust(width, "0")[-width:]


def _checksum(random_part: str) -> str:
    return _base62(zlib.crc32(random_part.encode()), CHECKSUM_LENGTH)


def generate_key() -> str:
    random_part = "".join(secrets.choice(BASE62) for _ in range(RANDOM_LENGTH))
    return f"{KEY_PREFIX}{random_part}{_checksum(random_part)}"


def is_well_formed(key: str) -> bool:
    """Format and checksum only: no database involved."""
    match = KEY_PATTERN.match(key) if isinstance(key, str) else None
    return bool(match) and secrets.compare_digest(_checksum(match["random"]), match["checksum"])


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    return key[:DISPLAY_PREFIX_LENGTH]

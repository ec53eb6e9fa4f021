"""API key token format: `vsk_` + 36 random base62 characters + a 6-character base62 CRC32.

The checksum lets a mistyped or made-up key be rejected without a database lookup (GitHub's
token format, https://github.blog/2021-04-05-behind-githubs-new-authentication-token-formats/).
Keys are high-entropy random strings, so a fast SHA-256 digest is the right storage hash.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import zlib

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PREFIX = "vsk_"
RANDOM_LENGTH = 36
CHECKSUM_LENGTH = 6
DISPLAY_PREFIX_LENGTH = len(PREFIX) + 8
TOKEN_RE = re.compile(rf"^{PREFIX}[0-9A-Za-z]{{{RANDOM_LENGTH + CHECKSUM_LENGTH}}}$")


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rem = divmod(number, 62)
        digits.append(ALPHABET[rem])
    return "".join(reversed(digits)).rjust(width, "0")


def checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def generate() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return f"{PREFIX}{body}{checksum(body)}"


def is_well_formed(token: str) -> bool:
    """True when the token has the right shape and checksum (no database access)."""
    if not TOKEN_RE.match(token):
        return False
    body = token[len(PREFIX) : len(PREFIX) + RANDOM_LENGTH]
    return secrets.compare_digest(checksum(body), token[-CHECKSUM_LENGTH:])


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def display_prefix(token: str) -> str:
    return token[:DISPLAY_PREFIX_LENGTH]

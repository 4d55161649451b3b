"""Password hashing (argon2id through pwdlib) and the password policy.

The cost is pwdlib's recommended argon2id (time_cost 3, memory 64 MiB, parallelism 4, RFC 9106's
second recommended option); ``bench/web.py`` prints what one login costs on this machine.
"""

from __future__ import annotations

import functools
import secrets

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from presswatch.i18n import N_, Refusal

ARGON2_TIME_COST = 3
ARGON2_MEMORY_KIB = 65536
ARGON2_PARALLELISM = 4


class PasswordPolicyError(Refusal, ValueError):
    """A new password that the policy refuses (too short, ...). ``message`` is the catalog's msgid,
    ``params`` its placeholders, so every face can say it in the user's language."""


@functools.cache
def hasher() -> PasswordHash:
    return PasswordHash((Argon2Hasher(time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB,
                                      parallelism=ARGON2_PARALLELISM),))


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    """True when ``password`` matches. An empty hash (an account without a password) never matches,
    but costs the same time, so response times do not tell which usernames exist."""
    if not password_hash:
        hasher().verify(password, _dummy_hash())
        return False
    try:
        return hasher().verify(password, password_hash)
    except Exception:  # an unparsable hash (hand-edited row) is a failed login, not a 500
        return False


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def check_policy(password: str, min_length: int) -> None:
    if len(password) < min_length:
        raise PasswordPolicyError(N_("A password needs at least {n} characters."), n=min_length)
    if not password.strip():
        raise PasswordPolicyError(N_("A password cannot be blank."))


def generate_password() -> str:
    """A temporary password for an admin reset (16 URL-safe characters)."""
    return secrets.token_urlsafe(12)

"""The one check of a recipient's e-mail address, used by every file that names recipients
(digests.yaml, quota.yaml contacts, alert rules), so a typo fails when the file loads, naming the
field, rather than at 07:30 when the digest is due.

Deliberately loose (``local@domain.tld`` or ``local@localhost``, no spaces, one ``@``): the mail
server decides deliverability; this catches the mistakes people make in YAML (a missing ``@``, a
name instead of an address, two addresses in one string). Shared core: imports no stage.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>.]+$|^[^@\s,;<>]+@localhost$")


class AddressError(ValueError):
    """Not an e-mail address."""


def validate_email_address(address: str) -> str:
    """``address`` stripped, if it looks like one e-mail address; :class:`AddressError` otherwise."""
    text = address.strip() if isinstance(address, str) else ""
    if not _EMAIL.match(text):
        raise AddressError(f"not an e-mail address: {address!r} (expected one address such as office@court.example.cn)")
    return text

"""Secrets out of sight: headers that carry a credential, and known secret values in text, shown as `***`.

A header is secret when its name is `Authorization`, `Proxy-Authorization`, `api-key` or
`x-api-key`, or contains `key`, `token` or `secret` (any case). `redact_headers` keeps the
names and hides the values; `redact_text` hides given values wherever they occur (a log,
a server's error message). Nothing here stores a secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Optional

MASK = "***"
_SECRET_NAMES = frozenset({"authorization", "proxy-authorization", "api-key", "x-api-key", "cookie"})
_SECRET_PARTS = ("key", "token", "secret")
#: Shorter values are not hidden inside text: they would hide ordinary words and digits.
_MIN_SECRET_CHARS = 4


def is_secret_header(name: str) -> bool:
    """True if a header of this name carries a credential."""
    lowered = name.strip().lower()
    return lowered in _SECRET_NAMES or any(part in lowered for part in _SECRET_PARTS)


def redact_headers(headers: Optional[Mapping[str, str]]) -> dict[str, str]:
    """The headers with every secret one's value replaced by `***`."""
    return {name: MASK if is_secret_header(name) else value for name, value in (headers or {}).items()}


def secret_values(headers: Optional[Mapping[str, str]]) -> list[str]:
    """The secret headers' values, and for `Bearer X` also X alone (what `redact_text` hides)."""
    values: list[str] = []
    for name, value in (headers or {}).items():
        if is_secret_header(name) and value:
            values.append(value)
            scheme, _, credential = value.partition(" ")
            if credential.strip() and scheme.isalpha():
                values.append(credential.strip())
    return values


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each secret (longest first) replaced by `***`."""
    for secret in sorted({s for s in secrets if len(s) >= _MIN_SECRET_CHARS}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text

"""The API key: held so it never shows, and scrubbed from any text that could.

Every client registers its key here. ``redact`` is applied where text enters
the library from outside (server answers, exception messages, log lines), so
a server that echoes the key back cannot make it reach a repr, the history
file, a notebook or a log.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any, NoReturn

MASK = "***"
# Shorter strings are not API keys (the API's are 32 characters), and masking them would
# mask ordinary words everywhere ("test" in every "cdn.test" link, say).
_MIN_SECRET_LENGTH = 8
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\"]+")
_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(secret: str | None) -> None:
    """Remember a secret so that ``redact`` removes it from any text."""
    if secret and len(secret) >= _MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(secret)


def redact(text: str) -> str:
    """``text`` with every registered secret and any bearer token masked."""
    for secret in tuple(_secrets):
        if secret in text:
            text = text.replace(secret, MASK)
    return _BEARER.sub(r"\1" + MASK, text)


def redact_value(value: Any) -> Any:
    """``value`` (e.g. decoded JSON) with ``redact`` applied to every string in it."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {redact_value(k): redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v) for v in value)
    return value


class Secret:
    """Holds the API key; its repr is ``<secret>`` and it cannot be pickled."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("the API key holder cannot be pickled")

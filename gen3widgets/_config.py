"""Settings, each resolved as: explicit argument > environment variable > named default."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_BASE_URL = "https://api.aimlapi.com"
API_KEY_ENV = "AIMLAPI_KEY"
BASE_URL_ENV = "AIMLAPI_BASE_URL"
HOME_ENV = "GEN3WIDGETS_HOME"
ENDPOINT_ENV = "GEN3WIDGETS_ENDPOINT"

ENDPOINT_CHOICES = ("auto", "universal", "legacy")
DEFAULT_TIMEOUT = 30.0  # seconds for one HTTP request
DEFAULT_MAX_RETRIES = 4  # retries of one request (GETs; creates the server cannot have bought)
DEFAULT_WAIT_TIMEOUT = 600.0  # seconds for a whole generation to finish
# How long a lost create answer is looked for in the usage logs before it is reported
# uncertain; the logs come from an analytics pipeline and lag the request a little.
DEFAULT_RECONCILE_TIMEOUT = 120.0


def resolve_api_key(api_key: str | None = None) -> str | None:
    """The API key from the argument, else ``AIMLAPI_KEY``; ``None`` when neither is set."""
    if api_key is not None:
        api_key = api_key.strip()
        return api_key or None
    value = os.environ.get(API_KEY_ENV, "").strip()
    return value or None


def resolve_base_url(base_url: str | None = None) -> str:
    value = base_url or os.environ.get(BASE_URL_ENV, "").strip() or DEFAULT_BASE_URL
    return value.rstrip("/")


def resolve_endpoint(endpoint: str | None = None) -> str:
    """Which video path to use: ``auto`` (universal, falling back to legacy), or one of them."""
    value = endpoint or os.environ.get(ENDPOINT_ENV, "").strip().lower() or "auto"
    if value not in ENDPOINT_CHOICES:
        from ._errors import ConfigurationError

        raise ConfigurationError(
            f"endpoint must be one of {', '.join(ENDPOINT_CHOICES)}, not {value!r} "
            f"(from the argument or {ENDPOINT_ENV})."
        )
    return value


def data_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The folder for history and videos: argument > ``GEN3WIDGETS_HOME`` > user data dir."""
    if home is not None:
        return Path(home).expanduser()
    env = os.environ.get(HOME_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs  # deferred: only needed when a store is opened

    return Path(platformdirs.user_data_dir("gen3widgets", appauthor=False))

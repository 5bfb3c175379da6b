"""Settings, each resolved as: explicit argument > environment variable > named default."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_BASE_URL = "https://api.aimlapi.com"
API_KEY_ENV = "AIMLAPI_KEY"
BASE_URL_ENV = "AIMLAPI_BASE_URL"
HOME_ENV = "GEN3WIDGETS_HOME"

MODEL = "gen3a_turbo"
GENERATION_PATH = "/v2/generate/video/runway/generation"

DEFAULT_TIMEOUT = 30.0  # seconds for one HTTP request
DEFAULT_MAX_RETRIES = 4  # retries of one request (GETs; safe creates)
DEFAULT_WAIT_TIMEOUT = 600.0  # seconds for a whole generation to finish


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


def data_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The folder for history and videos: argument > ``GEN3WIDGETS_HOME`` > user data dir."""
    if home is not None:
        return Path(home).expanduser()
    env = os.environ.get(HOME_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs  # deferred: only needed when a store is opened

    return Path(platformdirs.user_data_dir("gen3widgets", appauthor=False))

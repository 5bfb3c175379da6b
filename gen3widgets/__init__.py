"""gen3widgets: Runway gen3a_turbo image-to-video in Jupyter, on the AI/ML API.

    >>> from gen3widgets import GenerationPanel
    >>> GenerationPanel(prompt="a slow dolly shot", image="cat.png")

``Client`` / ``AsyncClient`` script the same things; with no ``AIMLAPI_KEY``
the widgets (and ``Client.auto()``) run on a built-in offline simulator.

Heavy modules (httpx, ipywidgets) load on first use of a name that needs them,
so ``import gen3widgets`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    DownloadError,
    Gen3Error,
    GenerationFailed,
    GenerationTimeout,
    InsufficientCreditsError,
    NotFoundError,
    RateLimitError,
    ServerError,
    SubmissionUncertain,
    TransportError,
    ValidationError,
)
from ._lazy import lazy_names
from ._models import Generation, GenerationRequest, Status

if TYPE_CHECKING:
    from ._client import AsyncClient, Client
    from ._store import history
    from .magics import load_ipython_extension, unload_ipython_extension
    from .widgets.grid import SeedGrid
    from .widgets.panel import GenerationPanel

__version__ = "0.1.0"

# name -> module that defines it, imported on first access
_LAZY = {
    "Client": "._client",
    "AsyncClient": "._client",
    "history": "._store",
    "GenerationPanel": ".widgets.panel",
    "SeedGrid": ".widgets.grid",
    "load_ipython_extension": ".magics",
    "unload_ipython_extension": ".magics",
}

__all__ = [
    "APIError",
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "ConfigurationError",
    "DownloadError",
    "Gen3Error",
    "Generation",
    "GenerationFailed",
    "GenerationPanel",
    "GenerationRequest",
    "GenerationTimeout",
    "InsufficientCreditsError",
    "NotFoundError",
    "RateLimitError",
    "SeedGrid",
    "ServerError",
    "Status",
    "SubmissionUncertain",
    "TransportError",
    "ValidationError",
    "__version__",
    "history",
    "load_ipython_extension",
    "unload_ipython_extension",
]


__getattr__, __dir__ = lazy_names(__name__, globals(), _LAZY)

"""gen3widgets: Runway image-to-video (gen3a_turbo, runway/gen4_turbo) in Jupyter, on the AI/ML API.

    >>> from gen3widgets import GenerationPanel
    >>> GenerationPanel(prompt="a slow dolly shot", image="cat.png")

``Client`` / ``AsyncClient`` script the same things; with no ``AIMLAPI_KEY``
the widgets (and ``Client.auto()``) run on a built-in offline simulator.

Heavy modules (httpx, ipywidgets) load on first use of a name that needs them,
so ``import gen3widgets`` stays fast. This namespace holds exactly ``__all__``
(and submodules once imported).
"""

import typing as _typing

from ._errors import (
    APIError,
    AuthenticationError,
    BudgetExceededError,
    ConfigurationError,
    DownloadError,
    Gen3Error,
    GenerationFailed,
    GenerationTimeout,
    InsufficientCreditsError,
    ModelUnavailableError,
    NotFoundError,
    NotReadyError,
    RateLimitError,
    ServerError,
    StorageError,
    SubmissionUncertain,
    TransportError,
    ValidationError,
    WaitTimeout,
)
from ._lazy import lazy_names as _lazy_names
from ._models import (
    MODELS,
    Generation,
    GenerationRequest,
    PriceQuery,
    Status,
    Submission,
    SubmissionState,
    VideoModel,
)

if _typing.TYPE_CHECKING:
    from ._client import AsyncClient, Client
    from ._frames import last_frame
    from ._jobs import Job, JobRunner, JobState, wait_all, wait_all_async
    from ._shots import Shot
    from ._store import HistoryStore, StoredGeneration, history
    from .magics import load_ipython_extension, unload_ipython_extension
    from .widgets.grid import GridCell, SeedGrid
    from .widgets.panel import GenerationPanel
    from .widgets.sequence import Sequence

__version__ = "0.2.0"

# name -> module that defines it, imported on first access
_LAZY = {
    "Client": "._client",
    "AsyncClient": "._client",
    "HistoryStore": "._store",
    "StoredGeneration": "._store",
    "history": "._store",
    "Job": "._jobs",
    "JobRunner": "._jobs",
    "JobState": "._jobs",
    "wait_all": "._jobs",
    "wait_all_async": "._jobs",
    "GenerationPanel": ".widgets.panel",
    "SeedGrid": ".widgets.grid",
    "GridCell": ".widgets.grid",
    "Sequence": ".widgets.sequence",
    "Shot": "._shots",
    "last_frame": "._frames",
    "load_ipython_extension": ".magics",
    "unload_ipython_extension": ".magics",
}

__all__ = [
    "MODELS",
    "APIError",
    "AsyncClient",
    "AuthenticationError",
    "BudgetExceededError",
    "Client",
    "ConfigurationError",
    "DownloadError",
    "Gen3Error",
    "Generation",
    "GenerationFailed",
    "GenerationPanel",
    "GenerationRequest",
    "GenerationTimeout",
    "GridCell",
    "HistoryStore",
    "InsufficientCreditsError",
    "Job",
    "JobRunner",
    "JobState",
    "ModelUnavailableError",
    "NotFoundError",
    "NotReadyError",
    "PriceQuery",
    "RateLimitError",
    "SeedGrid",
    "Sequence",
    "ServerError",
    "Shot",
    "Status",
    "StorageError",
    "StoredGeneration",
    "Submission",
    "SubmissionState",
    "SubmissionUncertain",
    "TransportError",
    "ValidationError",
    "VideoModel",
    "WaitTimeout",
    "__version__",
    "history",
    "last_frame",
    "load_ipython_extension",
    "unload_ipython_extension",
    "wait_all",
    "wait_all_async",
]


__getattr__, __dir__ = _lazy_names(__name__, globals(), _LAZY)

"""The public surface: every name in ``__all__`` exists, and nothing else is advertised."""

from __future__ import annotations

import subprocess
import sys

import gen3widgets

EXPECTED = {
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
}


def test_all_lists_the_contract() -> None:
    assert set(gen3widgets.__all__) == EXPECTED


def test_every_exported_name_resolves() -> None:
    for name in gen3widgets.__all__:
        assert getattr(gen3widgets, name) is not None, name
        if name[0].isupper():
            assert getattr(gen3widgets, name).__module__.startswith("gen3widgets"), name


def test_errors_share_one_base() -> None:
    for name in EXPECTED:
        obj = getattr(gen3widgets, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, gen3widgets.Gen3Error), name


def test_import_is_light() -> None:
    code = (
        "import sys, gen3widgets; "
        "heavy = [m for m in ('httpx', 'ipywidgets', 'PIL', 'starlette', 'av', 'numpy') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

from __future__ import annotations

import pytest

from tests.fakes import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep every test's history and videos out of the user's real data folder, and keyless."""
    monkeypatch.setenv("GEN3WIDGETS_HOME", str(tmp_path_factory.mktemp("gen3home")))
    monkeypatch.delenv("AIMLAPI_KEY", raising=False)
    monkeypatch.delenv("AIMLAPI_BASE_URL", raising=False)


# Client fixtures (``kind``, ``api``, ``make_api``, ``server``, ``loop``), for every test.
from tests.client_support import (  # noqa: E402, F401
    _forget_known_paths,
    api,
    kind,
    loop,
    make_api,
    server,
)

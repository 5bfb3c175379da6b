"""The public surface: exactly ``__all__``, one error tree, twins that match, honest constructors.

Like httpx's ``test_exported_members``: the namespace holds ``__all__``, the
submodules and underscore names, nothing else. Each pair of twins (``Client``
and ``AsyncClient``; ``wait`` and ``wait_async`` wherever there is a ``wait``)
takes the same parameters, so async code never has to learn another API.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import gen3widgets

EXPECTED = {
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
}


def exported(name: str) -> Any:
    return getattr(gen3widgets, name)


def exported_classes() -> Iterator[tuple[str, type]]:
    for name in sorted(gen3widgets.__all__):
        obj = exported(name)
        if inspect.isclass(obj):
            yield name, obj


def public_methods(cls: type) -> dict[str, Callable[..., Any]]:
    """Public methods and classmethods of ``cls`` (inherited ones too), by name."""
    found: dict[str, Callable[..., Any]] = {}
    for name in dir(cls):
        if name.startswith("_"):
            continue
        static = inspect.getattr_static(cls, name)
        if isinstance(static, (classmethod, staticmethod)):
            found[name] = static.__func__
        elif inspect.isfunction(static):
            found[name] = static
    return found


def shape(function: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    """What a caller sees of a signature: names, kinds and defaults (annotations may differ)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


# -- the namespace ---------------------------------------------------------------------


def test_all_lists_the_contract() -> None:
    assert set(gen3widgets.__all__) == EXPECTED
    assert len(gen3widgets.__all__) == len(EXPECTED)  # no name twice


def test_the_namespace_holds_exactly_all_submodules_and_private_names() -> None:
    # In a fresh interpreter: other tests here have imported submodules already.
    code = """
import json, types, gen3widgets as g
def extra():
    return sorted(
        name for name, value in vars(g).items()
        if not name.startswith("_") and name not in g.__all__
        and not (isinstance(value, types.ModuleType) and value.__name__.startswith("gen3widgets."))
    )
before = extra()
missing = [name for name in g.__all__ if getattr(g, name, None) is None]
print(json.dumps({"before": before, "after": extra(), "missing": missing,
                  "dir": sorted(set(g.__all__) - set(dir(g)))}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seen = json.loads(out.stdout)
    assert seen == {"before": [], "after": [], "missing": [], "dir": []}


def test_every_exported_name_resolves_to_the_package() -> None:
    for name in gen3widgets.__all__:
        obj = exported(name)
        assert obj is not None, name
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__module__.startswith("gen3widgets"), name


def test_every_exported_error_is_a_gen3error() -> None:
    errors = [obj for _, obj in exported_classes() if issubclass(obj, BaseException)]
    assert len(errors) >= 15
    for error in errors:
        assert issubclass(error, gen3widgets.Gen3Error), error.__name__
    # The built-in kinds are kept where they say something true, so both catches work.
    assert issubclass(gen3widgets.ValidationError, ValueError)
    assert issubclass(gen3widgets.WaitTimeout, TimeoutError)
    assert issubclass(gen3widgets.GenerationTimeout, gen3widgets.WaitTimeout)
    assert issubclass(gen3widgets.NotReadyError, RuntimeError)
    assert issubclass(gen3widgets.StorageError, OSError)
    assert issubclass(gen3widgets.ModelUnavailableError, gen3widgets.APIError)
    assert not issubclass(gen3widgets.ModelUnavailableError, gen3widgets.SubmissionUncertain)


# -- what users get back is importable ------------------------------------------------------

# Names used only in annotations under TYPE_CHECKING in the widget modules.
_ANNOTATION_NAMES = {name: exported(name) for name in gen3widgets.__all__}


def _classes_in(annotation: Any) -> Iterator[type]:
    origin = typing.get_origin(annotation)
    if origin is not None:
        for arg in typing.get_args(annotation):
            yield from _classes_in(arg)
        if isinstance(origin, type):
            yield origin
    elif isinstance(annotation, type):
        yield annotation


def _returned_classes(cls: type) -> dict[str, set[str]]:
    """Package classes returned by ``cls``'s public methods and properties, with who returns them."""
    from PIL import Image

    namespace = {**_ANNOTATION_NAMES, "Image": Image, "PILImage": Image}
    getters: dict[str, Callable[..., Any]] = dict(public_methods(cls))
    for name in dir(cls):
        static = inspect.getattr_static(cls, name, None)
        if not name.startswith("_") and isinstance(static, property) and static.fget:
            getters[name] = static.fget
    found: dict[str, set[str]] = {}
    for name, getter in getters.items():
        # The module's own names first (its ``Sequence`` may be collections.abc's), then
        # the exported ones for names imported only under TYPE_CHECKING.
        module_names = getattr(inspect.unwrap(getter), "__globals__", {})
        hints = typing.get_type_hints(getter, globalns={**namespace, **module_names})
        for returned in _classes_in(hints.get("return")):
            if returned.__module__.startswith("gen3widgets"):
                found.setdefault(returned.__qualname__, set()).add(f"{cls.__name__}.{name}")
    return found


_NOT_EXPORTED_YET: dict[str, str] = {}  # class -> why a returned class is not exported yet


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            name,
            marks=pytest.mark.xfail(strict=True, reason=_NOT_EXPORTED_YET[name])
            if name in _NOT_EXPORTED_YET
            else (),
        )
        for name, cls in exported_classes()
        if not issubclass(cls, BaseException)
    ],
)
def test_what_a_public_method_returns_is_importable_from_the_package(name: str) -> None:
    returned = _returned_classes(exported(name))
    names = set(gen3widgets.__all__)
    missing = {cls: sorted(where) for cls, where in returned.items() if cls not in names}
    assert missing == {}


# -- twins -----------------------------------------------------------------------------------


def test_client_and_async_client_have_the_same_methods_and_parameters() -> None:
    sync = public_methods(gen3widgets.Client)
    both = public_methods(gen3widgets.AsyncClient)
    assert set(sync) == set(both)
    assert {"submit", "get", "wait", "generate", "download", "reconcile", "estimate"} <= set(sync)
    assert {"balance", "close", "auto", "check_budget"} <= set(sync)
    for name in sync:
        assert shape(sync[name]) == shape(both[name]), name
        assert inspect.iscoroutinefunction(both[name]) == (name not in ("auto", "check_budget")), (
            name
        )
    assert shape(gen3widgets.Client.__init__) == shape(gen3widgets.AsyncClient.__init__)
    # The context-manager twins.
    assert hasattr(gen3widgets.Client, "__enter__") and hasattr(gen3widgets.Client, "__exit__")
    assert hasattr(gen3widgets.AsyncClient, "__aenter__")
    assert hasattr(gen3widgets.AsyncClient, "__aexit__")
    sync_props = {n for n in dir(gen3widgets.Client) if not n.startswith("_")} - set(sync)
    async_props = {n for n in dir(gen3widgets.AsyncClient) if not n.startswith("_")} - set(both)
    assert sync_props == async_props


def twin_problems(owner: str, wait: Any, wait_async: Any) -> list[str]:
    """What is wrong with a ``wait`` / ``wait_async`` pair (nothing, for a good pair)."""
    if wait_async is None:
        return [f"{owner} has wait() but no wait_async()"]
    problems = []
    if not inspect.iscoroutinefunction(wait_async) or inspect.iscoroutinefunction(wait):
        problems.append(f"{owner}: wait_async must be the coroutine, wait the blocking call")
    if shape(wait) != shape(wait_async):
        problems.append(f"{owner}: wait{shape(wait)} != wait_async{shape(wait_async)}")
    return problems


def _waiting_twins() -> Iterator[tuple[str, Any, Any]]:
    for name, cls in exported_classes():
        methods = public_methods(cls)
        if "wait" in methods and cls not in (gen3widgets.Client, gen3widgets.AsyncClient):
            yield name, methods["wait"], methods.get("wait_async")
    yield "wait_all", gen3widgets.wait_all, gen3widgets.wait_all_async


def test_every_wait_has_an_async_twin_with_the_same_parameters() -> None:
    twins = list(_waiting_twins())
    assert {"GenerationPanel", "SeedGrid", "Sequence", "Job", "wait_all"} <= {
        name for name, _, _ in twins
    }
    assert [p for twin in twins for p in twin_problems(*twin)] == []


def test_the_twin_check_catches_a_missing_or_different_wait_async() -> None:
    class Lopsided:
        def wait(self, timeout: float | None = None) -> None: ...

    class Drifted:
        def wait(self, timeout: float | None = None) -> None: ...

        async def wait_async(self, deadline: float | None = None) -> None: ...

    lopsided, drifted = public_methods(Lopsided), public_methods(Drifted)
    assert twin_problems("Lopsided", lopsided["wait"], lopsided.get("wait_async")) == [
        "Lopsided has wait() but no wait_async()"
    ]
    assert len(twin_problems("Drifted", drifted["wait"], drifted["wait_async"])) == 1


# -- constructors --------------------------------------------------------------------------


def _constructors() -> Iterator[tuple[str, Callable[..., Any]]]:
    for name, cls in exported_classes():
        if issubclass(cls, BaseException) or "__init__" not in vars(cls):
            continue
        yield name, cls.__init__
    yield "Client.auto", gen3widgets.Client.auto
    yield "AsyncClient.auto", gen3widgets.AsyncClient.auto


def test_constructors_list_their_parameters_and_hide_test_hooks() -> None:
    checked = []
    for name, function in _constructors():
        parameters = inspect.signature(function).parameters.values()
        kinds = {p.kind for p in parameters}
        assert inspect.Parameter.VAR_KEYWORD not in kinds, f"{name} takes **kwargs"
        assert inspect.Parameter.VAR_POSITIONAL not in kinds, f"{name} takes *args"
        hidden = [p.name for p in parameters if p.name.startswith("_")]
        assert hidden == [], f"{name} shows test hooks {hidden}"
        checked.append(name)
    assert {"Client", "AsyncClient", "GenerationPanel", "SeedGrid", "Sequence", "JobRunner"} <= set(
        checked
    )
    client = set(inspect.signature(gen3widgets.Client).parameters)
    assert {"endpoint", "budget_usd", "reconcile_timeout", "history", "transport"} <= client
    assert set(inspect.signature(gen3widgets.Client.auto).parameters) == client


def test_the_models_are_listed_with_their_rules() -> None:
    assert list(gen3widgets.MODELS) == ["gen3a_turbo", "runway/gen4_turbo"]
    turbo, gen4 = gen3widgets.MODELS.values()
    assert isinstance(turbo, gen3widgets.VideoModel)
    assert turbo.ratios == ("16:9", "9:16") and turbo.successor == "runway/gen4_turbo"
    assert "21:9" in gen4.ratios and gen4.sizes["21:9"] == (1584, 672)


# -- import cost -------------------------------------------------------------------------------


def test_import_is_light() -> None:
    code = (
        "import sys, gen3widgets; "
        "heavy = [m for m in ('httpx', 'ipywidgets', 'PIL', 'starlette', 'av', 'numpy', "
        "'sqlite3', 'IPython') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_submodule_is_a_module_and_not_an_export() -> None:
    import gen3widgets.magics

    assert isinstance(gen3widgets.magics, types.ModuleType)
    assert "magics" not in gen3widgets.__all__

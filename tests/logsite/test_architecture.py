"""Packages depend one way (docs/architecture.md):

    logsite (project shell) <- access <- retrieval (search core) <- doors <- explorer
                                                  ^      ^   ^        ^
                                                  |      |   intake <-+-- api
                                                  |      +------------------/
                                                  archive <- metrics (also doors, api, explorer) <- alerts

- `retrieval`, the search core, imports no door, no intake and no archive;
- `doors` (the door helper, the DRF base view, throttles, capacity) serves every front door;
- `explorer` (pages, exports, admin) and `api` (the JSON API) are doors; `api` also sends to `intake`;
- `intake` (bodies, ingest, OTLP) uses the DRF base view of `doors` and no other door;
- `archive` plugs into the core (LOG_SOURCES, `retrieval.hooks`) and imports no door or intake;
- `metrics` (extraction hook, store, its API door, the chart page) sits on the archive; only `alerts` imports it (the
  explorer's row template loads its `metric_tags` by name, a template library, not an import);
- `alerts` (rules, the evaluation tick, notifications, its page and API) sits on `metrics`; nothing imports it;
- `devservices` is for development only (tests, benches, scripts).

Read from the source (every import statement, also those inside functions), so a
forbidden import fails here even on a path no other test runs.
"""

import ast
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
APPS = {"logsite", "access", "retrieval", "doors", "intake", "explorer", "api", "archive", "metrics", "alerts"}
# package -> the project packages it may import (besides itself)
ALLOWED = {
    "logsite": set(),
    "access": {"logsite"},
    "retrieval": {"logsite", "access"},
    "doors": {"logsite", "access", "retrieval"},
    "intake": {"logsite", "access", "retrieval", "doors"},
    "explorer": {"logsite", "access", "retrieval", "doors"},
    "api": {"logsite", "access", "retrieval", "doors", "intake"},
    "archive": {"logsite", "access", "retrieval"},
    "metrics": {"logsite", "access", "retrieval", "doors", "api", "archive", "explorer"},
    "alerts": {"logsite", "access", "retrieval", "doors", "api", "metrics"},
}
# package -> the project packages it must not import
FORBIDDEN = {package: (APPS | {"devservices"}) - allowed - {package} for package, allowed in ALLOWED.items()}


def imported_packages(path: Path) -> set[tuple[int, str]]:
    """(line, top-level package) of every absolute import in the file at `path`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {(node.lineno, alias.name.split(".")[0]) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.lineno, node.module.split(".")[0]))
    return found


def violations(package: str, forbidden: set[str]) -> list[str]:
    return sorted(
        f"{path.relative_to(BASE_DIR)}:{line} imports {name}"
        for path in (BASE_DIR / package).rglob("*.py")
        for line, name in imported_packages(path)
        if name in forbidden
    )


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_only_the_packages_below_it(package):
    assert violations(package, FORBIDDEN[package]) == []


def test_the_check_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("def ready():\n    from archive import metrics\n    import retrieval.models\n")
    assert imported_packages(module) == {(2, "archive"), (3, "retrieval")}


def test_every_runtime_package_is_in_the_graph():
    """A new top-level package states what it may import here (tests, benches and devservices are not runtime)."""
    packages = {path.parent.name for path in BASE_DIR.glob("*/__init__.py")}
    assert packages - {"tests", "bench", "devservices"} == APPS == set(ALLOWED)


def test_every_log_source_satisfies_the_protocol(settings):
    """Each class of LOG_SOURCES has what the planner asks of a source (`retrieval.sources.LogSource`)."""
    from django.utils.module_loading import import_string

    from retrieval.sources import LogSource, _instantiate

    for path in settings.LOG_SOURCES:
        source = import_string(path)()
        assert isinstance(source, LogSource), path
        assert callable(source.fetch) and callable(source.volume) and callable(source.id_holders), path
        assert isinstance(source.name, str) and source.name, path
    assert [source.name for source in _instantiate(tuple(settings.LOG_SOURCES))] == ["hot", "cold"]


def test_a_class_that_is_not_a_log_source_is_refused(settings):
    from django.core.exceptions import ImproperlyConfigured

    from retrieval.sources import _instantiate

    with pytest.raises(ImproperlyConfigured, match="logsite.routers.LogsRouter"):
        _instantiate(("retrieval.sources.HotSource", "logsite.routers.LogsRouter"))

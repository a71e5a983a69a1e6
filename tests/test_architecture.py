"""Packages depend one way: logsite (project shell) <- access <- retrieval <- archive <- metrics; devservices is for
development only.

Read from the source (every import statement, also those inside functions), so a
forbidden import fails here even on a path no other test runs.
"""

import ast
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
# package -> the project packages it must not import
FORBIDDEN = {
    "logsite": {"access", "retrieval", "archive", "metrics", "devservices"},
    "access": {"retrieval", "archive", "metrics", "devservices"},
    "retrieval": {"archive", "metrics", "devservices"},
    "archive": {"metrics", "devservices"},
    "metrics": {"devservices"},
}


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

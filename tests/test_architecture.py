"""The boundaries between the packages, checked on the source: who may import whom."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def imported_modules(folder: str) -> dict[str, set[str]]:
    """Every module imported by each .py file under ``folder`` (migrations left out)."""
    found = {}
    for path in (REPO / folder).rglob("*.py"):
        if "migrations" in path.parts:
            continue
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[str(path.relative_to(REPO))] = names
    return found


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("accounts", "recommender"),  # identity and preferences only: the recommender imports accounts, not the other way
        ("recommender/engine", "django"),  # numpy in, numpy out: runs on data sets, GPUs and workers alike
        ("recommender/sources", "django"),  # outside sources yield exchange-format records
    ],
)
def test_a_package_does_not_import_what_it_must_not(folder, forbidden):
    offenders = {
        file: sorted(n for n in names if n == forbidden or n.startswith(f"{forbidden}."))
        for file, names in imported_modules(folder).items()
    }
    assert {file: names for file, names in offenders.items() if names} == {}

"""Architecture guard: layers point inward (see docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "optin"

FORBIDDEN = {
    "domain": (
        "sqlalchemy",
        "fastapi",
        "dask",
        "optin.storage",
        "optin.services",
        "optin.pipeline",
        "optin.web",
        "optin.cli",
        "optin.privacy",
        "typer",
        "pyarrow",
    ),
    "privacy": (
        "sqlalchemy",
        "fastapi",
        "dask",
        "optin.storage",
        "optin.services",
        "optin.pipeline",
        "optin.web",
        "optin.cli",
    ),
    "privacy/detect": ("optin.privacy.anonymize",),
    "privacy/anonymize": ("optin.privacy.detect",),
    "storage": ("fastapi", "optin.web", "optin.cli", "optin.pipeline"),
    "pipeline": ("fastapi", "optin.web", "optin.cli"),
    "services": ("fastapi", "optin.web", "optin.cli"),
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def clock_calls(path: Path) -> list[int]:
    tree = ast.parse(path.read_text("utf-8"))
    bad = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in {"now", "utcnow", "today", "time"}
            and isinstance(node.value, ast.Name)
            and node.value.id in {"datetime", "date", "time"}
        ):
            bad.append(node.lineno)
    return bad


CASES = [(layer, p) for layer in FORBIDDEN for p in sorted((SRC / layer).rglob("*.py"))]


@pytest.mark.parametrize(
    ("layer", "path"), CASES, ids=[f"{c[0]}:{c[1].relative_to(SRC)}" for c in CASES]
)
def test_layer_imports_point_inward(layer: str, path: Path) -> None:
    mods = imported_modules(path)
    for forbidden in FORBIDDEN[layer]:
        hits = [m for m in mods if m == forbidden or m.startswith(forbidden + ".")]
        assert not hits, f"{path.relative_to(SRC)} ({layer}) imports {hits}"


@pytest.mark.parametrize(
    "path", sorted((SRC / "domain").rglob("*.py")), ids=lambda p: str(p.relative_to(SRC))
)
def test_domain_never_reads_the_clock(path: Path) -> None:
    assert clock_calls(path) == [], f"{path.name} reads the clock; pass time in"


def test_errors_all_is_complete() -> None:
    import optin.errors as errors

    public = {
        n
        for n, v in vars(errors).items()
        if isinstance(v, type) and issubclass(v, Exception) and v.__module__ == errors.__name__
    }
    assert public <= set(errors.__all__)

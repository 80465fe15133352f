"""Architecture guard: layers point inward (see docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "optin"

# Each layer and what it may never import. docs/architecture.md carries the same table
# (test_architecture_doc_matches_rules holds the two together).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "domain": (
        "sqlalchemy",
        "fastapi",
        "dask",
        "typer",
        "pyarrow",
        "optin.privacy",
        "optin.demo",
        "optin.storage",
        "optin.pipeline",
        "optin.services",
        "optin.web",
        "optin.cli",
    ),
    "privacy": (
        "sqlalchemy",
        "fastapi",
        "dask",
        "optin.storage",
        "optin.pipeline",
        "optin.services",
        "optin.web",
        "optin.cli",
    ),
    "privacy/detect": ("optin.privacy.anonymize",),
    "privacy/anonymize": ("optin.privacy.detect",),
    "demo": (
        "sqlalchemy",
        "fastapi",
        "dask",
        "optin.storage",
        "optin.pipeline",
        "optin.services",
        "optin.web",
        "optin.cli",
    ),
    "storage": ("fastapi", "optin.pipeline", "optin.services", "optin.web", "optin.cli"),
    "pipeline": (
        "sqlalchemy",
        "fastapi",
        "optin.storage",
        "optin.services",
        "optin.web",
        "optin.cli",
    ),
    "training": (
        "sqlalchemy",
        "fastapi",
        "dask",
        "optin.storage",
        "optin.pipeline",
        "optin.services",
        "optin.web",
        "optin.cli",
    ),
    "services": ("fastapi", "optin.web", "optin.cli"),
    "web": ("sqlalchemy", "optin.storage", "optin.cli"),
    "cli": ("sqlalchemy", "optin.storage"),
}

# Services that still import SQLAlchemy, and why. This list only shrinks.
SERVICES_USING_SQLALCHEMY: dict[str, str] = {}


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


def test_services_keep_sql_in_storage() -> None:
    users = sorted(
        str(p.relative_to(SRC / "services"))
        for p in (SRC / "services").rglob("*.py")
        if any(m == "sqlalchemy" or m.startswith("sqlalchemy.") for m in imported_modules(p))
    )
    assert users == sorted(SERVICES_USING_SQLALCHEMY), (
        "services importing sqlalchemy must be listed with a reason "
        "(and should move their queries to storage/)"
    )


def _doc_rules() -> dict[str, tuple[str, ...]]:
    """The layer table of docs/architecture.md, parsed."""
    text = (SRC.parents[1] / "docs" / "architecture.md").read_text("utf-8")
    start = text.index("<!-- layer-rules -->")
    end = text.index("<!-- /layer-rules -->")
    rules: dict[str, tuple[str, ...]] = {}
    for line in text[start:end].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or not cells[0].startswith("`"):
            continue
        layer = cells[0].strip("`")
        rules[layer] = tuple(x.strip().strip("`") for x in cells[1].split(","))
    return rules


def test_architecture_doc_matches_rules() -> None:
    doc = _doc_rules()
    assert {k: sorted(v) for k, v in doc.items()} == {k: sorted(v) for k, v in FORBIDDEN.items()}, (
        "docs/architecture.md's layer table and tests/test_layers.py's FORBIDDEN disagree"
    )


def _public_modules() -> list[Path]:
    return sorted(
        p
        for p in SRC.rglob("*.py")
        if "migrations" not in p.parts and "__all__" in p.read_text("utf-8")
    )


@pytest.mark.parametrize("path", _public_modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_public_all_is_complete(path: Path) -> None:
    """Every name in __all__ exists, and every public class or function the module
    defines itself is in __all__ (re-exports are the module's choice)."""
    import importlib

    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    module = importlib.import_module(".".join(parts))
    exported = set(module.__all__)
    missing = sorted(n for n in exported if not hasattr(module, n))
    assert not missing, f"{module.__name__}.__all__ names what does not exist: {missing}"
    tree = ast.parse(path.read_text("utf-8"))
    defined = {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and not node.name.startswith("_")
    }
    unlisted = sorted(defined - exported)
    assert not unlisted, (
        f"{module.__name__} defines public {unlisted} but leaves them out of __all__"
    )

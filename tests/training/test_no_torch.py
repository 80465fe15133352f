"""Without the ``train`` extra, optin still works and ``optin train`` says how to install
it. Absence is simulated in a subprocess (``sys.modules['torch'] = None`` makes every
``import torch`` fail), so this runs the same with or without torch installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BLOCK = "import sys; sys.modules['torch'] = None; "


def _optin(home: Path, *args: str, block: bool = True) -> subprocess.CompletedProcess[str]:
    code = (BLOCK if block else "") + (
        f"from optin.cli.main import run; sys.exit(run({['--home', str(home), *args]!r}))"
    )
    if not block:
        code = "import sys; " + code
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "COLUMNS": "200"},
    )


def test_train_without_torch_names_the_install_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    init = _optin(home, "init")
    assert init.returncode == 0, init.stderr
    r = _optin(home, "train", "latest")
    assert r.returncode == 69, (r.stdout, r.stderr)
    assert "torch" in r.stderr and "pip install 'optin[train]'" in r.stderr
    assert "Traceback" not in r.stderr
    # the registry works without torch
    r = _optin(home, "model", "list")
    assert r.returncode == 0 and "no models yet" in r.stdout
    r = _optin(home, "train", "update", "latest")
    assert r.returncode == 69 and "pip install 'optin[train]'" in r.stderr


def test_dev_py_installs_the_same_torch_the_train_extra_pins() -> None:
    import tomllib

    root = Path(__file__).resolve().parents[2]
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    pins = [d for d in extras["train"] if d.startswith("torch")]
    text = (root / "dev.py").read_text()
    assert pins == ["torch==2.13.0"] and f'TORCH_PIN = "{pins[0]}"' in text
    assert "optin[train]" in extras["dev"]

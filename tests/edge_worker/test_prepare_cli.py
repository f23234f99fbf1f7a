"""`edge-worker prepare` decides from the store alone: a complete, verified store needs nothing
(not even the preparation environment); a model whose files do not match is prepared again.

The store here is fake (a few bytes per model with real manifests); no model is built.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_worker import cli, manifest, model_store
from edge_worker.model_store import DEFAULT_GENERATOR_PRECISIONS, ModelTarget

ALL = model_store.targets(("generator", "embedder"), DEFAULT_GENERATOR_PRECISIONS)


def _fake_model(store: Path, target: ModelTarget) -> Path:
    directory = store / target.relative_dir
    directory.mkdir(parents=True)
    _write_model(directory, target)
    return directory


def _write_model(directory: Path, target: ModelTarget) -> None:
    (directory / "model.onnx").write_bytes(f"{target}".encode() * 10)
    (directory / "tokenizer.json").write_text("{}", encoding="utf-8")
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
        ),
    )


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
    (complete_store / "smollm2-135m-instruct" / "fp32" / manifest.MANIFEST_NAME).unlink()
    assert _prepare(complete_store) == 1
    err = capsys.readouterr().err
    assert "smollm2-135m-instruct/fp32" in err and "no manifest" in err
    assert "no preparation environment at /nonexistent/.venv-prepare/bin/python" in err


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

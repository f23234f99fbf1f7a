"""A benchmark that needs local models stops with one line naming what is missing and how to
prepare it, when the model store does not hold them."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_worker.model_store import ModelTarget
from loadtest.harness.models import EMBEDDER_MODEL, generator_model, require_models


def _exit_line(store: Path | None, *models: ModelTarget) -> str:
    with pytest.raises(SystemExit) as stopped:
        require_models("bench_x", store, models)
    message = str(stopped.value.code)
    assert "\n" not in message
    return message


def test_missing_embedder_in_the_default_store_says_make_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGE_WORKER_STORE", str(tmp_path))
    message = _exit_line(None, EMBEDDER_MODEL)
    assert message.startswith(f"bench_x needs all-minilm-l6-v2/int8 in the model store {tmp_path}")
    assert "not prepared" in message
    assert "`make models`" in message


def test_missing_build_outside_the_defaults_says_which_to_prepare(tmp_path: Path) -> None:
    message = _exit_line(tmp_path, generator_model("fp32"), generator_model("int4"))
    assert "smollm2-135m-instruct/fp32, smollm2-135m-instruct/int4" in message
    assert f"`make prepare PREPARE_ARGS='--store {tmp_path} --precision fp32,int4'`" in message

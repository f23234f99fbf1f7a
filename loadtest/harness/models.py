"""The local models a benchmark needs, checked in the model store before it starts: a bench run on
a machine without them stops with one line saying what to prepare, not a traceback from deep in
onnxruntime (or, for a bench that starts a router, from its log)."""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from edge_worker.model_store import (
    DEFAULT_GENERATOR_PRECISIONS,
    EMBEDDER,
    EMBEDDER_PRECISION,
    GENERATOR,
    ModelTarget,
    problems,
    resolve_store,
)

EMBEDDER_MODEL: Final = ModelTarget(EMBEDDER, "embedder", EMBEDDER_PRECISION)


def generator_model(precision: str) -> ModelTarget:
    return ModelTarget(GENERATOR, "generator", precision)


def require_models(bench: str, store: Path | None, models: Sequence[ModelTarget]) -> Path:
    """The model store (`--store`, else EDGE_WORKER_STORE, else the default) when it holds every
    model of `models`, complete and verified; otherwise exit with one line naming what is missing
    and the command that prepares it."""
    resolved = resolve_store(store, os.environ)
    found = [(model, problems(resolved, model)) for model in models]
    missing = [model for model, why in found if why]
    if not missing:
        return resolved
    first_problem = next(why[0] for _, why in found if why)
    names = ", ".join(str(model) for model in missing)
    raise SystemExit(
        f"{bench} needs {names} in the model store {resolved} ({first_problem}): "
        f"prepare with {_prepare_command(store, missing)}, or pass --store DIR"
    )


def _prepare_command(store: Path | None, missing: Sequence[ModelTarget]) -> str:
    """`make models` for the default builds in the default store, else `make prepare` with the
    store and the generator builds to add."""
    arguments = [] if store is None else ["--store", str(store)]
    precisions = [model.precision for model in missing if model.kind == "generator"]
    if not set(precisions) <= set(DEFAULT_GENERATOR_PRECISIONS):
        arguments += ["--precision", ",".join(precisions)]
    if not arguments:
        return "`make models`"
    return f"`make prepare PREPARE_ARGS='{shlex.join(arguments)}'`"

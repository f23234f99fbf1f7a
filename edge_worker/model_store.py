"""The local model store: where prepared models live, which models there are, and how a model
enters the store without ever looking complete before it is.

Layout: `<store>/<model name>/<precision>/` holds one prepared model and its `manifest.json`.
A model is built in `<store>/.staging/` (the same file system), its manifest is written last,
and the finished directory is renamed into place: an interrupted run leaves only staging
debris, which the next run removes, never a half model with a manifest.

The store defaults to the user's cache directory; `--store` or `EDGE_WORKER_STORE` moves it.
The preparation environment of an installed package lives beside it (`edge_worker.prepare_env`).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import platformdirs

from edge_worker import manifest

STORE_ENV = "EDGE_WORKER_STORE"
STAGING_DIR = ".staging"
LOCK_FILE = ".prepare.lock"

GENERATOR = "smollm2-135m-instruct"
EMBEDDER = "all-minilm-l6-v2"

ModelKind = Literal["generator", "embedder"]

# The onnxruntime-genai model builder's arguments for each generator precision (read from its
# argument parser in onnxruntime_genai/models/builder.py, 0.18). int4 with k_quant_mixed (k-quant
# int4 body, int8 for lm_head and the most sensitive layers) is the one that answers well: the
# default int4 rambles after the right answer and the default int8 got a simple fact wrong.
GENERATOR_PRECISIONS: Mapping[str, tuple[str, ...]] = {
    "int4-kquant-mixed": ("-p", "int4", "--extra_options", "algo_config=k_quant_mixed"),
    "int4": ("-p", "int4"),
    "int8": ("-p", "int8"),
    "fp32": ("-p", "fp32"),
}
# Only the served build by default. fp32 (519 MB, four times the served build) is never served:
# it is the reference loadtest/studies/generator_precision.py measures the quantised builds
# against, built on request (`--precision int4-kquant-mixed,fp32`).
DEFAULT_GENERATOR_PRECISIONS: tuple[str, ...] = ("int4-kquant-mixed",)
EMBEDDER_PRECISION = "int8"
# How the embedder is built (edge_worker/prepare_steps.py, `embedder_files`), recorded in its
# manifest: exported from fp32, its products quantised to 8 bits in blocks by onnxruntime.
EMBEDDER_BUILD = ("export=torch.onnx", "opset=17", "MatMulNBits", "bits=8", "block=32",
                  "symmetric", "accuracy_level=4")  # fmt: skip
# What a prepared model's manifest must show beyond its files matching: the files listed besides
# the model and tokenizer, and the build recipe. A store prepared before either changed is
# prepared again (`make models`), never served as it was.
REQUIRED_FILES: Mapping[ModelKind, tuple[str, ...]] = {"embedder": ("static.npy",)}
REQUIRED_BUILD: Mapping[ModelKind, tuple[str, ...]] = {"embedder": EMBEDDER_BUILD}


@dataclass(frozen=True)
class ModelTarget:
    """One prepared model: a model at one precision."""

    name: str
    kind: ModelKind
    precision: str

    @property
    def relative_dir(self) -> Path:
        return Path(self.name) / self.precision

    def __str__(self) -> str:
        return f"{self.name}/{self.precision}"


def targets(
    kinds: tuple[ModelKind, ...], generator_precisions: tuple[str, ...]
) -> list[ModelTarget]:
    unknown = [p for p in generator_precisions if p not in GENERATOR_PRECISIONS]
    if unknown:
        raise ValueError(
            f"unknown generator precision {', '.join(unknown)}; "
            f"choose from {', '.join(GENERATOR_PRECISIONS)}"
        )
    chosen: list[ModelTarget] = []
    if "generator" in kinds:
        chosen += [ModelTarget(GENERATOR, "generator", p) for p in generator_precisions]
    if "embedder" in kinds:
        chosen.append(ModelTarget(EMBEDDER, "embedder", EMBEDDER_PRECISION))
    return chosen


def cache_dir() -> Path:
    """The user's cache directory for this project (e.g. ~/.cache/edge-router)."""
    return Path(platformdirs.user_cache_dir("edge-router"))


def default_store() -> Path:
    return cache_dir() / "models"


def resolve_store(explicit: Path | None, environ: Mapping[str, str]) -> Path:
    """`--store`, else `EDGE_WORKER_STORE`, else the user's cache directory."""
    if explicit is not None:
        return explicit
    configured = environ.get(STORE_ENV)
    return Path(configured) if configured else default_store()


def problems(store: Path, target: ModelTarget) -> list[str]:
    """Why `target` is not a complete, verified model in the store; empty when it is."""
    directory = store / target.relative_dir
    if not directory.is_dir():
        return [f"{directory}: not prepared"]
    try:
        loaded = manifest.load(directory)
    except manifest.ManifestError as error:
        return [str(error)]
    found: list[str] = []
    if (loaded.name, loaded.precision) != (target.name, target.precision):
        found.append(f"{directory}: the manifest describes {loaded.name}/{loaded.precision}")
    found += [f"{directory}/{problem}" for problem in manifest.verify(directory, loaded)]
    listed = {f.path for f in loaded.files}
    found += [
        f"{directory}/{name}: not prepared (the store predates it)"
        for name in REQUIRED_FILES.get(target.kind, ())
        if name not in listed
    ]
    recipe = REQUIRED_BUILD.get(target.kind)
    built_with = loaded.build.arguments if loaded.build is not None else ()
    if recipe is not None and tuple(built_with) != recipe:
        found.append(f"{directory}: built by another recipe ({' '.join(built_with) or 'none'})")
    return found


@contextmanager
def locked(store: Path, on_wait: Callable[[str], None]) -> Iterator[None]:
    """Holds the store's prepare lock: one preparation at a time, others wait their turn."""
    store.mkdir(parents=True, exist_ok=True)
    with (store / LOCK_FILE).open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(f"waiting for another edge-worker prepare on {store}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def clear_staging(store: Path) -> None:
    """Removes what an interrupted run left behind. Call only while holding the lock."""
    shutil.rmtree(store / STAGING_DIR, ignore_errors=True)


def staging_dir(store: Path, label: str) -> Path:
    """A fresh directory inside the store (so the final rename stays on one file system)."""
    root = store / STAGING_DIR
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{label}-", dir=root))


def install(store: Path, target: ModelTarget, built: Path) -> Path:
    """Moves a finished model directory (with its manifest) into place, replacing any old one."""
    final = store / target.relative_dir
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        # Out of the way first: a rename over a non-empty directory fails.
        discarded = staging_dir(store, "discarded")
        os.rename(final, discarded / "model")
        shutil.rmtree(discarded, ignore_errors=True)
    built.chmod(0o755)  # mkdtemp made it private; a model is as readable as its store
    os.rename(built, final)
    return final
